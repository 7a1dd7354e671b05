"""Decode throughput against the memory roofline, for four memory systems.

    python bench/decode_roofline.py [--hidden 512] [--layers 2] [--tokens 3] [--format 2bit|base3] [--out bench/results]

Measured: the whole accelerator (hw.accelerator) in cocotb/Verilator behind each memory model of
sim.memory_model (SDRAM like the ULX3S's, 2 B/cycle; a 64-bit DDR channel, 16 B/cycle; a wide HBM-like
port, 64 B/cycle; ECPIX-5's 16-bit DDR3 through hw.axi and LiteDRAM's controller with its PHY model at the
ECP5's 1:2, 8 B/cycle peak), each with its datapath (engine lanes L, vector width V, prefetch buffer), running a
random model of the given shape through the end-to-end testbench (sim/accelerator: every token and
state bit-exact against the golden model and the ISS, cycles within 5 % of the ISS). The host is
always ready, logits are not sent: the cycles are the accelerator's. Per decode step: cycles, the
memory roofline (image bytes of the step / sustained bytes per cycle) and the breakdown from the
hardware's counters (engine busy, waits on memory, vector and norm units, instruction overhead).

Derived: the same builds' ISS cost model (Accelerator.cost_model, calibrated against the measured
runs) for the released model shapes, cycles per decode token and % of the roofline.

An engine faster than memory (SDRAM: 16 lanes of 2-bit weights = 4 B/cycle against 2; DDR: 128 lanes =
32 B/cycle against 16; wide: 512 lanes = 128 B/cycle against 64) with V-wide vector and norm units and
the matrices prefetched while they run keeps memory busy: memory_idle counts the cycles it is not.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assembler.compiler import compile_model  # noqa: E402
from assembler.iss import decode_step_counters  # noqa: E402
from golden.config import HGRNBitConfig, preset  # noqa: E402
from golden.image import image_layout  # noqa: E402
from golden.packing import TritFormat  # noqa: E402
from hw.accelerator import Accelerator  # noqa: E402
from sim.accelerator.harness import run_model  # noqa: E402
from sim.memory_model import BENCH_MEMORIES  # noqa: E402

# (name, memory preset, memory port, engine lanes L 2-bit / base-3, vector width V, prefetch buffer bytes).
# ddr3: ECPIX-5's DDR3 through hw.axi and LiteDRAM's controller with its PHY model at 1:2 (sim/litedram/),
# 8 B/cycle peak: the L 64 / V 4 datapath that fits the ECP5-85F beside it, running the program the DDR3
# boards run (BOARD_PROGRAM: the recurrent states in DRAM, as the released models need on an ECP5-85F:
# bench/results/memory_budget.txt).
SYSTEMS = [("sdram", "sdram", "native", 16, 20, 1, 4096), ("ddr", "ddr", "native", 128, 160, 8, 16384),
           ("wide", "wide", "native", 512, 640, 32, 65536),
           ("ddr3", "ddr3_ecpix5", "litedram", 64, 80, 4, 16384)]
BOARD_PROGRAM = {"ddr3": dict(states_in_memory=True)}
BREAKDOWN = ["engine_busy", "memory_wait", "memory_idle", "matvec", "norm", "vector", "move", "control"]


def measure(config: HGRNBitConfig, memory: str, memory_port: str, lanes: int, vector_width: int,
            prefetch_bytes: int, trit_format: TritFormat, tokens: int, program: dict) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        run_model(config, seed=11, trit_format=trit_format, memory=memory, lanes=lanes, vector_width=vector_width,
                  prefetch_bytes=prefetch_bytes, emit_logits=False, memory_port=memory_port,
                  build_name=f"bench_decode_{memory}_L{lanes}_V{vector_width}_{trit_format.name}_"
                             f"{config.hidden_size}_{config.num_hidden_layers}{'_spill' if program else ''}",
                  env={"PROMPT": "1", "TOKENS": str(tokens), "HOST_RATE": "1.0", "RESULTS_FILE": str(results)},
                  **program)
        return json.loads(results.read_text())


def derived(name: str, memory: str, lanes: int, vector_width: int, prefetch_bytes: int,
            trit_format: TritFormat, program: dict) -> tuple[int, int, float]:
    config = preset(name)
    compiled = compile_model(image_layout(config, trit_format), **program)
    timing = BENCH_MEMORIES[memory]
    accelerator = Accelerator.for_model(config, program_instructions=len(compiled.program.instructions),
                                        vmem_words=compiled.program.vmem_words, lanes=lanes,
                                        trit_format=trit_format, mem_bytes=timing.mem_bytes,
                                        vector_width=vector_width, prefetch_bytes=prefetch_bytes)
    cost = accelerator.cost_model(bytes_per_cycle=timing.bytes_per_cycle, memory_latency=timing.latency,
                                  write_cycles=timing.write_cycles)
    step = decode_step_counters(compiled.program.instructions, trit_format, cost)
    return step.cycles, step.bytes_read, step.bytes_read / timing.bytes_per_cycle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--systems", nargs="*", choices=[s[0] for s in SYSTEMS], default=[s[0] for s in SYSTEMS],
                        help="memory systems to measure")
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=3, help="tokens generated (a decode step between each two)")
    parser.add_argument("--models", nargs="*", default=["370M", "1.3B", "2.7B"], help="derived figures for these")
    parser.add_argument("--format", choices=["2bit", "base3"], default="2bit",
                        help="the measured builds' weight packing (base3: each system's base-3 lanes, as the DDR3 "
                             "boards build; the report goes to decode_roofline_base3.txt)")
    parser.add_argument("--out", type=Path, help="also write the report (and raw JSON) into this folder")
    args = parser.parse_args()
    config = HGRNBitConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                           bos_token_id=None, eos_token_id=None)
    lines, raw = [], {}
    lines.append(f"Decode vs memory roofline; model hidden {config.hidden_size}, mlp {config.mlp_size}, "
                 f"{config.num_hidden_layers} layer(s), vocab {config.vocab_size}, random weights")
    lines.append("measured (cocotb + Verilator, whole accelerator, host always ready); cycles per decode step")
    header = (f"{'memory':6s} {'B/cyc':>6s} {'L':>4s} {'V':>3s} {'format':>6s} {'B/step':>8s} {'roofline':>9s} "
              f"{'cycles':>9s} {'% roof':>7s} {'% peak':>7s} {'ISS':>9s} {'ISS err':>7s}  breakdown (% of cycles)")
    lines.append(header)
    trit_format = TritFormat.TRITS_BASE3 if args.format == "base3" else TritFormat.TRITS_2BIT
    for system, memory, port, lanes_2bit, lanes_base3, vector_width, prefetch_bytes in SYSTEMS:
        lanes = lanes_base3 if args.format == "base3" else lanes_2bit
        if system not in args.systems:
            continue
        result = measure(config, memory, port, lanes, vector_width, prefetch_bytes, trit_format, args.tokens,
                         BOARD_PROGRAM.get(system, {}))
        raw[system] = result
        timing = BENCH_MEMORIES[memory]
        peak = timing.mem_bytes / timing.cycles_per_beat             # bytes a cycle with no refresh or gap
        for cycles, estimate, counters in zip(result["decode_steps"], result["iss_decode_steps"],
                                              result["decode_step_counters"]):
            roofline = result["roofline_cycles"]
            parts = " ".join(f"{name} {100 * counters[name] / cycles:.1f}" for name in BREAKDOWN)
            lines.append(f"{system:6s} {timing.bytes_per_cycle:6.3f} {lanes:4d} {vector_width:3d} {trit_format.name[6:]:>6s} "
                         f"{result['decode_step_bytes']:8d} {roofline:9.0f} {cycles:9d} {100 * roofline / cycles:6.1f}% "
                         f"{100 * result['decode_step_bytes'] / cycles / peak:6.1f}% "
                         f"{estimate:9d} {100 * (estimate / cycles - 1):+6.2f}%  {parts}")
    lines.append("breakdown: engine_busy = engine taking beats; memory_wait = a unit waiting for image data; "
                 "memory_idle = memory with nothing asked of it; matvec/norm/vector/move/control = controller "
                 "activity (adds up to 100 %); B/cyc: sustained (refresh included), the roofline's bandwidth; "
                 "% peak: of the bytes a cycle with no refresh (ddr3: 8 B/cycle, 16-bit DDR3 at 4x the 75 MHz clock)")
    if args.models:
        lines.append("")
        lines.append("derived (ISS cost model of the same builds, calibrated on the runs above), base-3 images")
        lines.append(f"{'model':6s} {'memory':6s} {'L':>4s} {'V':>3s} {'B/token':>11s} {'roofline':>11s} "
                     f"{'cycles/token':>13s} {'% roof':>7s}")
        for name in args.models:
            for system, memory, _, _, base3_lanes, vector_width, prefetch_bytes in SYSTEMS:
                if system not in args.systems:
                    continue
                cycles, nbytes, roofline = derived(name, memory, base3_lanes, vector_width, prefetch_bytes,
                                                   TritFormat.TRITS_BASE3, BOARD_PROGRAM.get(system, {}))
                lines.append(f"{name:6s} {system:6s} {base3_lanes:4d} {vector_width:3d} {nbytes:11d} {roofline:11.0f} "
                             f"{cycles:13d} {100 * roofline / cycles:6.1f}%")
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        name = "decode_roofline" + ("_base3" if args.format == "base3" else "")
        (args.out / f"{name}.txt").write_text(report + "\n")
        (args.out / f"{name}.json").write_text(json.dumps(raw, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
