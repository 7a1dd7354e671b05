"""The integer primitives against exact rational arithmetic (fractions) and float math."""

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import fixedpoint as fxp
from golden import formats as fmt
from golden.hwexact import quantize_int8, rms_norm
from golden.quantize import block_float


def exact_round_half_away(value: Fraction) -> int:
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


@given(st.integers(-(1 << 50), 1 << 50), st.integers(-8, 40))
def test_round_shift_is_round_half_away(x, shift):
    expected = exact_round_half_away(Fraction(x, 1 << shift) if shift >= 0 else Fraction(x << -shift))
    assert fxp.round_shift(x, shift) == expected
    assert fxp.round_shift(np.array([x]), shift)[0] == expected


@given(st.lists(st.integers(-(1 << 40), 1 << 40), min_size=1, max_size=50))
def test_block_normalize_fits_18_bits_and_is_close(values):
    x = np.array(values, dtype=np.int64)
    mant, shift = fxp.block_normalize(x)
    assert np.all(mant >= -(1 << 17)) and np.all(mant < (1 << 17))
    if shift:
        assert np.abs(mant).max() >= 1 << 16          # normalised: no wasted top bit
    assert np.all(np.abs(mant * (1 << shift) - x) <= (1 << shift))


@given(st.integers(1, 1 << 60), st.sampled_from([-40, -2, 0, 2, 10]))
def test_rsqrt_relative_error(value, exponent):
    result = fxp.sf_rsqrt(value, exponent)
    assert 1 << 16 <= result.m < 1 << 17
    assert abs(result.to_float() * math.sqrt(value * 2.0 ** exponent) - 1) < 2 ** -16


@given(st.floats(1e-30, 1e30), st.floats(1e-30, 1e30))
def test_scalar_float_multiply(a, b):
    product = fxp.sf_mul(fxp.sf_from_float(a), fxp.sf_from_float(b)).to_float()
    assert abs(product / (a * b) - 1) < 3 * 2 ** -17


def test_sigmoid_table_error_below_two_lsb():
    x = np.arange(-(20 << 16), 20 << 16, 7, dtype=np.int64)
    error = np.abs(fxp.vsigmoid(x) / 65536 - 1 / (1 + np.exp(-x / 65536)))
    assert error.max() < 2 / 65536
    assert fxp.vsigmoid(np.array([fmt.ACT_MIN, fmt.ACT_MAX, 0])).tolist() == [0, 65536, 32768]


def test_vmul_rounding_bound():
    rng = np.random.default_rng(0)
    for b_scale in (0.5, 3.0, 1000.0):
        a = rng.integers(-(1 << 18), 1 << 18, 300)           # |a*b| stays inside Q15.16
        b = (rng.standard_normal(300) * b_scale * 65536).astype(np.int64)
        exact = a.astype(np.float64) * b / 65536
        _, shift = fxp.block_normalize(b)
        # b is rounded to 18 significant bits (half an ulp = 2**(shift-1)), then the product rounded.
        bound = np.abs(a) * 2.0 ** (shift - 1) / 65536 + 0.5
        assert np.all(np.abs(fxp.vmul(a, b) - exact) <= bound + 1e-9)
    assert fxp.vmul(np.array([fmt.ACT_MAX]), np.array([fmt.ACT_MAX])).tolist() == [fmt.ACT_MAX]
    assert fxp.vmul(np.array([fmt.ACT_MIN]), np.array([fmt.ACT_MAX])).tolist() == [fmt.ACT_MIN]


def test_vadd_saturates():
    assert fxp.vadd(np.array([fmt.ACT_MAX, fmt.ACT_MIN]), np.array([1, -1])).tolist() == [fmt.ACT_MAX, fmt.ACT_MIN]


@settings(max_examples=300)
@given(st.lists(st.integers(-(1 << 35) + 1, (1 << 35) - 1), min_size=1, max_size=64))
def test_quantize_int8_is_exact_rounding(values):
    u = np.array(values, dtype=np.int64)
    q, peak = quantize_int8(u)
    assert peak == np.abs(u).max()
    if peak == 0:
        assert not q.any()
        return
    for ui, qi in zip(values, q.tolist()):
        assert qi == exact_round_half_away(Fraction(ui * 127, peak))
    assert np.abs(q).max() == 127


def test_quantize_int8_ties():
    # 127 * u / peak exactly half-way: away from zero, both signs.
    q, _ = quantize_int8(np.array([254, 1, -1, 0]))
    assert q.tolist() == [127, 1, -1, 0]           # 127/254 = 0.5 -> 1


def test_rms_norm_matches_float():
    rng = np.random.default_rng(1)
    for magnitude in (1e-3, 1.0, 300.0):
        x = rng.standard_normal(96) * magnitude
        w = rng.uniform(-2, 2, 96)
        words = np.floor(x * 65536 + 0.5).astype(np.int64)
        x = words / 65536                                       # the op's input as the hardware holds it
        expected = x / np.sqrt(np.mean(x * x) + 1e-6) * w
        got = rms_norm(words, block_float(w, fmt.NORM_WEIGHT_MANT_BITS), 1e-6) / 65536
        assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max() + 2 / 65536


def test_rms_norm_of_zero_is_zero():
    w = block_float(np.ones(8), fmt.NORM_WEIGHT_MANT_BITS)
    assert not rms_norm(np.zeros(8, dtype=np.int64), w, 1e-6).any()


def test_block_float_weights():
    w = np.array([0.75, -1e-3, 3.5, 0.0])
    bf = block_float(w, 18)
    assert np.abs(bf.mantissas).max() <= (1 << 17) - 1
    assert np.abs(bf.to_float() - w).max() <= 2.0 ** (bf.exponent - 1)
    assert not block_float(np.zeros(4), 18).mantissas.any()


def test_accumulator_width_covers_extremes():
    for n in (1, 64, 6912, fmt.MAX_ROW_LENGTH):
        bits = fmt.accumulator_bits(n)
        assert -(1 << (bits - 1)) <= -128 * n and 128 * n <= (1 << (bits - 1)) - 1
