"""Integer primitives of the hardware's vector unit, vectorised over numpy int64 arrays.

Every function here is what one piece of hardware does, bit for bit; the formats are in `formats`.
One rounding rule everywhere: round to nearest, ties away from zero, computed as
(x + 2**(s-1) - (x < 0)) >> s — one adder, symmetric, no bias.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import formats as fmt


def round_shift(x, shift: int):
    """x / 2**shift rounded half away from zero; a negative shift is an exact left shift."""
    if shift <= 0:
        return np.left_shift(x, -shift) if isinstance(x, np.ndarray) else x << -shift
    if isinstance(x, np.ndarray):
        return (x + (1 << (shift - 1)) - (x < 0)) >> shift
    return (x + (1 << (shift - 1)) - (1 if x < 0 else 0)) >> shift


def saturate(x, bits: int):
    """Clamp to the signed two's complement range of `bits` bits."""
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if isinstance(x, np.ndarray):
        return np.clip(x, low, high)
    return min(max(x, low), high)


def bit_length(value: int) -> int:
    return int(value).bit_length()


def block_shift(max_abs: int, bits: int = fmt.MANT_BITS) -> int:
    """Right shift that brings a vector whose largest magnitude is max_abs into `bits` signed bits."""
    return max(0, bit_length(max_abs) - (bits - 1))


def block_normalize(x: np.ndarray, bits: int = fmt.MANT_BITS) -> tuple[np.ndarray, int]:
    """Shared-exponent mantissas of a vector: (m, s) with x ~= m * 2**s, |m| < 2**(bits-1)."""
    shift = block_shift(int(np.abs(x).max(initial=0)), bits)
    return saturate(round_shift(x, shift), bits), shift


# --- Scalar float: positive per-vector scale factors ---------------------------------------------

class SFloat(NamedTuple):
    """m * 2**e, m in [2**16, 2**17) (17-bit unsigned) or m == 0 for zero."""
    m: int
    e: int

    def to_float(self) -> float:
        return math.ldexp(self.m, self.e)


SFLOAT_ZERO = SFloat(0, 0)
_MANT_LOW = 1 << (fmt.SFLOAT_MANT_BITS - 1)


def sf_normalize(value: int, exponent: int = 0) -> SFloat:
    """Round a non-negative integer * 2**exponent to a scalar float (round half away, then renormalise)."""
    if value < 0:
        raise ValueError("scalar floats are non-negative")
    if value == 0:
        return SFLOAT_ZERO
    shift = bit_length(value) - fmt.SFLOAT_MANT_BITS
    m = round_shift(value, shift)
    if m >> fmt.SFLOAT_MANT_BITS:           # rounding carried into a new bit
        m, shift = m >> 1, shift + 1
    return SFloat(m, exponent + shift)


def sf_from_float(value: float) -> SFloat:
    """Compile-time conversion of a positive real constant (float64) to a scalar float."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"cannot represent {value!r} as a scale factor")
    if value == 0:
        return SFLOAT_ZERO
    _, exp2 = math.frexp(value)                # value = f * 2**exp2, f in [0.5, 1)
    e = exp2 - fmt.SFLOAT_MANT_BITS
    return sf_normalize(int(math.floor(math.ldexp(value, -e) + 0.5)), e)


def sf_mul(a: SFloat, b: SFloat) -> SFloat:
    """One 18x18 product of the mantissas, renormalised."""
    return sf_normalize(a.m * b.m, a.e + b.e)


RSQRT_RADICAND_BITS = 37     # radicand normalised to 36 or 37 significant bits
RSQRT_DIVIDEND_SHIFT = 38


def sf_rsqrt(value: int, exponent: int = 0) -> SFloat:
    """1 / sqrt(value * 2**exponent) for a positive integer, exponent even.

    The radicand is shifted by an even amount into [2**36, 2**38) so that its integer square root
    (digit by digit, no multiplier) is a normalised 19-bit Q; then 2**38 // Q by restoring division.
    Neither step uses a multiplier; both run once per vector.
    """
    if value <= 0:
        raise ValueError("rsqrt of a non-positive value")
    if exponent % 2:
        raise ValueError("rsqrt needs an even exponent")
    shift = RSQRT_RADICAND_BITS - bit_length(value)
    shift += shift % 2                          # even, so that sqrt halves it exactly
    radicand = value << shift if shift >= 0 else value >> -shift    # floor: the divider's input
    q = math.isqrt(radicand)                    # in [2**18, 2**19)
    # value * 2**exponent ~= q**2 * 2**(exponent - shift)  =>  rsqrt = 2**((shift - exponent) / 2) / q
    quotient = (1 << RSQRT_DIVIDEND_SHIFT) // q                       # restoring division, floor
    return sf_normalize(quotient, (shift - exponent) // 2 - RSQRT_DIVIDEND_SHIFT)


def scale_vector(v: np.ndarray, scale: SFloat, out_shift: int = 0) -> np.ndarray:
    """round(v * scale * 2**out_shift) saturated to an ACT word. v is at most 25 bits signed (two DSPs)."""
    return saturate(round_shift(v * scale.m, -(scale.e + out_shift)), fmt.ACT_BITS)


# --- Vector-unit operations on ACT (Q15.16) words ------------------------------------------------

def vadd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return saturate(a + b, fmt.ACT_BITS)


def vmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise a * b of two ACT vectors.

    b is block-normalised to 18-bit mantissas (one shift for the whole vector, from max|b|), so each
    element costs one 32x18 product (two DSPs); the result is rounded back to Q15.16 and saturated.
    For |b| < 2 (gates, sigmoid outputs) the shift is 0 and the product is exact before rounding.
    """
    b_mant, shift = block_normalize(b)
    return saturate(round_shift(a * b_mant, fmt.ACT_FRAC - shift), fmt.ACT_BITS)


def _sigmoid_table() -> np.ndarray:
    x = np.arange(fmt.SIGMOID_SEGMENTS + 1, dtype=np.float64) / (fmt.SIGMOID_SEGMENTS / fmt.SIGMOID_RANGE)
    return np.floor(fmt.ACT_ONE / (1.0 + np.exp(-x)) + 0.5).astype(np.int64)


SIGMOID_TABLE = _sigmoid_table()
"""sigmoid(k / 32) in Q0.16 for k = 0..512: the block-RAM contents of the sigmoid unit."""


def vsigmoid(x: np.ndarray) -> np.ndarray:
    """sigmoid of ACT words, in ACT (Q0.16 within [0, 1]): table + linear interpolation, odd symmetry."""
    magnitude = np.minimum(np.abs(x), (fmt.SIGMOID_RANGE << fmt.ACT_FRAC) - 1)
    index = magnitude >> fmt.SIGMOID_SEGMENT_SHIFT
    fraction = magnitude & ((1 << fmt.SIGMOID_SEGMENT_SHIFT) - 1)
    low = SIGMOID_TABLE[index]
    y = low + round_shift((SIGMOID_TABLE[index + 1] - low) * fraction, fmt.SIGMOID_SEGMENT_SHIFT)
    y = np.where(np.abs(x) >= (fmt.SIGMOID_RANGE << fmt.ACT_FRAC), fmt.ACT_ONE, y)
    return np.where(x < 0, fmt.ACT_ONE - y, y)


def vsilu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x) (SiLU, also the swish gate)."""
    return vmul(x, vsigmoid(x))
