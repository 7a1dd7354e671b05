"""Compile a float HGRN-Bit model into the integer parameters the hardware holds.

`QuantizedModel` is exactly the content of a model image (see `image`): ternary matrices, the scalar
constants of every BitLinear, block-floating-point norm weights and embedding rows, and the forget-gate
floors. The hardware-exact model runs from it, so a model image and the golden model cannot disagree.
"""

from __future__ import annotations

import dataclasses
import math

from typing import TYPE_CHECKING

import numpy as np

from . import fixedpoint as fxp
from . import formats as fmt
from .config import HGRNBitConfig

if TYPE_CHECKING:                       # torch only where a float model is quantized: images parse without it
    from .model import HGRNBitForCausalLM


@dataclasses.dataclass
class BlockFloatVector:
    """w ~= mantissas * 2**exponent; mantissas int64 [n] within `bits` signed bits, exponent a signed byte."""
    mantissas: np.ndarray
    exponent: int

    def to_float(self) -> np.ndarray:
        return np.ldexp(self.mantissas.astype(np.float64), self.exponent)


def block_float(values: np.ndarray, bits: int) -> BlockFloatVector:
    """Round a float vector to shared-exponent mantissas (half away from zero), |m| <= 2**(bits-1) - 1."""
    values = np.asarray(values, dtype=np.float64)
    limit = (1 << (bits - 1)) - 1
    peak = float(np.abs(values).max(initial=0.0))
    if peak == 0.0:
        return BlockFloatVector(np.zeros(values.shape, dtype=np.int64), 0)
    exponent = math.frexp(peak)[1] - (bits - 1)
    while True:
        scaled = np.ldexp(values, -exponent)
        mantissas = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int64)
        if np.abs(mantissas).max() <= limit:
            break
        exponent += 1
    if not fmt.EXP_MIN <= exponent <= fmt.EXP_MAX:
        raise ValueError(f"block exponent {exponent} out of the stored range (peak magnitude {peak:g})")
    return BlockFloatVector(mantissas, exponent)


@dataclasses.dataclass
class QuantizedLinear:
    """One BitLinear as the hardware holds it.

    trits: int8 [out, in] in {-1, 0, +1}.
    scale: beta * sqrt(in) / 127 as a scalar float, beta = max(mean|W|, 1e-5) (the dequantisation
           of ternary weights; sqrt(in) and 1/127 fold the RMSNorm and int8 steps, see numerics.md).
    norm: the BitLinear's own RMSNorm weight, 18-bit block float.
    """
    trits: np.ndarray
    scale: fxp.SFloat
    norm: BlockFloatVector

    @property
    def shape(self) -> tuple[int, int]:
        return self.trits.shape


@dataclasses.dataclass
class QuantizedLayer:
    attn_norm: BlockFloatVector
    i_proj: QuantizedLinear
    f_proj: QuantizedLinear
    g_proj: QuantizedLinear
    g_norm: BlockFloatVector
    o_proj: QuantizedLinear
    mlp_norm: BlockFloatVector
    gate_proj: QuantizedLinear
    down_proj: QuantizedLinear
    lower_bound: np.ndarray | None     # int64 [inner], Q0.16 forget-gate floor; None in layer 0 / disabled

    LINEARS = ("i_proj", "f_proj", "g_proj", "o_proj", "gate_proj", "down_proj")
    NORMS = ("attn_norm", "g_norm", "mlp_norm")


@dataclasses.dataclass
class QuantizedModel:
    config: HGRNBitConfig
    embed_mantissas: np.ndarray        # int64 [vocab, d], signed 16-bit
    embed_exponents: np.ndarray        # int64 [vocab], one signed byte per row
    layers: list[QuantizedLayer]
    final_norm: BlockFloatVector
    lm_head: QuantizedLinear


def quantize_linear(module) -> QuantizedLinear:
    import torch

    from .model import SCALE_FLOOR, ternarize

    weight = module.weight.detach().float()
    trits, _ = ternarize(weight)
    beta = float(weight.abs().mean().clamp(min=SCALE_FLOOR))
    return QuantizedLinear(
        trits=trits.to(torch.int8).numpy(),
        scale=fxp.sf_from_float(beta * math.sqrt(module.in_features) / fmt.INT8_MAX),
        norm=block_float(module.norm.weight.detach().double().numpy(), fmt.NORM_WEIGHT_MANT_BITS),
    )


def quantize_embeddings(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = [block_float(row, fmt.EMBED_MANT_BITS) for row in weight]
    return (np.stack([row.mantissas for row in rows]),
            np.array([row.exponent for row in rows], dtype=np.int64))


def quantize_model(model: HGRNBitForCausalLM) -> QuantizedModel:
    import torch

    with torch.no_grad():
        return _quantize_model(model)


def _quantize_model(model: HGRNBitForCausalLM) -> QuantizedModel:
    config = model.config
    lower = model.model.lower_bound_table()
    layers = []
    for idx, block in enumerate(model.model.layers):
        attn, mlp = block.attn, block.mlp
        lower_bound = None
        if lower is not None and idx > 0:
            lower_bound = np.floor(lower[idx].double().numpy() * fmt.ACT_ONE + 0.5).astype(np.int64)
        layers.append(QuantizedLayer(
            attn_norm=block_float(block.attn_norm.weight.double().numpy(), fmt.NORM_WEIGHT_MANT_BITS),
            i_proj=quantize_linear(attn.i_proj), f_proj=quantize_linear(attn.f_proj),
            g_proj=quantize_linear(attn.g_proj),
            g_norm=block_float(attn.g_norm.weight.double().numpy(), fmt.NORM_WEIGHT_MANT_BITS),
            o_proj=quantize_linear(attn.o_proj),
            mlp_norm=block_float(block.mlp_norm.weight.double().numpy(), fmt.NORM_WEIGHT_MANT_BITS),
            gate_proj=quantize_linear(mlp.gate_proj), down_proj=quantize_linear(mlp.down_proj),
            lower_bound=lower_bound,
        ))
    mantissas, exponents = quantize_embeddings(model.model.embeddings.weight.double().numpy())
    return QuantizedModel(
        config=config, embed_mantissas=mantissas, embed_exponents=exponents, layers=layers,
        final_norm=block_float(model.model.norm.weight.double().numpy(), fmt.NORM_WEIGHT_MANT_BITS),
        lm_head=quantize_linear(model.lm_head),
    )


def eps_term(length: int, eps: float) -> int:
    """n * eps in the units of a sum of squares of Q15.16 words (2**-32): the RMSNorm epsilon as an integer."""
    return int(math.floor(length * eps * 2.0 ** (2 * fmt.ACT_FRAC) + 0.5))
