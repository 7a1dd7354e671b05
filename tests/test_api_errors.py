"""The Python entry points a notebook calls, fed bad input: each raises the project's own error type
(golden.errors.MmfreeError and its subclasses, never an AttributeError or OSError from deep inside) naming the
file, the byte offset, the key or the argument."""

import json

import pytest

from assembler.asm import AsmError, assemble, assemble_file
from assembler.compiler import CompileError, compile_image, compile_model
from golden.checkpoint import load_checkpoint
from golden.config import HGRNBitConfig, preset
from golden.errors import CheckpointError, ConfigError, ImageError, MmfreeError
from golden.image import image_bytes, image_layout, parse_header, parse_image, read_image, write_image
from golden.zoo import DEFAULT_MODEL, MODELS_DIR

SHIPPED_IMAGE = (MODELS_DIR / DEFAULT_MODEL / "model.mmfi").read_bytes()


def flipped(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def written(path, data: bytes):
    path.write_bytes(data)
    return path


def config_directory(tmp, values: dict):
    (tmp / "ckpt").mkdir()
    (tmp / "ckpt" / "config.json").write_text(json.dumps(values))
    return tmp / "ckpt"


# (call of a temporary directory, the error type, fragments of its message; {tmp} is the directory)
CASES = {
    "checkpoint: no directory": (lambda tmp: load_checkpoint(tmp / "none"), CheckpointError,
                                 ["{tmp}/none: not a checkpoint directory"]),
    "checkpoint: not a path": (lambda tmp: load_checkpoint(None), CheckpointError,
                               ["load_checkpoint's directory must be a str or Path, not NoneType"]),
    "checkpoint: no config": (lambda tmp: load_checkpoint(tmp), ConfigError, ["{tmp}/config.json: missing"]),
    "checkpoint: config not JSON": (lambda tmp: load_checkpoint(written(tmp / "config.json", b"{\n  oops").parent),
                                    ConfigError, ["{tmp}/config.json:2:3: invalid JSON"]),
    "checkpoint: a key's wrong type": (
        lambda tmp: load_checkpoint(config_directory(tmp, {**preset("tiny").to_dict(), "hidden_size": "big"})),
        ConfigError, ["'hidden_size'", "'big'"]),
    "checkpoint: no weights": (lambda tmp: load_checkpoint(config_directory(tmp, preset("tiny").to_dict())),
                               CheckpointError, ["{tmp}/ckpt: no weights found"]),
    "image file: missing": (lambda tmp: read_image(tmp / "m.mmfi"), ImageError, ["{tmp}/m.mmfi: model image not found"]),
    "image file: a directory": (lambda tmp: read_image(tmp), ImageError, ["{tmp}: cannot read the model image"]),
    "image file: not a path": (lambda tmp: read_image(3), ImageError, ["read_image's path must be a str or Path"]),
    "image file: truncated": (lambda tmp: read_image(written(tmp / "m.mmfi", SHIPPED_IMAGE[:-10])),
                              ImageError, ["{tmp}/m.mmfi: truncated", "offset 24"]),
    "image: not bytes": (lambda tmp: parse_header("MMFI"), ImageError, ["parse_header's data (image) must be a bytes"]),
    "image: empty": (lambda tmp: parse_header(b"", "m.mmfi"), ImageError, ["m.mmfi: truncated: 0 bytes"]),
    "image: another format version": (lambda tmp: parse_header(flipped(SHIPPED_IMAGE, 4), "m.mmfi"), ImageError,
                                      ["m.mmfi: format version", "at offset 4"]),
    "image: damaged header": (lambda tmp: parse_header(flipped(SHIPPED_IMAGE, 40), "m.mmfi"), ImageError,
                              ["m.mmfi: header CRC mismatch"]),
    "image: damaged payload": (lambda tmp: parse_image(flipped(SHIPPED_IMAGE, len(SHIPPED_IMAGE) - 5), "m.mmfi"),
                               ImageError, ["m.mmfi: CRC mismatch in section 'lm_head.norm.weight' (payload at offset"]),
    "image: trailing bytes": (lambda tmp: parse_image(SHIPPED_IMAGE + b"\0", "m.mmfi"), ImageError,
                              ["m.mmfi: trailing bytes"]),
    "image build: not a quantized model": (lambda tmp: image_bytes({"weights": []}), ImageError,
                                           ["must be a QuantizedModel, not dict"]),
    "image build: unwritable path": (
        lambda tmp: write_image(parse_image(SHIPPED_IMAGE)[0], tmp / "no" / "m.mmfi"), ImageError,
        ["{tmp}/no/m.mmfi: cannot write the model image (No such file or directory)"]),
    "image layout: not a config": (lambda tmp: image_layout("370M"), ImageError,
                                   ["image_layout's config must be a HGRNBitConfig, not str"]),
    "assembler: not text": (lambda tmp: assemble(b"HALT\n", "p.s"), MmfreeError,
                            ["p.s: the assembly source (text) must be a str, not bytes"]),
    "assembler: bad source": (lambda tmp: assemble("SETLEN 8\n VZERO r1\n", "p.s"), AsmError, ["p.s:2:8: error:"]),
    "assembler: a directory": (lambda tmp: assemble_file(tmp), MmfreeError, ["cannot read assembly source '{tmp}'"]),
    "compiler: not an ImageInfo": (lambda tmp: compile_model(SHIPPED_IMAGE), CompileError,
                                   ["compile_model's info", "not bytes"]),
    "compiler: a truncated image": (lambda tmp: compile_image(SHIPPED_IMAGE[:100]), ImageError,
                                    ["image: truncated: 100 bytes"]),
    "compiler: a bad logits chunk": (lambda tmp: compile_image(SHIPPED_IMAGE, logits_chunk=3), CompileError,
                                     ["logits chunk 3 is shorter than"]),
    "compiler: a vocabulary past the ISA": (
        lambda tmp: compile_model(image_layout(HGRNBitConfig(**{**preset("tiny").to_dict(), "vocab_size": 70000}))),
        CompileError, ["a vocabulary of 70000 tokens exceeds"]),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_raises_the_projects_error_naming_where(name, tmp_path):
    call, error_type, fragments = CASES[name]
    with pytest.raises(error_type) as raised:
        call(tmp_path)
    assert isinstance(raised.value, MmfreeError)
    for fragment in fragments:
        assert fragment.format(tmp=tmp_path) in str(raised.value)
