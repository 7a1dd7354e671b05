"""Long fuzz run of the host link (sim/link/fuzz.py) on the fast simulated device; prints the figures
and writes them to bench/results/link_fuzz.txt.

    .venv/bin/python bench/link_fuzz.py [--inputs N] [--seed S] [--out bench/results]

The device: the tiny random model's build (16 lanes, SDRAM model) with a 256-cycle frame timeout, in
the Verilator harness (sim/fast; built once, cached). Each input (a mutated frame, a run of raw bytes,
several frames at once, or an intact frame the device must refuse) goes in; the answers must be
exactly those of sim.link.fuzz.ReceiverModel (the protocol as docs/protocol.md states it). Then a
request must generate the golden tokens with the program and image loaded before the fuzz.
All figures *measured* in this run.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host.transport import SimTransport  # noqa: E402
from sim.link.fuzz import FAMILIES, InputGenerator, fuzz, fuzz_target  # noqa: E402

PROMPT = [5, 17, 200]
TOKENS = 4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--check-every", type=int, default=1000, help="a STATUS (held image) every N inputs")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()

    started = time.perf_counter()
    target = fuzz_target()
    build = target.build
    expected = target.golden(PROMPT, TOKENS)
    generator = InputGenerator(build, args.seed)
    inputs = (generator.next() for _ in range(args.inputs))
    built = []                                  # the harness's build message: not cached, built now

    def log(line):
        built.append(line)
        print(line, file=sys.stderr)

    transport = SimTransport(target.device, memory=target.memory, log=log)
    ready = time.perf_counter()

    def progress(result):
        print(f"  ... {result.inputs:,} inputs, {result.inputs_per_second:,.0f}/s, mismatches {result.mismatches}, "
              f"hangs {result.hangs}, corrupted writes {result.corrupted_writes}", file=sys.stderr, flush=True)

    try:
        result = fuzz(transport, target.image, inputs, build=build, program=target.program,
                      instructions=target.instructions, prompt=PROMPT, expected=expected, info=target.info,
                      check_every=args.check_every, progress=progress)
    finally:
        transport.close()
    total = time.perf_counter() - started
    stats = transport.simulation.stats()

    lines = [
        f"$ python bench/link_fuzz.py --inputs {args.inputs} --seed {args.seed}",
        f"link fuzz (measured): {result.inputs:,} inputs ({result.bytes_sent:,} bytes), seed {args.seed}, "
        f"fast simulated device (tiny model, {build.lanes} lanes, {target.memory} memory model, "
        f"frame timeout {build.frame_timeout_cycles} cycles)",
        "  inputs by family     " + ", ".join(f"{name} {result.families[name]:,}" for name in FAMILIES),
        f"  answers              {sum(result.answers.values()):,}, each as predicted:",
        *[f"    {name:22s} {count:,}" for name, count in sorted(result.answers.items(), key=lambda item: -item[1])],
        f"  mismatches           {result.mismatches}",
        f"  hangs                {result.hangs}",
        f"  corrupted writes     {result.corrupted_writes} (held image and FIFO room checked in {result.held_checks:,} "
        f"STATUS_REPLYs: the fuzz's own and one every {args.check_every:,} inputs)",
        f"  golden request       {'passed' if result.golden else 'FAILED'}: prompt {PROMPT} -> {result.golden_tokens} "
        f"(golden {result.expected_tokens}), program and image as loaded before the fuzz; then mmfree run's flow "
        f"(image held, not sent again)",
        f"  wall time            {result.seconds:.1f} s fuzzing, {result.inputs_per_second:,.0f} inputs/s; "
        f"{total:.1f} s in all (set-up {ready - started:.1f} s: "
        f"{'the Verilator build included' if built else 'model, Verilog, harness start; build cached'})",
        f"  device cycles        {stats.get('cycles', 0):,.0f} at {stats.get('cycles_per_second', 0):,.0f} cycles/s "
        f"while the clock ran",
    ]
    for failure in result.failures:
        lines.append(f"  FAILURE {failure}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "link_fuzz.txt").write_text(text)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
