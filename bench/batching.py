"""Batched MATVEC (issue 18): prefill and decode throughput with B Q slots against one, on a memory-bound system.

    python bench/batching.py [--model models/stdlib-256] [--lanes 64] [--vector-width 1 4] [--clock-mhz 75]
                             [--measure B ...] [--out bench/results/batching.txt]

Derived: cycles from the ISS cost model (hw.accelerator.Accelerator.cost_model: the build's engine, V and
prefetch buffer behind sim.memory_model's ULX3S-like SDRAM, 2 B/cycle with its refresh), run data-free on the
programs as a host drives them:
- prefill of a PROMPT-token prompt: B = 1 is the single-request program (assembler.compiler, the states in
  external memory), one token a weight pass, to its first generated token; B > 1 is the batched program
  (assembler.batch_compiler), ceil(PROMPT / B) prefill steps of B tokens, each one weight pass, to the same token.
- decode: one step of the single-request program (assembler.iss.decode_step_counters) against one batched decode
  step, which generates B tokens (B requests): aggregate tokens/s = B x the single step's cycles / the batched's.
The engine applies each weight beat to the B slots on successive cycles (hw.ternary_engine), so a step is
memory-bound while B x ceil(cols / L) cycles a row stay below the row's bytes / bandwidth: at L 64 on 2 B/cycle
(16 bytes, 8 cycles a 64-trit beat) up to B = 8.

Measured (--measure B ...): the end-to-end testbench of the batched program (sim/accelerator/tb_batch.py, the
tiny model at batch B on this system, L 64, V 1; every token and state bit-exact) in cocotb/Verilator: per-step
cycles against the same cost model, which is what calibrates the derived figures.

Models: the shipped stdlib-256 (hidden 256) and the 370M's layer shapes (hidden 1024, mlp 2816) with a byte
vocabulary (`--model 370M-bytes`: the batched program keeps every slot's logits in VMEM, so the 370M's own
32,000-token head is refused by assembler.batch_compiler). What one weight pass cannot share is each slot's
own memory traffic: every QUANT / RMSNORM reads its norm weights again, VSTORE writes a slot's states a byte a
cycle, VLOAD reads them (and the forget-gate floors) per slot; it weighs against the weights as hidden_size
against hidden_size squared, so the small model gains less.
"""

import argparse
import dataclasses
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assembler.batch_compiler import compile_batched  # noqa: E402
from assembler.compiler import compile_model  # noqa: E402
from assembler.throughput import batch_cycles  # noqa: E402
from golden.config import HGRNBitConfig, preset  # noqa: E402
from golden.image import image_layout  # noqa: E402
from golden.packing import TritFormat  # noqa: E402
from hw.accelerator import Accelerator  # noqa: E402
from sim.memory_model import BENCH_MEMORIES  # noqa: E402

PROMPT = 64
BATCHES = (1, 4, 8)
MEMORY = "sdram"
FORMAT = TritFormat.TRITS_2BIT


def cost_for(config, compiled, *, lanes: int, vector_width: int, batch: int):
    memory = BENCH_MEMORIES[MEMORY]
    accelerator = Accelerator.for_model(config, program_instructions=len(compiled.program.instructions),
                                        vmem_words=compiled.program.vmem_words, lanes=lanes, trit_format=FORMAT,
                                        mem_bytes=memory.mem_bytes, vector_width=vector_width, batch=batch)
    return accelerator, accelerator.cost_model(bytes_per_cycle=memory.bytes_per_cycle, memory_latency=memory.latency,
                                               write_cycles=memory.write_cycles)


def derived(config, batch: int, *, lanes: int, vector_width: int) -> dict:
    """The program of batch B (1: the single-request one) on such a build: assembler.throughput.batch_cycles."""
    info = image_layout(config, FORMAT)
    compiled = compile_batched(info, batch) if batch > 1 else compile_model(info, states_in_memory=True)
    accelerator, cost = cost_for(config, compiled, lanes=lanes, vector_width=vector_width, batch=batch)
    run = batch_cycles(info, batch, cost, prompt=PROMPT, vmem_words=accelerator.vmem_words, vector_width=vector_width)
    return {"prefill": run.prefill, "decode": run.decode, "decode_bytes": run.decode_bytes}


def measure(batches) -> list[dict]:
    from sim.accelerator.harness import run_batched
    results = []
    for batch in batches:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "results.json"
            run_batched(preset("tiny"), seed=3, batch=batch, trit_format=FORMAT, memory=MEMORY, lanes=64,
                        vector_width=1, build_name=f"accelerator_tiny_TRITS_2BIT_{MEMORY}_L64_V1_B{batch}",  # as the test's
                        env={"RESULTS_FILE": str(path), "HOST_RATE": "1.0", "DECODE_STEPS": "1"})
            results.append(json.loads(path.read_text()))
    return results


