"""The hardware-exact HGRN-Bit model: integers only, every step the accelerator's vector unit and
ternary engine perform, in the formats of `formats` (documented in docs/numerics.md).

Decode is token by token with an explicit state (one Q15.16 vector per layer). Every intermediate is
recorded in a trace, under stable names, so that the RTL can be compared on each of them.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from . import fixedpoint as fxp
from . import formats as fmt
from .config import BITLINEAR_NORM_EPS
from .quantize import BlockFloatVector, QuantizedLinear, QuantizedModel, eps_term


@dataclasses.dataclass
class NormalizedInput:
    """The shared front of RMSNorm and BitLinear: x block-normalised and its sum of squares.

    x_mant = sat18(round(x / 2**x_shift))        (x_shift from max|x|)
    sum_sq = sum(x_mant**2) + round(eps_term / 2**(2 x_shift))
    Then 1 / sqrt(mean(x**2) + eps) = sqrt(n) * 2**(ACT_FRAC - x_shift) / sqrt(sum_sq).
    """
    x_mant: np.ndarray
    x_shift: int
    inv_sqrt: fxp.SFloat        # 1 / sqrt(sum_sq)


def normalized_input(x: np.ndarray, eps: float) -> NormalizedInput:
    return normalized_input_with_term(x, eps_term(x.shape[0], eps))


def normalized_input_with_term(x: np.ndarray, eps_sum_sq: int) -> NormalizedInput:
    """As `normalized_input`, the epsilon given as its integer sum-of-squares term (as an instruction holds it)."""
    x_mant, x_shift = fxp.block_normalize(x)
    sum_sq = int(np.dot(x_mant, x_mant)) + fxp.round_shift(eps_sum_sq, 2 * x_shift)
    return NormalizedInput(x_mant, x_shift, fxp.sf_rsqrt(sum_sq))


@functools.lru_cache(maxsize=None)
def sqrt_length(length: int) -> fxp.SFloat:
    """sqrt(n) as a scalar float: a compile-time constant of each RMSNorm (one per vector length)."""
    return fxp.sf_from_float(math.sqrt(length))


def rms_norm(x: np.ndarray, weight: BlockFloatVector, eps: float) -> np.ndarray:
    """RMSNorm of an ACT vector with its weight, in ACT.

    x_j * w_j / rms(x) = u_j * sqrt(n) * 2**(u_shift + w_exp) / sqrt(sum_sq) with u = blocknorm(x_mant * w_mant).
    """
    front = normalized_input(x, eps)
    u_mant, u_shift = fxp.block_normalize(front.x_mant * weight.mantissas)
    scale = fxp.sf_mul(sqrt_length(x.shape[0]), front.inv_sqrt)
    return fxp.scale_vector(u_mant, scale, u_shift + weight.exponent + fmt.ACT_FRAC)


@dataclasses.dataclass
class BitLinearTrace:
    q: np.ndarray               # int8 activations [in]
    acc: np.ndarray             # integer dot products [out]
    scale: fxp.SFloat           # per-token rescale: y = acc * scale
    y: np.ndarray               # ACT [out]


def quantize_int8(u: np.ndarray) -> tuple[np.ndarray, int]:
    """q = round(u * 127 / max|u|), ties away from zero, computed exactly.

    Per element q = sign(u) * floor((254 |u| + peak) / (2 peak)): an 8-bit-quotient restoring division
    (8 pipelined subtract-and-compare stages, no multiplier), so q never differs from the exact
    rounding; |q| <= 127. Returns (q, peak = max|u|); peak == 0 gives q = 0.
    """
    peak = int(np.abs(u).max(initial=0))
    if peak == 0:
        return np.zeros_like(u), 0
    return np.sign(u) * ((2 * fmt.INT8_MAX * np.abs(u) + peak) // (2 * peak)), peak


def ternary_matvec(trits: np.ndarray, q: np.ndarray) -> np.ndarray:
    """acc_i = sum_j trits[i, j] * q[j] — the ternary engine. Exact: |acc| <= 128 * in < 2**53."""
    return (trits.astype(np.float64) @ q.astype(np.float64)).astype(np.int64)


def bitlinear(x: np.ndarray, layer: QuantizedLinear) -> BitLinearTrace:
    """y = BitLinear(x) for an ACT vector x, in ACT.

    Float: y = (q . W_q) * beta * max|x_hat| / 127 with x_hat = RMSNorm(x) * w. Quantisation is scale
    invariant, so q comes from the exact products u = x_mant * w_mant (18x18) without any square root,
    and max|x_hat| = peak * 2**w_exp * sqrt(n) / sqrt(sum_sq):  scale = [beta sqrt(n)/127] * peak *
    2**w_exp / sqrt(sum_sq), the bracket being the compile-time constant `layer.scale`.
    """
    front = normalized_input(x, BITLINEAR_NORM_EPS)
    q, peak = quantize_int8(front.x_mant * layer.norm.mantissas)
    acc = ternary_matvec(layer.trits, q)
    scale = fxp.sf_mul(fxp.sf_mul(layer.scale, fxp.sf_normalize(peak)), front.inv_sqrt)
    scale = fxp.SFloat(scale.m, scale.e + layer.norm.exponent)
    return BitLinearTrace(q=q, acc=acc, scale=scale, y=fxp.scale_vector(acc, scale, fmt.ACT_FRAC))


class HardwareExactModel:
    """Runs a `QuantizedModel` token by token, in integers. State: one ACT vector [inner] per layer."""

    def __init__(self, qmodel: QuantizedModel):
        self.qmodel = qmodel
        self.config = qmodel.config

    def initial_state(self) -> list[np.ndarray]:
        return [np.zeros(self.config.inner_size, dtype=np.int64) for _ in self.qmodel.layers]

    def embed(self, token: int) -> np.ndarray:
        if not 0 <= token < self.config.vocab_size:
            raise ValueError(f"token id {token} outside the vocabulary [0, {self.config.vocab_size})")
        mant = self.qmodel.embed_mantissas[token]
        return fxp.saturate(fxp.round_shift(mant, -(int(self.qmodel.embed_exponents[token]) + fmt.ACT_FRAC)),
                            fmt.ACT_BITS)

    def step(self, token: int, state: list[np.ndarray], trace: dict | None = None):
        """One decode step -> (logits ACT [vocab], next state). `trace`, when given, collects every
        intermediate under names like 'layer0.attn.f' (ACT vectors, int8 q, integer accumulators)."""
        eps = self.config.rms_norm_eps
        record = (lambda name, value: trace.__setitem__(name, value)) if trace is not None else (lambda *_: None)

        def linear(name, x, layer):
            out = bitlinear(x, layer)
            record(f"{name}.q", out.q)
            record(f"{name}.acc", out.acc)
            record(f"{name}.scale", out.scale)
            record(name, out.y)
            return out.y

        h = self.embed(token)
        record("embed", h)
        next_state = []
        for idx, (layer, h_prev) in enumerate(zip(self.qmodel.layers, state)):
            p = f"layer{idx}"
            x = rms_norm(h, layer.attn_norm, eps)
            record(f"{p}.attn_norm", x)
            i = linear(f"{p}.attn.i_proj", x, layer.i_proj)
            f = fxp.vsigmoid(linear(f"{p}.attn.f_proj", x, layer.f_proj))
            if layer.lower_bound is not None:
                f = fxp.vadd(layer.lower_bound, fxp.vmul(f, fmt.ACT_ONE - layer.lower_bound))
            record(f"{p}.attn.f", f)
            i = fxp.vmul(fxp.vsilu(i), fmt.ACT_ONE - f)
            record(f"{p}.attn.i", i)
            h_new = fxp.vadd(fxp.vmul(h_prev, f), i)
            record(f"{p}.attn.state", h_new)
            next_state.append(h_new)
            g = rms_norm(linear(f"{p}.attn.g_proj", x, layer.g_proj), layer.g_norm, eps)
            o = fxp.vmul(g, fxp.vsilu(h_new))
            record(f"{p}.attn.o", o)
            r = fxp.vadd(h, linear(f"{p}.attn.o_proj", o, layer.o_proj))
            record(f"{p}.attn_residual", r)
            x = rms_norm(r, layer.mlp_norm, eps)
            record(f"{p}.mlp_norm", x)
            gate_up = linear(f"{p}.mlp.gate_proj", x, layer.gate_proj)
            gate, up = np.split(gate_up, 2)
            m = fxp.vmul(fxp.vsilu(gate), up)
            record(f"{p}.mlp.hidden", m)
            h = fxp.vadd(r, linear(f"{p}.mlp.down_proj", m, layer.down_proj))
            record(f"{p}.output", h)
        x = rms_norm(h, self.qmodel.final_norm, eps)
        record("final_norm", x)
        logits = linear("lm_head", x, self.qmodel.lm_head)
        return logits, next_state

    def logits_for(self, tokens: list[int]) -> np.ndarray:
        """Logits (ACT words, int64 [T, vocab]) after each token of a sequence, from the zero state."""
        state = self.initial_state()
        out = []
        for token in tokens:
            logits, state = self.step(int(token), state)
            out.append(logits)
        return np.stack(out)

    def generate(self, prompt: list[int], max_new_tokens: int) -> list[int]:
        """Greedy decode: argmax (lowest index on ties) of the logits, fed back."""
        if not prompt:
            raise ValueError("the prompt must hold at least one token")
        state = self.initial_state()
        for token in prompt:
            logits, state = self.step(int(token), state)
        out = []
        for _ in range(max_new_tokens):
            token = int(np.argmax(logits))
            out.append(token)
            logits, state = self.step(token, state)
        return out


def to_float(words: np.ndarray) -> np.ndarray:
    """ACT words to float64 values."""
    return np.asarray(words, dtype=np.float64) / fmt.ACT_ONE
