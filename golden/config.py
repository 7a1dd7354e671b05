"""HGRN-Bit model configuration, key for key compatible with upstream `HGRNBitConfig` (model_type "hgrn_bit").

A `config.json` from an upstream checkpoint loads with `HGRNBitConfig.from_json_file`; keys that
upstream defines are validated, Hugging Face's bookkeeping keys are accepted and dropped, and any other
key is an error (a key we do not know may change the math; we never guess).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from .errors import ConfigError

CONFIG_FILE = "config.json"             # a checkpoint directory's configuration (upstream layout)
MODEL_TYPE = "hgrn_bit"

# The fused inference kernel upstream normalises BitLinear inputs with eps = 1e-6 whatever the
# module's own attribute says (see shared MODEL.md); this is that constant (golden.model, golden.hwexact).
BITLINEAR_NORM_EPS = 1e-6

# Keys that Hugging Face's PretrainedConfig writes into every config.json and that do not affect the
# network's math (or that only matter for features we reject separately, e.g. the short convolution).
IGNORED_KEYS = frozenset({
    "architectures", "auto_map", "torch_dtype", "dtype", "transformers_version", "use_cache",
    "initializer_range", "fuse_cross_entropy", "conv_size", "share_conv_kernel", "pad_token_id",
    "tokenizer_class", "return_dict", "output_hidden_states", "output_attentions", "torchscript",
    "use_bfloat16", "tf_legacy_loss", "pruned_heads", "chunk_size_feed_forward", "is_encoder_decoder",
    "is_decoder", "add_cross_attention", "tie_encoder_decoder", "problem_type", "id2label", "label2id",
    "task_specific_params", "finetuning_task", "prefix", "sep_token_id", "decoder_start_token_id",
    "cross_attention_hidden_size", "max_length", "min_length", "do_sample", "early_stopping",
    "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p",
    "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens",
})

ATTN_MODES = ("fused_recurrent", "chunk", "fused_chunk")


@dataclasses.dataclass(frozen=True)
class HGRNBitConfig:
    """Hyper-parameters of an HGRN-Bit (MatMul-free) language model; defaults are upstream's."""

    vocab_size: int = 32000
    hidden_size: int = 2048
    num_hidden_layers: int = 24
    attn_mode: str = "fused_recurrent"
    num_heads: int = 1
    expand_ratio: int = 1
    use_short_conv: bool = False
    use_lower_bound: bool = True
    hidden_ratio: int = 4
    intermediate_size: int | None = None
    hidden_act: str = "swish"
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    tie_word_embeddings: bool = False
    model_type: str = MODEL_TYPE

    def __post_init__(self):
        def positive_int(name):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"config key {name!r} must be a positive integer, got {value!r}")

        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_heads", "expand_ratio",
                     "hidden_ratio", "max_position_embeddings"):
            positive_int(name)
        if self.intermediate_size is not None:
            positive_int("intermediate_size")
        for name in ("use_short_conv", "use_lower_bound", "tie_word_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"config key {name!r} must be true or false, got {getattr(self, name)!r}")
        if self.model_type != MODEL_TYPE:
            raise ConfigError(f"config key 'model_type' is {self.model_type!r}; only {MODEL_TYPE!r} "
                              "(the MatMul-free LM) is supported")
        if self.attn_mode not in ATTN_MODES:
            raise ConfigError(f"config key 'attn_mode' is {self.attn_mode!r}; expected one of {ATTN_MODES}")
        if self.hidden_act != "swish":
            raise ConfigError(f"config key 'hidden_act' is {self.hidden_act!r}; only 'swish' is supported")
        if (isinstance(self.rms_norm_eps, bool) or not isinstance(self.rms_norm_eps, (int, float))
                or not math.isfinite(self.rms_norm_eps) or self.rms_norm_eps <= 0):
            raise ConfigError(f"config key 'rms_norm_eps' must be a positive number, got {self.rms_norm_eps!r}")
        # Features the released models do not use and that the hardware does not implement: refuse
        # them loudly rather than compute something else.
        if self.use_short_conv:
            raise ConfigError("config key 'use_short_conv' is true; the short convolution is not supported")
        if self.num_heads != 1:
            raise ConfigError(f"config key 'num_heads' is {self.num_heads}; only 1 head is supported")
        if self.tie_word_embeddings:
            raise ConfigError("config key 'tie_word_embeddings' is true; the ternary lm_head cannot be tied "
                              "to the full-precision embedding")
        if self.use_lower_bound and self.expand_ratio != 1:
            # Upstream's lower_bounds are [layers, hidden]: they cannot broadcast onto a wider state.
            raise ConfigError("config keys 'use_lower_bound' true and 'expand_ratio' > 1 are incompatible "
                              "(upstream's lower_bounds have hidden_size columns)")
        for name in ("bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError(f"config key {name!r} must be a token id or null, got {value!r}")

    @property
    def inner_size(self) -> int:
        """Width of the MLGRU (i/f/g projections and the recurrent state): hidden * expand_ratio."""
        return self.hidden_size * self.expand_ratio

    @property
    def mlp_size(self) -> int:
        """GLU intermediate width; upstream's rule when intermediate_size is null."""
        if self.intermediate_size is not None:
            return self.intermediate_size
        size = int(self.hidden_size * self.hidden_ratio * 2 / 3)
        return 256 * ((size + 256 - 1) // 256)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> "HGRNBitConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(key for key in data if key not in known and key not in IGNORED_KEYS
                         and not key.startswith("_"))
        if unknown:
            raise ConfigError(f"{source}: unknown config key(s) {unknown}; they may change the model's math, "
                              "so they are not ignored")
        if "model_type" not in data:
            raise ConfigError(f"{source}: missing key 'model_type' (expected {MODEL_TYPE!r})")
        missing = [key for key in ("vocab_size", "hidden_size", "num_hidden_layers") if key not in data]
        if missing:
            raise ConfigError(f"{source}: missing required key(s) {missing}")
        try:
            return cls(**{key: value for key, value in data.items() if key in known})
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None

    @classmethod
    def from_json_file(cls, path: str | Path) -> "HGRNBitConfig":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_directory(cls, directory: str | Path) -> "HGRNBitConfig":
        """The config.json of a checkpoint directory."""
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            raise ConfigError(f"{path}: missing; a checkpoint directory needs {CONFIG_FILE}")
        return cls.from_json_file(path)

    def to_json_file(self, path: str | Path) -> None:
        data = self.to_dict()
        data["architectures"] = ["HGRNBitForCausalLM"]
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# The released checkpoints (ridger/MMfreeLM-*), with upstream defaults elsewhere.
PRESETS = {
    "370M": HGRNBitConfig(hidden_size=1024, num_hidden_layers=24),
    "1.3B": HGRNBitConfig(hidden_size=2048, num_hidden_layers=24),
    "2.7B": HGRNBitConfig(hidden_size=2560, num_hidden_layers=32),
    # The model the project trains and ships (byte-level, Python stdlib corpus): 2.6M parameters.
    "stdlib-256": HGRNBitConfig(vocab_size=256, hidden_size=256, num_hidden_layers=4, hidden_ratio=3,
                                bos_token_id=None, eos_token_id=None),
    # Small configurations for tests and simulation: byte-level vocabulary.
    "tiny": HGRNBitConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2, intermediate_size=128,
                          bos_token_id=None, eos_token_id=None),
    "tiny-odd": HGRNBitConfig(vocab_size=203, hidden_size=40, num_hidden_layers=3, intermediate_size=72,
                              bos_token_id=None, eos_token_id=None),
    "tiny-expand": HGRNBitConfig(vocab_size=97, hidden_size=24, num_hidden_layers=2, expand_ratio=2,
                                 use_lower_bound=False, intermediate_size=40, bos_token_id=None,
                                 eos_token_id=None),
}


def preset(name: str) -> HGRNBitConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}") from None
