"""How far the hardware-exact model is from the float model on real text.

The text is cut into windows of consecutive tokens; each window is scored from the zero state by the
float model (whole-sequence forward, float32) and by the hardware-exact model (token by token, in
integers). Figures are *measured* (golden models on the CPU).
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
    windows: int
    tokens: int                     # positions compared (all positions of all windows)
    max_logit_error: float
    mean_logit_error: float
    logit_std: float                # of the float logits, to read the errors against
    top1_agreement: float           # fraction of positions with the same argmax
    perplexity_float: float         # exp(mean NLL) of each next token within the windows
    perplexity_hw: float

    @property
    def perplexity_ratio(self) -> float:
        return self.perplexity_hw / self.perplexity_float

    def lines(self) -> list[str]:
        return [
            f"windows x tokens        {self.windows} x {self.tokens // self.windows}",
            f"max |logit error|       {self.max_logit_error:.6f}   (measured; float logit std {self.logit_std:.4f})",
            f"mean |logit error|      {self.mean_logit_error:.6f}   (measured)",
            f"top-1 agreement         {100 * self.top1_agreement:.2f} %   (measured)",
            f"perplexity float        {self.perplexity_float:.4f}   (measured)",
            f"perplexity hw-exact     {self.perplexity_hw:.4f}   (measured; ratio {self.perplexity_ratio:.5f})",
        ]


def spread_windows(tokens: list[int], window: int, count: int) -> list[list[int]]:
    """`count` windows of `window` tokens spread evenly over the text (fewer if it is short)."""
    if len(tokens) < 2:
        raise ValueError("the text must hold at least two tokens")
    window = min(window, len(tokens))
    count = max(1, min(count, len(tokens) // window))
    stride = (len(tokens) - window) // max(1, count - 1) if count > 1 else 0
    return [tokens[i * stride:i * stride + window] for i in range(count)]


def _nll(logits: np.ndarray, window: list[int]) -> np.ndarray:
    """Per-position NLL of window[1:] under logits[:-1] (float64)."""
    log_probs = torch.log_softmax(torch.as_tensor(logits[:-1], dtype=torch.float64), dim=-1)
    return -log_probs.gather(1, torch.as_tensor(window[1:])[:, None])[:, 0].numpy()


@torch.no_grad()
def float_perplexity(model: HGRNBitForCausalLM, tokens: list[int], window: int = 1024, batch: int = 32) -> float:
    """Float-model perplexity over every full window of the text (each from the zero state)."""
    windows = [tokens[i:i + window] for i in range(0, len(tokens) - window + 1, window)] or [tokens]
    nll = []
    for first in range(0, len(windows), batch):
        ids = torch.tensor(windows[first:first + batch])
        logits = model(ids).double()
        nll.append(torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten(),
                                                     reduction="none"))
    return math.exp(float(torch.cat(nll).mean()))


@torch.no_grad()
def measure_fidelity(model: HGRNBitForCausalLM, windows: list[list[int]]) -> FidelityReport:
    hardware = HardwareExactModel(quantize_model(model))
    errors, agree, nll_float, nll_hw, float_all = [], [], [], [], []
    for window in windows:
        if len(window) < 2:
            raise ValueError("every window needs at least two tokens")
        float_logits = model(torch.tensor([window]))[0].double().numpy()
        hw_logits = to_float(hardware.logits_for(window))
        errors.append(np.abs(hw_logits - float_logits).ravel())
        agree.append(hw_logits.argmax(-1) == float_logits.argmax(-1))
        nll_float.append(_nll(float_logits, window))
        nll_hw.append(_nll(hw_logits, window))
        float_all.append(float_logits.ravel())
    error = np.concatenate(errors)
    return FidelityReport(
        windows=len(windows), tokens=sum(len(w) for w in windows),
        max_logit_error=float(error.max()), mean_logit_error=float(error.mean()),
        logit_std=float(np.concatenate(float_all).std()),
        top1_agreement=float(np.concatenate(agree).mean()),
        perplexity_float=math.exp(float(np.concatenate(nll_float).mean())),
        perplexity_hw=math.exp(float(np.concatenate(nll_hw).mean())))
