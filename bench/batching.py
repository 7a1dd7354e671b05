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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assembler.batch_compiler import compile_batched  # noqa: E402
from assembler.compiler import compile_model  # noqa: E402
from assembler.iss import InstructionSetSimulator, decode_step_counters  # noqa: E402
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


def single_request(config, *, lanes: int, vector_width: int) -> dict:
    """The single-request program: cycles of a PROMPT-token prefill to its first token, and of a decode step."""
    info = image_layout(config, FORMAT)
    compiled = compile_model(info, states_in_memory=True)
    accelerator, cost = cost_for(config, compiled, lanes=lanes, vector_width=vector_width, batch=1)
    iss = InstructionSetSimulator(compiled.program.instructions, None, FORMAT, cost=cost,
                                  vmem_words=accelerator.vmem_words, vector_width=vector_width)
    iss.send(PROMPT, 1, *[0] * PROMPT)
    assert iss.run() == "waiting"
    decode = decode_step_counters(compiled.program.instructions, FORMAT, cost)
    return {"prefill": iss.counters.cycles, "decode": decode.cycles, "decode_bytes": decode.bytes_read}


def batched(config, batch: int, *, lanes: int, vector_width: int) -> dict:
    """The batched program: cycles of a PROMPT-token prefill (B tokens a step), and of one decode step of B."""
    info = image_layout(config, FORMAT)
    compiled = compile_batched(info, batch)
    accelerator, cost = cost_for(config, compiled, lanes=lanes, vector_width=vector_width, batch=batch)
    iss = InstructionSetSimulator(compiled.program.instructions, None, FORMAT, cost=cost,
                                  vmem_words=accelerator.vmem_words, vector_width=vector_width, batch=batch)
    for start in range(0, PROMPT, batch):
        count = min(batch, PROMPT - start)
        iss.send(count, 0, int(start == 0), *[0] * batch)
        assert iss.run() == "waiting"
    prefill, before = iss.counters.cycles, iss.counters.bytes_read
    iss.send(0, *[0] * batch)
    assert iss.run() == "waiting"
    return {"prefill": prefill, "decode": iss.counters.cycles - prefill, "decode_bytes": iss.counters.bytes_read - before}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/stdlib-256", help="a model directory (its config.json) or a preset")
    parser.add_argument("--lanes", type=int, default=64)
    parser.add_argument("--vector-width", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--clock-mhz", type=float, default=75.0, help="for tokens/s (the ULX3S build's clock)")
    parser.add_argument("--measure", type=int, nargs="*", default=None, metavar="B",
                        help="also run the cocotb calibration at these batches (minutes each)")
    parser.add_argument("--out", type=Path, default=None, help="write the report here too")
    args = parser.parse_args()
    model = Path(args.model)
    if args.model == "370M-bytes":
        config = dataclasses.replace(preset("370M"), vocab_size=256, bos_token_id=None, eos_token_id=None)
    else:
        config = HGRNBitConfig.from_json_file(model / "config.json") if model.is_dir() else preset(args.model)
    memory = BENCH_MEMORIES[MEMORY]
    lines = [f"# bench/batching.py --model {args.model} --lanes {args.lanes} --vector-width "
             f"{' '.join(map(str, args.vector_width))} --clock-mhz {args.clock_mhz:g}"
             + (f" --measure {' '.join(map(str, args.measure))}" if args.measure else ""),
             f"# system: {MEMORY} ({memory.mem_bytes}-byte beats, {memory.bytes_per_cycle:.3f} B/cycle with refresh, "
             f"latency {memory.latency}), engine L {args.lanes}, 2-bit weights; model hidden {config.hidden_size}, "
             f"{config.num_hidden_layers} layers, vocab {config.vocab_size}; {PROMPT}-token prompt",
             "# derived: ISS cost model (hw.accelerator.Accelerator.cost_model), calibrated by the measured runs below",
             ""]
    for vector_width in args.vector_width:
        one = single_request(config, lanes=args.lanes, vector_width=vector_width)
        lines.append(f"V {vector_width}:")
        lines.append(f"  {'B':>2} {'prefill cycles':>15} {'prefill tok/s':>14} {'x B=1':>7}   {'decode step cycles':>18} "
                     f"{'decode tok/s (all B)':>20} {'x one':>6}")
        for batch in BATCHES:
            run = one if batch == 1 else batched(config, batch, lanes=args.lanes, vector_width=vector_width)
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
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
