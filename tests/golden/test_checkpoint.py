import json

import pytest
import torch
from safetensors.torch import save_file

from golden.checkpoint import load_checkpoint, save_checkpoint
from golden.errors import CheckpointError, ConfigError


@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_checkpoint_round_trip_reproduces_logits_exactly(any_model, tmp_path, weights):
    save_checkpoint(any_model, tmp_path, weights=weights)
    loaded = load_checkpoint(tmp_path)
    ids = torch.randint(0, any_model.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded(ids), any_model(ids))
    assert loaded.config == any_model.config


def test_sharded_safetensors_and_half_precision(any_model, tmp_path):
    state = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in any_model.state_dict().items()}
    names = sorted(state)
    save_file({k: state[k] for k in names[::2]}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({k: state[k] for k in names[1::2]}, str(tmp_path / "model-00002-of-00002.safetensors"))
    weight_map = {k: f"model-0000{1 + (i % 2)}-of-00002.safetensors" for i, k in enumerate(names)}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    any_model.config.to_json_file(tmp_path / "config.json")
    loaded = load_checkpoint(tmp_path)
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, state[name].float()), name


def _write(tmp_path, model, state):
    model.config.to_json_file(tmp_path / "config.json")
    save_file(state, str(tmp_path / "model.safetensors"))


def _state(model):
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def test_unknown_parameter_is_an_error(any_model, tmp_path):
    state = _state(any_model)
    state["model.layers.0.attn.q_proj.weight"] = torch.zeros(3, 3)
    _write(tmp_path, any_model, state)
    with pytest.raises(CheckpointError, match=r"unknown parameter name\(s\) \['model.layers.0.attn.q_proj.weight'\]"):
        load_checkpoint(tmp_path)


def test_missing_parameter_is_an_error(any_model, tmp_path):
    state = _state(any_model)
    del state["lm_head.norm.weight"]
    _write(tmp_path, any_model, state)
    with pytest.raises(CheckpointError, match=r"missing parameter\(s\) \['lm_head.norm.weight'\]"):
        load_checkpoint(tmp_path)


def test_shape_mismatch_names_the_key(any_model, tmp_path):
    state = _state(any_model)
    state["model.norm.weight"] = torch.ones(any_model.config.hidden_size + 1)
    _write(tmp_path, any_model, state)
    with pytest.raises(CheckpointError, match=r"'model.norm.weight' has shape \(\d+,\), the config implies"):
        load_checkpoint(tmp_path)


def test_non_finite_values_are_an_error(any_model, tmp_path):
    state = _state(any_model)
    state["lm_head.weight"][0, 0] = float("nan")
    _write(tmp_path, any_model, state)
    with pytest.raises(CheckpointError, match="'lm_head.weight' holds NaN"):
        load_checkpoint(tmp_path)


def test_config_for_another_model_is_an_error(any_model, tmp_path):
    save_checkpoint(any_model, tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["hidden_size"] *= 2
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="the config implies"):
        load_checkpoint(tmp_path)


def test_missing_files(any_model, tmp_path):
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="config.json: missing"):
        load_checkpoint(tmp_path)
    any_model.config.to_json_file(tmp_path / "config.json")
    with pytest.raises(CheckpointError, match="no weights found"):
        load_checkpoint(tmp_path)


def test_corrupt_weight_files(any_model, tmp_path):
    save_checkpoint(any_model, tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable PyTorch state dict"):
        load_checkpoint(tmp_path)
