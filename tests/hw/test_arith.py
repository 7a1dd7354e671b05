"""hw.arith's registered helpers against the golden.fixedpoint functions they implement, in Amaranth's simulator."""

import numpy as np
from amaranth import Module, Signal
from amaranth.sim import Simulator

from golden import fixedpoint as fxp
from hw.arith import ROUND_SHIFT_UNSIGNED_STAGES, round_shift_unsigned_registered

WIDTH = 32
MAX_SHIFT = 70


def _cases(rng) -> list[tuple[int, int]]:
    """Adversarial (value, shift) pairs first (zero, all ones, exact ties and their neighbours, shifts 0,
    1, the width and beyond), then random ones over the whole range."""
    top = (1 << WIDTH) - 1
    cases = [(value, shift) for value in (0, 1, top, top - 1, 1 << (WIDTH - 1))
             for shift in (0, 1, 2, WIDTH - 1, WIDTH, WIDTH + 1, WIDTH + 2, MAX_SHIFT)]
    for shift in range(1, WIDTH + 1):
        tie = (int(rng.integers(0, 1 << (WIDTH - shift))) << shift) | (1 << (shift - 1))
        cases += [(tie, shift), (tie - 1, shift), (min(tie + 1, top), shift)]
    cases += [(int(rng.integers(0, 1 << WIDTH)), int(rng.integers(0, MAX_SHIFT + 1))) for _ in range(400)]
    return cases


def test_round_shift_unsigned_registered_matches_golden_on_a_new_pair_every_cycle():
    m = Module()
    value, shift = Signal(WIDTH), Signal(range(MAX_SHIFT + 1))
    out = round_shift_unsigned_registered(m, value, shift, name="out")
    cases = _cases(np.random.default_rng(16))
    got = []

    async def bench(ctx):
        for cycle in range(len(cases) + ROUND_SHIFT_UNSIGNED_STAGES - 1):
            if cycle < len(cases):
                ctx.set(value, cases[cycle][0])
                ctx.set(shift, cases[cycle][1])
            await ctx.tick()
            if cycle + 1 >= ROUND_SHIFT_UNSIGNED_STAGES:
                got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [fxp.round_shift(v, s) for v, s in cases]
    bad = [(c, g, w) for c, g, w in zip(cases, got, want) if g != w]
    assert len(got) == len(cases) and not bad, f"{len(bad)} of {len(cases)} differ, e.g. (value, shift), got, want: {bad[:4]}"


def test_ceil_div_by_a_constant_is_exact_over_the_whole_range():
    """hw.arith.ceil_div (a reciprocal multiply for 5, base-3's trits a byte) against Python's integer division on
    every 16-bit value, for powers of two and others."""
    import pytest

    from hw.arith import ceil_div

    for divisor in (1, 4, 5, 3, 7):
        value, quotient = Signal(16), Signal(17)
        m = Module()
        m.d.comb += quotient.eq(ceil_div(value, divisor))

        async def bench(ctx, divisor=divisor, value=value, quotient=quotient):
            for n in range(0, 1 << 16, 1 if divisor == 5 else 97):
                ctx.set(value, n)
                assert ctx.get(quotient) == -(-n // divisor), (divisor, n)
            ctx.set(value, (1 << 16) - 1)
            assert ctx.get(quotient) == -(-((1 << 16) - 1) // divisor)

        sim = Simulator(m)
        sim.add_testbench(bench)
        sim.run()
    with pytest.raises(ValueError, match="divisor"):
        ceil_div(Signal(4), 0)
