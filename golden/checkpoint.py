"""Load and save HGRN-Bit checkpoints in the upstream Hugging Face layout, from local files only.

A checkpoint is a directory holding `config.json` and the weights as `model.safetensors`, a sharded
`model.safetensors.index.json`, or `pytorch_model.bin`. Every parameter must be present with its exact
shape; an unknown or missing name is an error, never silently skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .config import CONFIG_FILE, HGRNBitConfig
from .errors import CheckpointError, expect_type
from .model import HGRNBitForCausalLM

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_FILE = "pytorch_model.bin"


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from None


def _read_weights(directory: Path) -> tuple[dict[str, torch.Tensor], str]:
    if (directory / SAFETENSORS_FILE).is_file():
        path = directory / SAFETENSORS_FILE
        return _read_safetensors(path), str(path)
    if (directory / SAFETENSORS_INDEX).is_file():
        index_path = directory / SAFETENSORS_INDEX
        try:
            weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise CheckpointError(f"{index_path}: not a safetensors index ({error!r})") from None
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            shard_path = directory / shard
            if not shard_path.is_file():
                raise CheckpointError(f"{index_path}: shard {shard!r} is missing")
            tensors.update(_read_safetensors(shard_path))
        return tensors, str(index_path)
    if (directory / TORCH_FILE).is_file():
        path = directory / TORCH_FILE
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a damaged pickle/zip
            raise CheckpointError(f"{path}: not a readable PyTorch state dict ({error})") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
        return state, str(path)
    raise CheckpointError(f"{directory}: no weights found; expected {SAFETENSORS_FILE}, {SAFETENSORS_INDEX} "
                          f"or {TORCH_FILE}")


def check_state_dict(model: HGRNBitForCausalLM, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError unless `state` holds exactly the model's parameters with their shapes."""
    expected = model.state_dict()
    unknown = sorted(set(state) - set(expected))
    missing = sorted(set(expected) - set(state))
    if unknown:
        raise CheckpointError(f"{source}: unknown parameter name(s) {unknown[:8]}"
                              f"{' ...' if len(unknown) > 8 else ''} — not an HGRN-Bit checkpoint of this config?")
    if missing:
        raise CheckpointError(f"{source}: missing parameter(s) {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{source}: {name!r} is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(f"{source}: {name!r} has shape {tuple(tensor.shape)}, the config implies "
                                  f"{tuple(expected[name].shape)}")
        if not tensor.is_floating_point():
            raise CheckpointError(f"{source}: {name!r} has dtype {tensor.dtype}; latent weights are floating point")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{source}: {name!r} holds NaN or infinite values")


def load_checkpoint(directory: str | Path) -> HGRNBitForCausalLM:
    """The float model of a checkpoint directory (float32, eval mode). No network access."""
    expect_type(directory, (str, Path), "load_checkpoint's directory", CheckpointError)
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a checkpoint directory")
    config = HGRNBitConfig.from_directory(directory)
    state, source = _read_weights(directory)
    model = HGRNBitForCausalLM(config)
    check_state_dict(model, state, source)
    model.load_state_dict({name: tensor.float() for name, tensor in state.items()}, strict=True)
    return model.eval()


def save_checkpoint(model: HGRNBitForCausalLM, directory: str | Path, weights: str = "safetensors") -> Path:
    """Write config.json and the weights ('safetensors' or 'bin') in the upstream layout."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(directory / CONFIG_FILE)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    if weights == "safetensors":
        from safetensors.torch import save_file
        save_file(state, str(directory / SAFETENSORS_FILE), metadata={"format": "pt"})
    elif weights == "bin":
        torch.save(state, directory / TORCH_FILE)
    else:
        raise ValueError(f"weights must be 'safetensors' or 'bin', got {weights!r}")
    return directory
