"""Where models come from: a checkpoint directory, or a seeded random model of a named preset.

A model spec is either a path to a checkpoint directory (upstream layout) or `random:<preset>[:seed]`.
Random models are for tests and for the demo until a trained model ships; every report names the spec.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_checkpoint
from .config import HGRNBitConfig, preset
from .errors import MmfreeError
from .model import HGRNBitForCausalLM

DEFAULT_MODEL = "random:tiny:0"


def random_model(config: HGRNBitConfig, seed: int = 0) -> HGRNBitForCausalLM:
    """Upstream initialisation, then every parameter made non-trivial so that all paths are exercised:
    embeddings N(0, 1), norm weights U(0.5, 1.5), lower_bounds N(0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = HGRNBitForCausalLM(config)
    with torch.no_grad():
        model.model.embeddings.weight.normal_(generator=generator)
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.5, 1.5, generator=generator)
        if config.use_lower_bound:
            model.model.lower_bounds.normal_(generator=generator)
    return model.eval()


def load_model(spec: str = DEFAULT_MODEL) -> HGRNBitForCausalLM:
    if spec.startswith("random:"):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and not parts[2].isdigit()):
            raise MmfreeError(f"bad model spec {spec!r}; expected random:<preset>[:seed]")
        return random_model(preset(parts[1]), int(parts[2]) if len(parts) == 3 else 0)
    if not Path(spec).exists():
        raise MmfreeError(f"model {spec!r}: no such checkpoint directory (or use random:<preset>[:seed])")
    return load_checkpoint(spec)
