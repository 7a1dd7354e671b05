"""Where models come from: a shipped model, a checkpoint directory, or a seeded random model.

A model spec is the name of a model shipped in `models/` (e.g. `stdlib-256`), a path to a checkpoint
directory (upstream layout), or `random:<preset>[:seed]` (tests). Every report names the spec.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING

from .config import HGRNBitConfig, preset
from .errors import MmfreeError

if TYPE_CHECKING:                       # torch only where a float model is built: names and paths without it
    from .model import HGRNBitForCausalLM

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "stdlib-256"
HELDOUT_FILE = "heldout.txt.gz"


def shipped_model_dir(name: str) -> Path | None:
    """The folder of a model shipped with the project, or None."""
    path = MODELS_DIR / name
    return path if "/" not in name and (path / "config.json").is_file() else None


def heldout_text(spec: str) -> bytes | None:
    """The held-out test split that ships with a trained model (bytes), or None."""
    directory = shipped_model_dir(spec) or Path(spec)
    path = directory / HELDOUT_FILE
    return gzip.decompress(path.read_bytes()) if path.is_file() else None


def random_model(config: HGRNBitConfig, seed: int = 0) -> HGRNBitForCausalLM:
    """Upstream initialisation, then every parameter made non-trivial so that all paths are exercised:
    embeddings N(0, 1), norm weights U(0.5, 1.5), lower_bounds N(0, 1)."""
    import torch

    from .model import HGRNBitForCausalLM

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


def check_model_source(spec: str) -> None:
    """What load_model accepts, checked without loading weights (or torch): a known preset and a numeric seed
    for random:, a shipped model, or a directory holding a readable config.json. Raises MmfreeError."""
    if spec.startswith("random:"):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and not parts[2].isdigit()):
            raise MmfreeError(f"bad model spec {spec!r}; expected random:<preset>[:seed]")
        preset(parts[1])
        return
    if spec and shipped_model_dir(spec):
        return
    path = Path(spec)
    if not spec or not path.exists():
        raise MmfreeError(f"model {spec!r}: no such checkpoint directory or shipped model "
                          f"(shipped: {sorted(p.parent.name for p in MODELS_DIR.glob('*/config.json'))}; "
                          "or use random:<preset>[:seed])")
    if not path.is_dir():
        raise MmfreeError(f"model {spec!r}: not a checkpoint directory (a file; a model image is an .mmfi file)")
    HGRNBitConfig.from_directory(path)


def load_model(spec: str = DEFAULT_MODEL) -> HGRNBitForCausalLM:
    from .checkpoint import load_checkpoint

    check_model_source(spec)
    if spec.startswith("random:"):
        parts = spec.split(":")
        return random_model(preset(parts[1]), int(parts[2]) if len(parts) == 3 else 0)
    return load_checkpoint(shipped_model_dir(spec) or spec)