def config_for(model: str, layers: int | None = None) -> HGRNBitConfig:
    """--model: a model directory (its config.json), a preset, or 370M-bytes (the 370M's layers, a byte
    vocabulary); `layers`: that many of its layers."""
    if model == "370M-bytes":
        config = dataclasses.replace(preset("370M"), vocab_size=256, bos_token_id=None, eos_token_id=None)
    else:
        path = Path(model)
        config = HGRNBitConfig.from_json_file(path / "config.json") if path.is_dir() else preset(model)
    return dataclasses.replace(config, num_hidden_layers=layers) if layers else config


def measure_device(config, batch: int, *, lanes: int, vector_width: int, seed: int = 0,
                   prompts: tuple[int, ...] = (PROMPT,)) -> dict:
    """Measured: the whole simulated Device (hw.device.Device in the fast Verilator harness, sim/fast: link,
    controller, engine, the SDRAM model) at batch B, driven over its link as `mmfree serve` drives it (host.run.load,
    host.batched). Cycles from the device's own counters, host waits excluded. Every token is checked against the
    sequential golden model (golden.hwexact). B = 1 runs the single-request program with its states in external
    memory (as the derived column), B > 1 the batched program:
    - prefill: a P-token prompt to its first token, for each P of `prompts` (B = 1: one request; B > 1:
      ceil(P / B) prefill steps), {"prefill": {P: cycles}};
    - decode: B = 1, a 1-token request run to 2 tokens less the same request run to 1 (one decode step with
      the fed-back token); B > 1, one decode step of all B slots, each holding a 1-token request."""
    from golden.hwexact import HardwareExactModel
    from golden.image import image_bytes, parse_header
    from golden.quantize import quantize_model
    from golden.zoo import random_model
    from host.batched import BatchedSession
    from host.run import device_for, device_recipe, load
    from host.transport import SimTransport

    model = quantize_model(random_model(config, seed=seed))
    golden = HardwareExactModel(model)
    image = image_bytes(model, FORMAT)
    info = parse_header(image)
    compiled = compile_batched(info, batch) if batch > 1 else compile_model(info, states_in_memory=True)
    parameters = dict(lanes=lanes, memory=MEMORY, program_instructions=len(compiled.program.instructions),
                      vmem_words=compiled.program.vmem_words, vector_width=vector_width, batch=batch,
                      memory_bytes=compiled.memory_bytes)
    transport = SimTransport(device_for(info, **parameters), memory=MEMORY, recipe=device_recipe(info, **parameters),
                             log=lambda line: print(f"[sim] {line}", file=sys.stderr, flush=True))
    rng = np.random.default_rng(seed)
    requests = {length: [int(t) for t in rng.integers(0, config.vocab_size, size=length)] for length in prompts}
    prefill = {}
    singles = [[int(t)] for t in rng.integers(0, config.vocab_size, size=batch)]
    try:
        loaded = load(image, info, transport, compiled=compiled, timeout=3600)
        driver = loaded.driver

        def cycles() -> int:
            counters = driver.wait_for("WAITING", timeout=3600).counters
            return counters["cycles"] - counters["host_wait"]

        def request(tokens: list[int], generate: int) -> tuple[list[int], int]:
            before = cycles()
            produced = list(driver.generate(tokens, generate, token_timeout=3600))
            return produced, cycles() - before

        if batch == 1:
            for length, prompt in requests.items():
                first, prefill[length] = request(prompt, 1)
                assert first == golden.generate(prompt, 1)
            one, short = request(singles[0], 1)
            two, long = request(singles[0], 2)
            assert two == golden.generate(singles[0], 2) and one == two[:1]
            decode = long - short
        else:
            session = BatchedSession(driver, compiled, timeout=3600)
            for length, prompt in requests.items():
                before = cycles()
                session.admit(0, prompt, 1)
                prefill[length] = cycles() - before
                assert list(session.step().values()) == golden.generate(prompt, 1)
            for slot, single in enumerate(singles):
                session.admit(slot, single, 2)
            assert session.step() == {slot: golden.generate(single, 1)[0] for slot, single in enumerate(singles)}
            before = cycles()
            step = session.step()
            decode = cycles() - before
            assert step == {slot: golden.generate(single, 2)[1] for slot, single in enumerate(singles)}
    finally:
        transport.close()
    return {"prefill": prefill, "decode": decode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/stdlib-256", help="a model directory (its config.json) or a preset")
    parser.add_argument("--lanes", type=int, default=64)
    parser.add_argument("--vector-width", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--clock-mhz", type=float, default=75.0, help="for tokens/s (the ULX3S build's clock)")
    parser.add_argument("--measure", type=int, nargs="*", default=None, metavar="B",
                        help="also run the cocotb calibration at these batches (minutes each)")
    parser.add_argument("--measure-device", type=int, nargs="*", default=None, metavar="B",
                        help="also measure the whole simulated Device at these batches over its link (the fast "
                             "harness; 1 is the baseline), at the largest --vector-width")
    parser.add_argument("--layers", type=int, help="the model with this many of its layers (measured runs of the "
                        "370M's shapes: the ratio is per layer pass)")
    parser.add_argument("--out", type=Path, default=None, help="write the report here too")
    args = parser.parse_args()
    config = config_for(args.model, args.layers)
    memory = BENCH_MEMORIES[MEMORY]
    lines = [f"# bench/batching.py --model {args.model} --lanes {args.lanes} --vector-width "
             f"{' '.join(map(str, args.vector_width))} --clock-mhz {args.clock_mhz:g}"
             + (f" --layers {args.layers}" if args.layers else "")
             + (f" --measure {' '.join(map(str, args.measure))}" if args.measure else "")
             + (f" --measure-device {' '.join(map(str, args.measure_device))}" if args.measure_device else ""),
             f"# system: {MEMORY} ({memory.mem_bytes}-byte beats, {memory.bytes_per_cycle:.3f} B/cycle with refresh, "
             f"latency {memory.latency}), engine L {args.lanes}, 2-bit weights; model hidden {config.hidden_size}, "
             f"{config.num_hidden_layers} layers, vocab {config.vocab_size}; {PROMPT}-token prompt",
             "# derived: ISS cost model (hw.accelerator.Accelerator.cost_model), calibrated by the measured runs below",
             ""]
    for vector_width in args.vector_width:
        one = derived(config, 1, lanes=args.lanes, vector_width=vector_width)
        lines.append(f"V {vector_width}:")
        lines.append(f"  {'B':>2} {'prefill cycles':>15} {'prefill tok/s':>14} {'x B=1':>7}   {'decode step cycles':>18} "
                     f"{'decode tok/s (all B)':>20} {'x one':>6}")
        for batch in BATCHES:
            run = one if batch == 1 else derived(config, batch, lanes=args.lanes, vector_width=vector_width)
            prefill_rate = PROMPT * args.clock_mhz * 1e6 / run["prefill"]
            decode_rate = batch * args.clock_mhz * 1e6 / run["decode"]
            lines.append(f"  {batch:>2} {run['prefill']:>15,} {prefill_rate:>14.1f} {one['prefill'] / run['prefill']:>6.2f}x"
                         f"   {run['decode']:>18,} {decode_rate:>20.1f} {batch * one['decode'] / run['decode']:>5.2f}x"
                         f"   (derived)")
        lines.append("")
    if args.measure:
        lines.append("measured: sim/accelerator/tb_batch.py (cocotb/Verilator), the tiny model on the same system, "
                     "L 64, V 1; cycles per step, host waits excluded, against the ISS cost model")
        for result in measure(args.measure):
            kinds = {}
            for kind, rtl, iss in zip(result["steps"], result["step_cycles"], result["iss_step_cycles"]):
                kinds.setdefault(kind, []).append((rtl, iss))
            parts = [f"{kind} {sum(r for r, _ in v) / len(v):,.0f} measured / {sum(i for _, i in v) / len(v):,.0f} ISS "
                     f"({100 * (sum(r for r, _ in v) / sum(i for _, i in v) - 1):+.2f} %)" for kind, v in kinds.items()]
            lines.append(f"  B {result['batch']}: " + "; ".join(parts) + f"; whole run {result['cycles']:,} measured / "
                         f"{result['iss_cycles']:,} ISS ({100 * (result['cycles'] / result['iss_cycles'] - 1):+.2f} %)")
    if args.measure_device:
        vector_width = max(args.vector_width)
        lines.append(f"measured: the whole simulated Device over its link (sim/fast, Verilator), L {args.lanes}, "
                     f"V {vector_width}, this system and model; every token the golden model's; device counters, "
                     f"host waits excluded")
        lines.append(f"  {'B':>2} {'prefill cycles':>15} {'prefill tok/s':>14} {'x B=1':>7}   {'decode step cycles':>18} "
                     f"{'decode tok/s (all B)':>20} {'x one':>6}")
        runs = {}
        for batch in sorted(set(args.measure_device) | {1}):
            run = measure_device(config, batch, lanes=args.lanes, vector_width=vector_width)
            runs[batch] = {"prefill": run["prefill"][PROMPT], "decode": run["decode"]}
        one = runs[1]
        for batch, run in runs.items():
            lines.append(f"  {batch:>2} {run['prefill']:>15,} {PROMPT * args.clock_mhz * 1e6 / run['prefill']:>14.1f} "
                         f"{one['prefill'] / run['prefill']:>6.2f}x   {run['decode']:>18,} "
                         f"{batch * args.clock_mhz * 1e6 / run['decode']:>20.1f} {batch * one['decode'] / run['decode']:>5.2f}x"
                         f"   (measured)")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
