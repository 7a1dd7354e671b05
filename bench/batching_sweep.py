"""Batching (issue 18, item 4): prefill tokens/s against prompt length for B = 1, 4, 8, 16, and aggregate decode
tokens/s against the number of concurrent requests, each against the memory roofline and the engine's compute
limit; derived for a whole model, measured on the whole simulated Device for the points it can run.

    python bench/batching_sweep.py [--model 370M-bytes] [--layers N] [--lanes 64] [--vector-width 4]
                                   [--clock-mhz 75] [--measure-device B ...] [--out bench/results/batching_sweep.txt]

Derived: assembler.throughput.batch_cycles (the ISS cost model of the build: engine L, V, prefetch buffer behind
sim.memory_model's ULX3S-like SDRAM, 2 B/cycle with refresh; the programs run data-free as the host drives them).
- prefill: a P-token prompt to its first token; B = 1 one token a weight pass, B > 1 ceil(P / B) passes.
- decode: a step of a B-slot device computes every slot, busy or not, so with n concurrent requests it gives
  min(n, B) tokens a step: aggregate tokens/s = min(n, B) x clock / step cycles; more requests than slots wait.
- memory roofline of a decode step: B x bandwidth / the step's bytes (the weights once, each slot's own reads);
  compute limit: B x clock / the engine's busy cycles a step (the engine takes the B slots one after another:
  B x ceil(cols / L) cycles a row). A step is bounded by the lower of the two.
Measured (--measure-device B ...): bench/batching.py's measure_device (the fast harness, every token the golden
model's) at prompt lengths MEASURED_PROMPTS and a decode step, against the derived cycles of the same runs.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from assembler.batch_compiler import compile_batched  # noqa: E402
from assembler.compiler import compile_model  # noqa: E402
from assembler.throughput import batch_cycles  # noqa: E402
from golden.image import image_layout  # noqa: E402
from sim.memory_model import BENCH_MEMORIES  # noqa: E402

from batching import FORMAT, MEMORY, config_for, cost_for, measure_device  # noqa: E402

BATCHES = (1, 4, 8, 16)
PROMPTS = (1, 4, 8, 16, 64, 256)
REQUESTS = (1, 2, 4, 8, 16)
MEASURED_PROMPTS = (1, 8, 64)


def derived(config, batch: int, prompt: int, *, lanes: int, vector_width: int):
    info = image_layout(config, FORMAT)
    compiled = compile_batched(info, batch) if batch > 1 else compile_model(info, states_in_memory=True)
    accelerator, cost = cost_for(config, compiled, lanes=lanes, vector_width=vector_width, batch=batch)
    return batch_cycles(info, batch, cost, prompt=prompt, vmem_words=accelerator.vmem_words, vector_width=vector_width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="370M-bytes", help="a model directory, a preset, or 370M-bytes")
    parser.add_argument("--layers", type=int, help="the model with this many of its layers")
    parser.add_argument("--lanes", type=int, default=64)
    parser.add_argument("--vector-width", type=int, default=4)
    parser.add_argument("--clock-mhz", type=float, default=75.0)
    parser.add_argument("--measure-device", type=int, nargs="*", default=None, metavar="B")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    config = config_for(args.model, args.layers)
    clock = args.clock_mhz * 1e6
    memory = BENCH_MEMORIES[MEMORY]
    options = dict(lanes=args.lanes, vector_width=args.vector_width)
    lines = [f"# bench/batching_sweep.py --model {args.model}" + (f" --layers {args.layers}" if args.layers else "")
             + f" --lanes {args.lanes} --vector-width {args.vector_width} --clock-mhz {args.clock_mhz:g}"
             + (f" --measure-device {' '.join(map(str, args.measure_device))}" if args.measure_device else ""),
             f"# system: {MEMORY} ({memory.bytes_per_cycle:.3f} B/cycle with refresh, latency {memory.latency}), engine "
             f"L {args.lanes}, V {args.vector_width}, 2-bit weights; model hidden {config.hidden_size}, "
             f"{config.num_hidden_layers} layers, vocab {config.vocab_size}; tokens/s at {args.clock_mhz:g} MHz", ""]

    lines.append("Prefill tokens/s (derived) against prompt length; in brackets: x B = 1")
    lines.append(f"  {'prompt':>6} " + " ".join(f"{f'B {b}':>20}" for b in BATCHES))
    for prompt in PROMPTS:
        runs = [derived(config, b, prompt, **options) for b in BATCHES]
        cells = [f"{r.prefill_tokens_per_s(clock):10.1f} ({runs[0].prefill / r.prefill:5.2f}x)" for r in runs]
        lines.append(f"  {prompt:>6} " + " ".join(f"{c:>20}" for c in cells))
    lines.append("")

    steps = {b: derived(config, b, 1, **options) for b in BATCHES}
    lines.append("Aggregate decode tokens/s (derived) against concurrent requests n, on a device of B slots")
    lines.append(f"  {'n':>6} " + " ".join(f"{f'B {b}':>12}" for b in BATCHES))
    for n in REQUESTS:
        lines.append(f"  {n:>6} " + " ".join(f"{min(n, b) * clock / steps[b].decode:>12.1f}" for b in BATCHES))
    lines.append(f"  {'step':>6} " + " ".join(f"{steps[b].decode:>12,}" for b in BATCHES) + "   cycles a decode step")
    bandwidth = memory.bytes_per_cycle * clock
    lines.append(f"  {'memory':>6} " + " ".join(f"{b * bandwidth / steps[b].decode_bytes:>12.1f}" for b in BATCHES)
                 + "   roofline: B x bandwidth / bytes a step")
    lines.append(f"  {'engine':>6} " + " ".join(f"{b * clock / steps[b].decode_engine:>12.1f}" for b in BATCHES)
                 + "   compute limit: B x clock / engine cycles a step")
    lines.append("")

    if args.measure_device:
        lines.append("Measured: the whole simulated Device over its link (sim/fast; bench/batching.py measure_device), "
                     "against the derived cycles of the same runs")
        lines.append(f"  {'B':>3} {'run':>12} {'measured cycles':>16} {'derived':>14} {'diff':>8} {'tok/s':>9} {'x B=1':>7}")
        baseline = {}
        for batch in sorted(set(args.measure_device) | {1}):
            measured = measure_device(config, batch, prompts=MEASURED_PROMPTS, **options)
            for prompt in MEASURED_PROMPTS:
                cycles, estimate = measured["prefill"][prompt], derived(config, batch, prompt, **options).prefill
                baseline.setdefault(("prefill", prompt), cycles)
                lines.append(f"  {batch:>3} {f'prefill {prompt}':>12} {cycles:>16,} {estimate:>14,} "
                             f"{100 * (cycles / estimate - 1):>+7.2f}% {prompt * clock / cycles:>9.1f} "
                             f"{baseline[('prefill', prompt)] / cycles:>6.2f}x")
            cycles, estimate = measured["decode"], steps[batch].decode if batch in steps else \
                derived(config, batch, 1, **options).decode
            baseline.setdefault("decode", cycles)
            lines.append(f"  {batch:>3} {'decode step':>12} {cycles:>16,} {estimate:>14,} "
                         f"{100 * (cycles / estimate - 1):>+7.2f}% {batch * clock / cycles:>9.1f} "
                         f"{batch * baseline['decode'] / cycles:>6.2f}x   (all B slots busy)")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
