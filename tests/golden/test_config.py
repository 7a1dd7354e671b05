import json

import pytest

from golden.config import HGRNBitConfig, PRESETS, preset
from golden.errors import ConfigError

# An upstream config.json as the released checkpoints ship it (HF bookkeeping keys included).
UPSTREAM_370M = {
    "_name_or_path": "ridger/MMfreeLM-370M", "architectures": ["HGRNBitForCausalLM"],
    "attn_mode": "fused_recurrent", "bos_token_id": 1, "conv_size": 4, "eos_token_id": 2,
    "expand_ratio": 1, "fuse_cross_entropy": True, "hidden_act": "swish", "hidden_ratio": 4,
    "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": None,
    "max_position_embeddings": 2048, "model_type": "hgrn_bit", "num_heads": 1, "num_hidden_layers": 24,
    "rms_norm_eps": 1e-06, "share_conv_kernel": True, "tie_word_embeddings": False,
    "torch_dtype": "float32", "transformers_version": "4.40.2", "use_cache": True,
    "use_lower_bound": True, "use_short_conv": False, "vocab_size": 32000,
}


def test_upstream_config_json_loads(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(UPSTREAM_370M))
    config = HGRNBitConfig.from_json_file(path)
    assert config == PRESETS["370M"]


@pytest.mark.parametrize("name, hidden, mlp", [("370M", 1024, 2816), ("1.3B", 2048, 5632), ("2.7B", 2560, 6912)])
def test_intermediate_size_rule(name, hidden, mlp):
    # int(hidden * 4 * 2/3) rounded up to a multiple of 256, as upstream computes it.
    assert preset(name).hidden_size == hidden
    assert preset(name).mlp_size == mlp


def test_round_trip_json(tmp_path):
    for config in PRESETS.values():
        config.to_json_file(tmp_path / "c.json")
        assert HGRNBitConfig.from_json_file(tmp_path / "c.json") == config


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": 0}, "'hidden_size' must be a positive integer"),
    ({"hidden_size": "1024"}, "'hidden_size' must be a positive integer"),
    ({"model_type": "llama"}, "only 'hgrn_bit'"),
    ({"use_short_conv": True}, "short convolution is not supported"),
    ({"num_heads": 4}, "only 1 head"),
    ({"hidden_act": "gelu"}, "only 'swish'"),
    ({"rms_norm_eps": -1}, "'rms_norm_eps' must be a positive number"),
    ({"attn_mode": "parallel"}, "'attn_mode'"),
    ({"tie_word_embeddings": True}, "cannot be tied"),
    ({"expand_ratio": 2}, "incompatible"),
    ({"frobnicate": 3}, "unknown config key(s) ['frobnicate']"),
])
def test_bad_values_raise(tmp_path, change, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**UPSTREAM_370M, **change}))
    with pytest.raises(ConfigError) as error:
        HGRNBitConfig.from_json_file(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("key", ["hidden_size", "vocab_size", "num_hidden_layers", "model_type"])
def test_missing_required_key(key):
    data = dict(UPSTREAM_370M)
    del data[key]
    with pytest.raises(ConfigError, match=key):
        HGRNBitConfig.from_dict(data)


def test_invalid_json_names_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "hidden_size": 12,\n  oops\n}')
    with pytest.raises(ConfigError, match=r"config.json:3:\d+: invalid JSON"):
        HGRNBitConfig.from_json_file(path)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown model preset"):
        preset("7B")
