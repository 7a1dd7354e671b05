"""Host-side checks of `mmfree run` that need no device: tokenizers and refusals before any byte is sent."""

import dataclasses

import pytest

from golden.config import preset
from golden.errors import MmfreeError
from golden.image import image_layout
from golden.packing import TritFormat
from golden.tokenizer import ByteTokenizer
from host.run import FileTokenizer, run, tokenizer_for


def test_tokenizer_json_in_the_model_directory_is_used(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    vocab = {"[UNK]": 0, "def": 1, "main": 2, "(": 3, ")": 4, ":": 5}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    info = image_layout(dataclasses.replace(preset("tiny"), vocab_size=1000), TritFormat.TRITS_2BIT)
    chosen = tokenizer_for(info, str(tmp_path))
    assert isinstance(chosen, FileTokenizer)
    assert chosen.encode("def main ( ) :") == [1, 2, 3, 4, 5]
    with pytest.raises(MmfreeError, match="tokenizer.json"):
        tokenizer_for(info, str(tmp_path / "elsewhere"))
    assert isinstance(tokenizer_for(image_layout(preset("tiny"), TritFormat.TRITS_2BIT)), ByteTokenizer)


class _Untouchable:
    def write(self, data):
        raise AssertionError("nothing may be sent")

    def read(self, timeout):
        raise AssertionError("nothing may be read")


def test_bad_prompts_are_refused_before_sending():
    info = image_layout(preset("tiny"), TritFormat.TRITS_2BIT)
    for prompt, tokens, match in [([], 3, "at least one"), ([1] * 2048, 1, "positions"), ([256], 1, "vocabulary")]:
        with pytest.raises(MmfreeError, match=match):
            run(b"", info, prompt, tokens, _Untouchable())
