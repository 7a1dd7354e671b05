"""Cycles per matrix-vector product of TernaryMatVec vs the ideal (measured, Amaranth simulator).

    .venv/bin/python bench/engine_efficiency.py [--lanes 8 64 256]

Ideal = rows * ceil(cols / LANES) beats at one beat per cycle (rows start on fresh beats); the table
also gives ceil(rows * cols / LANES), the bound without per-row padding. Measured = cycles from the
command's acceptance to the last result, with the weight stream always valid and the result always
ready. Efficiency = ideal / measured.
"""

from __future__ import annotations

import argparse

from amaranth.sim import Simulator

from golden.packing import TritFormat
from hw.ternary_engine import TernaryMatVec


def measure(lanes: int, trit_format: TritFormat, rows: int, cols: int) -> int:
    engine = TernaryMatVec(lanes=lanes, trit_format=trit_format, max_cols=max(cols, lanes))
    beats = rows * -(-cols // lanes)
    zero_byte = 0 if trit_format is TritFormat.TRITS_2BIT else 121
    beat = int.from_bytes(bytes([zero_byte]) * engine.beat_bytes, "little")
    cycles = []

    async def testbench(ctx):
        ctx.set(engine.result.ready, 1)
        ctx.set(engine.weights.valid, 1)
        ctx.set(engine.weights.payload, beat)
        ctx.set(engine.cmd.payload.rows, rows)
        ctx.set(engine.cmd.payload.cols, cols)
        ctx.set(engine.cmd.valid, 1)
        await ctx.tick()
        ctx.set(engine.cmd.valid, 0)
        count, results = 0, 0
        while results < rows:
            _, _, valid, ready = await ctx.tick().sample(engine.result.valid, engine.result.ready)
            count += 1
            results += valid and ready
        cycles.append(count)

    sim = Simulator(engine)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert beats > 0
    return cycles[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lanes", type=int, nargs="+", default=[8, 64, 256])
    args = parser.parse_args()
    print(f"{'lanes':>5s} {'format':>11s} {'rows':>5s} {'cols':>6s} {'ideal':>7s} {'unpadded':>8s} "
          f"{'measured':>8s} {'efficiency':>10s}   (measured, Amaranth simulation)")
    for lanes in args.lanes:
        for trit_format in TritFormat:
            per_byte = trit_format.trits_per_byte
            lanes_f = lanes - lanes % per_byte
            for rows, cols in [(64, lanes_f), (64, 4 * lanes_f), (256, 4 * lanes_f + 3), (16, 16 * lanes_f)]:
                ideal = rows * -(-cols // lanes_f)
                cycles = measure(lanes_f, trit_format, rows, cols)
                print(f"{lanes_f:5d} {trit_format.name:>11s} {rows:5d} {cols:6d} {ideal:7d} "
                      f"{-(-rows * cols // lanes_f):8d} {cycles:8d} {100 * ideal / cycles:9.1f}%", flush=True)


if __name__ == "__main__":
    main()
