"""How far the hardware-exact model is from the float model on real text.

Both models see the same token sequence from the zero state; the float model runs its whole-sequence
forward (float32), the hardware-exact model runs token by token in integers. Figures are *measured*
(golden models on the CPU).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from .hwexact import HardwareExactModel, to_float
from .model import HGRNBitForCausalLM
from .quantize import quantize_model


@dataclasses.dataclass
class FidelityReport:
    tokens: int
    max_logit_error: float
    mean_logit_error: float
    logit_std: float                # of the float logits, to read the errors against
    top1_agreement: float           # fraction of positions with the same argmax
    perplexity_float: float
    perplexity_hw: float

    @property
    def perplexity_ratio(self) -> float:
        return self.perplexity_hw / self.perplexity_float

    def lines(self) -> list[str]:
        return [
            f"tokens scored           {self.tokens}",
            f"max |logit error|       {self.max_logit_error:.6f}   (measured; float logit std {self.logit_std:.4f})",
            f"mean |logit error|      {self.mean_logit_error:.6f}   (measured)",
            f"top-1 agreement         {100 * self.top1_agreement:.2f} %   (measured)",
            f"perplexity float        {self.perplexity_float:.4f}   (measured)",
            f"perplexity hw-exact     {self.perplexity_hw:.4f}   (measured; ratio {self.perplexity_ratio:.5f})",
        ]


def perplexity(logits: np.ndarray, tokens: list[int]) -> float:
    """exp(mean NLL) of tokens[1:] under logits[:-1] (float64 log-softmax)."""
    logits = torch.as_tensor(logits[:-1], dtype=torch.float64)
    targets = torch.as_tensor(tokens[1:])
    nll = torch.nn.functional.cross_entropy(logits, targets)
    return math.exp(float(nll))


@torch.no_grad()
def measure_fidelity(model: HGRNBitForCausalLM, tokens: list[int]) -> FidelityReport:
    if len(tokens) < 2:
        raise ValueError("fidelity needs at least two tokens")
    float_logits = model(torch.tensor([tokens]))[0].double().numpy()
    hw_logits = to_float(HardwareExactModel(quantize_model(model)).logits_for(tokens))
    error = np.abs(hw_logits - float_logits)
    return FidelityReport(
        tokens=len(tokens), max_logit_error=float(error.max()), mean_logit_error=float(error.mean()),
        logit_std=float(float_logits.std()),
        top1_agreement=float((hw_logits.argmax(-1) == float_logits.argmax(-1)).mean()),
        perplexity_float=perplexity(float_logits, tokens), perplexity_hw=perplexity(hw_logits, tokens))
