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


def test_round_shift_matches_golden_on_every_value_of_its_width():
    """hw.arith.round_shift (signed values, a registered ShiftControl) against golden round_shift: every value
    of a 12-bit operand, the most negative and the largest included, for each shift the control is made for
    (right by 1 .. past the width, clamped; left by up to max_left; none)."""
    from amaranth import signed

    from hw.arith import ShiftControl, round_shift

    width, max_left = 12, 3
    m = Module()
    value, shift = Signal(signed(width)), Signal(signed(8))
    control = ShiftControl(m, shift, width=width, max_left=max_left, name="control")
    out = round_shift(m, value, control, name="out")
    shifts = list(range(-max_left, width + 4))
    values = range(-(1 << (width - 1)), 1 << (width - 1))
    bad = []

    async def bench(ctx):
        for s in shifts:
            ctx.set(shift, s)
            await ctx.tick()                                   # the control registers the shift
            for v in values:
                ctx.set(value, v)
                if ctx.get(out) != fxp.round_shift(v, s):
                    bad.append((v, s, ctx.get(out), fxp.round_shift(v, s)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert not bad, f"{len(bad)} differ, e.g. (value, shift, got, want): {bad[:4]}"


def test_sf_normalize_registered_matches_golden_over_the_exponent_range():
    """hw.arith.sf_normalize_registered against golden sf_normalize, a new (value, exponent) every cycle: zero,
    values shorter and longer than the mantissa, rounding ties and the carry into a new bit, the widest value;
    exponents out to both ends of the range whose result fits the hardware's SFLOAT_EXP_BITS exponent."""
    from amaranth import signed

    from golden import formats as fmt
    from hw.arith import SF_NORMALIZE_STAGES, sf_normalize_registered

    width, mant = 2 * fmt.SFLOAT_MANT_BITS, fmt.SFLOAT_MANT_BITS
    low, high = -(1 << (fmt.SFLOAT_EXP_BITS - 1)), (1 << (fmt.SFLOAT_EXP_BITS - 1)) - 1
    rng = np.random.default_rng(21)
    values = [0, 1, 3, (1 << mant) - 1, 1 << mant, (1 << width) - 1, 1 << (width - 1)]
    for drop in range(1, width - mant + 1):
        kept = int(rng.integers(1 << (mant - 1), 1 << mant))
        values += [(kept << drop) | (1 << (drop - 1)), (kept << drop) | ((1 << (drop - 1)) - 1),
                   (((1 << mant) - 1) << drop) | (1 << (drop - 1))]      # a tie, just below one, the carry
    values += [int(rng.integers(0, 1 << int(rng.integers(1, width + 1)))) for _ in range(300)]
    cases = []
    for v in values:
        shift = max(v.bit_length() - mant, 0) + 1           # the result's exponent is the input's + at most this
        lift = max(mant - v.bit_length(), 0)
        for e in (low + lift, high - shift, 0, int(rng.integers(low + lift, high - shift + 1))):
            cases.append((v, e))
    m = Module()
    value, exponent = Signal(width), Signal(signed(fmt.SFLOAT_EXP_BITS + 1))
    mantissa, out_exponent = sf_normalize_registered(m, value, exponent, "out")
    got = []

    async def bench(ctx):
        for cycle in range(len(cases) + SF_NORMALIZE_STAGES):
            if cycle < len(cases):
                ctx.set(value, cases[cycle][0])
                ctx.set(exponent, cases[cycle][1])
            if cycle >= SF_NORMALIZE_STAGES:
                got.append((ctx.get(mantissa), ctx.get(out_exponent)))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [tuple(fxp.sf_normalize(v, e)) for v, e in cases]
    assert max(e for _, e in want) > (1 << (fmt.SFLOAT_EXP_BITS - 2)) and min(e for _, e in want) < -(1 << (fmt.SFLOAT_EXP_BITS - 2))
    bad = [(c, g, w) for c, g, w in zip(cases, got, want) if g != w]
    assert len(got) == len(cases) and not bad, f"{len(bad)} of {len(cases)} differ, e.g. (value, exponent), got, want: {bad[:4]}"
