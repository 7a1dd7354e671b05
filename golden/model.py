"""Float reference of the HGRN-Bit (MatMul-free) language model, faithful to upstream `mmfreelm`.

Module and parameter names mirror upstream so that an upstream state dict loads with
`load_state_dict(strict=True)`. Tensors are float32 unless stated; shapes are [batch, time, features].

Two forwards compute the same function:
- `HGRNBitForCausalLM.forward(input_ids)`: a whole sequence (projections batched over time, the
  recurrence scanned over time).
- `HGRNBitForCausalLM.step(token_ids, state)`: one token with an explicit recurrent state, the way
  the accelerator decodes.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import BITLINEAR_NORM_EPS, HGRNBitConfig
ACT_QMAX = 127          # int8 activations: clamp(round(x * 127 / absmax), -128, 127)
ACT_QMIN = -128
SCALE_FLOOR = 1e-5      # both absmax (activations) and absmean (weights) are clamped below at this


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest, ties away from zero (the fused activation-quant kernel's rounding)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def quantize_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token absmax int8 quantisation. Returns (q as integer-valued float, s_x [..., 1])."""
    scale = ACT_QMAX / x.abs().amax(dim=-1, keepdim=True).clamp(min=SCALE_FLOOR)
    return round_half_away(x * scale).clamp(ACT_QMIN, ACT_QMAX), scale


