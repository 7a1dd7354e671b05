import struct
import zlib

import numpy as np
import pytest

from golden.config import preset
from golden.errors import ImageError
from golden.hwexact import HardwareExactModel
from golden.image import HEADER, SECTION_ALIGN, image_bytes, parse_header, parse_image, read_image, write_image
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model


@pytest.fixture(scope="module")
def qmodel():
    return quantize_model(random_model(preset("tiny-odd"), seed=0))


def _assert_same(a, b):
    assert a.config == b.config
    assert np.array_equal(a.embed_mantissas, b.embed_mantissas)
    assert np.array_equal(a.embed_exponents, b.embed_exponents)
    for la, lb in zip(a.layers + [a], b.layers + [b]):
        for name in ("i_proj", "f_proj", "g_proj", "o_proj", "gate_proj", "down_proj", "lm_head"):
            if hasattr(la, name):
                x, y = getattr(la, name), getattr(lb, name)
                assert np.array_equal(x.trits, y.trits) and x.scale == y.scale
                assert np.array_equal(x.norm.mantissas, y.norm.mantissas) and x.norm.exponent == y.norm.exponent


@pytest.mark.parametrize("trit_format", list(TritFormat))
def test_round_trip_is_exact(qmodel, tmp_path, trit_format):
    path = tmp_path / "m.mmfi"
    write_image(qmodel, path, trit_format)
    loaded, info = read_image(path)
    _assert_same(qmodel, loaded)
    assert info.trit_format is trit_format
    assert all(s.offset % SECTION_ALIGN == 0 for s in info.sections)
    tokens = [5, 100, 7]
    assert np.array_equal(HardwareExactModel(qmodel).logits_for(tokens), HardwareExactModel(loaded).logits_for(tokens))


def test_every_payload_byte_is_covered_by_a_crc(qmodel):
    data = image_bytes(qmodel)
    info = parse_header(data)
    rng = np.random.default_rng(0)
    for section in rng.choice(info.sections, 10, replace=False):
        corrupt = bytearray(data)
        corrupt[section.offset + int(rng.integers(section.length))] ^= 0x10
        with pytest.raises(ImageError, match=f"CRC mismatch in section '{section.name}'"):
            parse_image(bytes(corrupt))


def test_header_corruption_is_detected(qmodel):
    data = bytearray(image_bytes(qmodel))
    data[HEADER.size + 3] ^= 1                  # inside the config JSON
    with pytest.raises(ImageError, match="header CRC mismatch"):
        parse_image(bytes(data))


@pytest.mark.parametrize("cut", [3, 30, 2000, -1])
def test_truncation_is_detected(qmodel, cut):
    data = image_bytes(qmodel)
    with pytest.raises(ImageError, match="truncated"):
        parse_image(data[:cut])


def test_bad_magic_and_version(qmodel):
    data = image_bytes(qmodel)
    with pytest.raises(ImageError, match="bad magic"):
        parse_image(b"GGUF" + data[4:])
    with pytest.raises(ImageError, match="format version 9"):
        parse_image(data[:4] + struct.pack("<H", 9) + data[6:])


def _rewrite_header(data: bytes, mutate) -> bytes:
    """Apply `mutate` to the header bytes and re-seal its CRC (a well-formed but wrong image)."""
    header_length = HEADER.unpack_from(data)[3]
    header = bytearray(data[:header_length])
    mutate(header)
    return bytes(header) + struct.pack("<I", zlib.crc32(header)) + data[header_length + 4:]


def test_image_for_another_config_is_rejected(qmodel):
    data = image_bytes(qmodel)
    other = image_bytes(quantize_model(random_model(preset("tiny"), seed=0)))
    # Same sections, but a config claiming one more layer than the image holds.
    def more_layers(header):
        config = header[HEADER.size:]
        at = config.find(b'"num_hidden_layers": 3')
        config[at:at + 22] = b'"num_hidden_layers": 4'
        header[HEADER.size:] = config
    with pytest.raises(ImageError, match="missing section 'model.layers.3"):
        parse_image(_rewrite_header(data, more_layers))
    assert parse_image(other)[0].config == preset("tiny")


def test_illegal_trit_byte_reports_absolute_offset(qmodel, tmp_path):
    data = bytearray(image_bytes(qmodel, TritFormat.TRITS_BASE3))
    info = parse_header(bytes(data))
    section = next(s for s in info.sections if s.name == "lm_head.weight")
    data[section.offset + 2] = 250
    fixed = bytearray(data)
    entry_crc = zlib.crc32(bytes(data[section.offset:section.offset + section.length]))
    # Re-seal the section CRC in its table entry so that the trit decoder itself must catch it.
    table = bytes(data[:HEADER.unpack_from(data)[3]])
    at = table.find(b"lm_head.weight\0")
    struct.pack_into("<I", fixed, at + 64 + 2 + 2 + 4 + 4 + 8 + 8, entry_crc)
    fixed = _rewrite_header(bytes(fixed), lambda header: None)
    with pytest.raises(ImageError, match=f"illegal TRITS_BASE3 byte 0xfa at offset {section.offset + 2}"):
        parse_image(fixed)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        read_image(tmp_path / "none.mmfi")


def test_shipped_image_is_the_compiled_shipped_checkpoint():
    """models/stdlib-256/model.mmfi must be exactly what compiling its checkpoint gives today."""
    from golden.zoo import MODELS_DIR, load_model

    shipped = (MODELS_DIR / "stdlib-256" / "model.mmfi").read_bytes()
    assert shipped == image_bytes(quantize_model(load_model("stdlib-256")), TritFormat.TRITS_BASE3), \
        "stale image: run `mmfree image --model stdlib-256 --out models/stdlib-256/model.mmfi`"