def ternarize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-tensor absmean ternarisation (torch.round, as upstream's weight_quant). Returns (q, s_w)."""
    scale = 1.0 / weight.abs().mean().clamp(min=SCALE_FLOOR)
    return (weight * scale).round().clamp(-1, 1), scale


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class BitLinear(nn.Module):
    """RMSNorm -> int8 absmax activations -> ternary absmean weights -> one float rescale (no bias).

    With `quantization_aware=True` the forward is the straight-through estimator used for training:
    the same values, with gradients flowing to the latent full-precision weights and activations.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.norm = RMSNorm(in_features, BITLINEAR_NORM_EPS)
        nn.init.normal_(self.weight, std=0.02)
        self.quantization_aware = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        q_x, s_x = quantize_activations(x)
        q_w, s_w = ternarize(self.weight)
        if self.quantization_aware:
            x_ste = x + (q_x / s_x - x).detach()
            w_ste = self.weight + (q_w / s_w - self.weight).detach()
            return x_ste @ w_ste.t()
        return (q_x @ q_w.t()) / (s_x * s_w)


def parallel_scan(f: torch.Tensor, i: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
    """All h_t of h_t = f_t * h_{t-1} + i_t over dim 1 by doubling (Hillis-Steele) on pairs (f, i)."""
    decay, h = f, i
    offset = 1
    while offset < f.shape[1]:
        h = torch.cat([h[:, :offset], decay[:, offset:] * h[:, :-offset] + h[:, offset:]], dim=1)
        decay = torch.cat([decay[:, :offset], decay[:, offset:] * decay[:, :-offset]], dim=1)
        offset *= 2
    return h if state is None else h + decay * state[:, None]


class HGRNBitAttention(nn.Module):
    """The MLGRU token mixer (num_heads = 1): a gated elementwise linear recurrence, no attention."""

    def __init__(self, config: HGRNBitConfig, layer_idx: int):
        super().__init__()
        d, inner = config.hidden_size, config.inner_size
        self.layer_idx = layer_idx
        self.i_proj = BitLinear(d, inner)
        self.f_proj = BitLinear(d, inner)
        self.g_proj = BitLinear(d, inner)
        self.g_norm = RMSNorm(inner, config.rms_norm_eps)
        self.o_proj = BitLinear(inner, d)
        # Training only: evaluate the recurrence in log2(T) steps (same function, other rounding).
        self.parallel_scan = False

    def gates(self, x: torch.Tensor, lower_bound: torch.Tensor | None):
        """Input and forget gates for every position of x: (i, f), each [..., inner]."""
        i = self.i_proj(x)
        f = torch.sigmoid(self.f_proj(x))
        if lower_bound is not None and self.layer_idx > 0:
            f = lower_bound + (1 - lower_bound) * f
        i = nn.functional.silu(i) * (1 - f)
        return i, f

    def output(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        g = self.g_proj(x)
        return self.o_proj(self.g_norm(g) * h * torch.sigmoid(h))

    def forward(self, x: torch.Tensor, lower_bound: torch.Tensor | None,
                state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole sequence: x [B, T, d], state [B, inner] or None (zeros) -> (out [B, T, d], final state).

        Projections run batched over time; the elementwise recurrence runs in time order, as
        upstream's default "fused_recurrent" kernel does (its token-by-token recurrence is the
        reference: a reassociated scan rounds differently and can flip int8 quantisation steps).
        """
        i, f = self.gates(x, lower_bound)
        if self.parallel_scan:
            hs = parallel_scan(f, i, state)
            return self.output(x, hs), hs[:, -1]
        h = torch.zeros_like(i[:, 0]) if state is None else state
        hs = []
        for t in range(x.shape[1]):
            h = f[:, t] * h + i[:, t]
            hs.append(h)
        return self.output(x, torch.stack(hs, dim=1)), h

    def step(self, x: torch.Tensor, lower_bound: torch.Tensor | None, state: torch.Tensor):
        """One token: x [B, d], state [B, inner] -> (out [B, d], next state [B, inner])."""
        i, f = self.gates(x, lower_bound)
        h = f * state + i
        return self.output(x, h), h


class HGRNBitMLP(nn.Module):
    """The GLU channel mixer: down(silu(gate) * up), gate and up being the halves of one BitLinear."""

    def __init__(self, config: HGRNBitConfig):
        super().__init__()
        self.gate_proj = BitLinear(config.hidden_size, 2 * config.mlp_size)
        self.down_proj = BitLinear(config.mlp_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_proj(x).chunk(2, dim=-1)
        return self.down_proj(nn.functional.silu(gate) * up)


class HGRNBitBlock(nn.Module):
    def __init__(self, config: HGRNBitConfig, layer_idx: int):
        super().__init__()
        self.attn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = HGRNBitAttention(config, layer_idx)
        self.mlp_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = HGRNBitMLP(config)

    def forward(self, h, lower_bound, state=None):
        mixed, state = self.attn(self.attn_norm(h), lower_bound, state)
        r = h + mixed
        return r + self.mlp(self.mlp_norm(r)), state


class HGRNBitModel(nn.Module):
    def __init__(self, config: HGRNBitConfig):
        super().__init__()
        self.config = config
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        nn.init.normal_(self.embeddings.weight, std=0.02)
        if config.use_lower_bound:
            self.lower_bounds = nn.Parameter(torch.zeros(config.num_hidden_layers, config.hidden_size))
        self.layers = nn.ModuleList(HGRNBitBlock(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def lower_bound_table(self) -> torch.Tensor | None:
        """Per-layer forget-gate floors [L, d]: cumsum(softmax over layers) minus the first row."""
        if not self.config.use_lower_bound:
            return None
        lb = self.lower_bounds.softmax(dim=0)
        return lb.cumsum(dim=0) - lb[0]


class HGRNBitForCausalLM(nn.Module):
    def __init__(self, config: HGRNBitConfig):
        super().__init__()
        self.config = config
        self.model = HGRNBitModel(config)
        self.lm_head = BitLinear(config.hidden_size, config.vocab_size)

    def set_training_mode(self, enabled: bool) -> None:
        """Straight-through quantisation in every BitLinear and the log-depth scan for training."""
        for module in self.modules():
            if isinstance(module, BitLinear):
                module.quantization_aware = enabled
            if isinstance(module, HGRNBitAttention):
                module.parallel_scan = enabled

    def initial_state(self, batch: int = 1) -> list[torch.Tensor]:
        """Zero recurrent state: one [batch, inner] vector per layer."""
        weight = self.model.embeddings.weight
        return [weight.new_zeros(batch, self.config.inner_size) for _ in self.model.layers]

    def forward(self, input_ids: torch.Tensor, state: list[torch.Tensor] | None = None,
                return_state: bool = False):
        """input_ids [B, T] (int64) -> logits [B, T, vocab] (and the final state when asked)."""
        lower = self.model.lower_bound_table()
        h = self.model.embeddings(input_ids)
        new_state = []
        for idx, layer in enumerate(self.model.layers):
            h, layer_state = layer(h, None if lower is None else lower[idx],
                                   None if state is None else state[idx])
            new_state.append(layer_state)
        logits = self.lm_head(self.model.norm(h))
        return (logits, new_state) if return_state else logits

    @torch.no_grad()
    def step(self, token_ids: torch.Tensor, state: list[torch.Tensor]):
        """One decode step: token_ids [B] -> (logits [B, vocab], next state). `state` is not modified."""
        lower = self.model.lower_bound_table()
        h = self.model.embeddings(token_ids)
        new_state = []
        for idx, layer in enumerate(self.model.layers):
            mixed, layer_state = layer.attn.step(layer.attn_norm(h), None if lower is None else lower[idx],
                                                 state[idx])
            r = h + mixed
            h = r + layer.mlp(layer.mlp_norm(r))
            new_state.append(layer_state)
        return self.lm_head(self.model.norm(h)), new_state


@torch.no_grad()
def generate_greedy(model: HGRNBitForCausalLM, prompt: list[int], max_new_tokens: int) -> list[int]:
    """Greedy token-by-token decode with the float model (argmax, lowest index on ties)."""
    if not prompt:
        raise ValueError("the prompt must hold at least one token")
    state = model.initial_state(1)
    for token in prompt:
        logits, state = model.step(torch.tensor([token]), state)
    out = []
    for _ in range(max_new_tokens):
        token = int(torch.argmax(logits[0]))
        out.append(token)
        logits, state = model.step(torch.tensor([token]), state)
    return out
