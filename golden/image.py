"""The versioned model image: everything the accelerator reads from its weight memory, in one file.

Layout (all integers little-endian):

    offset  size  field
    0       4     magic b"MMFI"
    4       2     format version (FORMAT_VERSION)
    6       2     flags, must be 0
    8       4     header length H: bytes covered by the header CRC (everything before it)
    12      4     config JSON length J
    16      4     section count N
    20      4     trit packing format (packing.TritFormat: 1 = 2 bits/weight, 2 = base-3 1.6 bits/weight)
    24      8     total image length in bytes (a truncated or extended file is detected by it)
    32      J     config.json (UTF-8)
    32+J    N*108 section table, one SECTION_ENTRY per section
    H       4     CRC32 of bytes [0, H)
    ...           section payloads, each starting on a SECTION_ALIGN-byte boundary (DRAM bursts), zero padded

A section entry: name (64 bytes UTF-8, NUL padded; upstream parameter names), kind (u16), reserved
(u16, 0), rows (u32), cols (u32), offset (u64, from file start), length (u64), CRC32 of the payload
(u32), two signed parameters (i32, i32) whose meaning depends on the kind (see SectionKind), and
4 reserved zero bytes.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import struct
import zlib
from pathlib import Path

import numpy as np

from . import formats as fmt
from .config import HGRNBitConfig
from .errors import ConfigError, ImageError, PackingError, expect_type
from .fixedpoint import SFloat
from .packing import TritFormat, pack_trits, packed_size, unpack_trits
from .quantize import BlockFloatVector, QuantizedLayer, QuantizedLinear, QuantizedModel

MAGIC = b"MMFI"
FORMAT_VERSION = 1
SECTION_ALIGN = 64
HEADER = struct.Struct("<4sHHIIIIQ")
SECTION_ENTRY = struct.Struct("<64sHHIIQQIiii")
NAME_BYTES = 64


class SectionKind(enum.IntEnum):
    TRITS = 1           # packed ternary matrix [rows, cols]; params: BitLinear scale mantissa, exponent
    NORM_WEIGHT = 2     # int32 [cols] 18-bit mantissas; param a: shared exponent
    EMBED_MANTISSAS = 3 # int16 [rows, cols]
    EMBED_EXPONENTS = 4 # int8 [rows]
    ACT_VECTOR = 5      # int32 [cols] Q15.16 words (forget-gate floors)


@dataclasses.dataclass(frozen=True)
class Section:
    name: str
    kind: SectionKind
    rows: int
    cols: int
    offset: int
    length: int
    crc32: int
    param_a: int = 0
    param_b: int = 0


@dataclasses.dataclass
class ImageInfo:
    version: int
    trit_format: TritFormat
    config: HGRNBitConfig
    sections: list[Section]
    size: int

    def ternary_bytes(self) -> int:
        return sum(s.length for s in self.sections if s.kind is SectionKind.TRITS)


# --- Which sections a model has -----------------------------------------------------------------

def _layer_prefix(idx: int) -> str:
    return f"model.layers.{idx}."


_LINEAR_PATHS = {"i_proj": "attn.i_proj", "f_proj": "attn.f_proj", "g_proj": "attn.g_proj",
                 "o_proj": "attn.o_proj", "gate_proj": "mlp.gate_proj", "down_proj": "mlp.down_proj"}
_NORM_PATHS = {"attn_norm": "attn_norm", "g_norm": "attn.g_norm", "mlp_norm": "mlp_norm"}


def _payloads(qmodel: QuantizedModel, trit_format: TritFormat):
    """(name, kind, rows, cols, payload bytes, param_a, param_b) for every section, in file order."""
    cfg = qmodel.config

    def linear(name, layer: QuantizedLinear):
        if not fmt.EXP_MIN <= layer.scale.e <= fmt.EXP_MAX:
            raise ImageError(f"{name}: scale exponent {layer.scale.e} does not fit a signed byte")
        rows, cols = layer.shape
        yield (f"{name}.weight", SectionKind.TRITS, rows, cols, pack_trits(layer.trits, trit_format),
               layer.scale.m, layer.scale.e)
        yield from norm(f"{name}.norm.weight", layer.norm)

    def norm(name, vector: BlockFloatVector):
        yield (name, SectionKind.NORM_WEIGHT, 1, len(vector.mantissas),
               vector.mantissas.astype("<i4").tobytes(), vector.exponent, 0)

    yield ("model.embeddings.mantissas", SectionKind.EMBED_MANTISSAS, cfg.vocab_size, cfg.hidden_size,
           qmodel.embed_mantissas.astype("<i2").tobytes(), 0, 0)
    yield ("model.embeddings.exponents", SectionKind.EMBED_EXPONENTS, cfg.vocab_size, 1,
           qmodel.embed_exponents.astype("i1").tobytes(), 0, 0)
    for idx, layer in enumerate(qmodel.layers):
        prefix = _layer_prefix(idx)
        for field, path in _NORM_PATHS.items():
            yield from norm(f"{prefix}{path}.weight", getattr(layer, field))
        for field, path in _LINEAR_PATHS.items():
            yield from linear(f"{prefix}{path}", getattr(layer, field))
        if layer.lower_bound is not None:
            yield (f"{prefix}lower_bound", SectionKind.ACT_VECTOR, 1, len(layer.lower_bound),
                   layer.lower_bound.astype("<i4").tobytes(), 0, 0)
    yield from norm("model.norm.weight", qmodel.final_norm)
    yield from linear("lm_head", qmodel.lm_head)


def _align(value: int) -> int:
    return -(-value // SECTION_ALIGN) * SECTION_ALIGN


def _section_plan(cfg: HGRNBitConfig, trit_format: TritFormat) -> list[tuple[str, SectionKind, int, int, int]]:
    """(name, kind, rows, cols, payload length) of every section, in file order, from the config alone."""
    d, n, inter, vocab = cfg.hidden_size, cfg.inner_size, cfg.mlp_size, cfg.vocab_size
    plan = [("model.embeddings.mantissas", SectionKind.EMBED_MANTISSAS, vocab, d, 2 * vocab * d),
            ("model.embeddings.exponents", SectionKind.EMBED_EXPONENTS, vocab, 1, vocab)]

    def norm(name, size):
        plan.append((name, SectionKind.NORM_WEIGHT, 1, size, 4 * size))

    def linear(name, rows, cols):
        plan.append((f"{name}.weight", SectionKind.TRITS, rows, cols, packed_size(rows, cols, trit_format)))
        norm(f"{name}.norm.weight", cols)

    linear_shapes = {"i_proj": (n, d), "f_proj": (n, d), "g_proj": (n, d), "o_proj": (d, n),
                     "gate_proj": (2 * inter, d), "down_proj": (d, inter)}
    norm_sizes = {"attn_norm": d, "g_norm": n, "mlp_norm": d}
    for idx in range(cfg.num_hidden_layers):
        prefix = _layer_prefix(idx)
        for field, path in _NORM_PATHS.items():
            norm(f"{prefix}{path}.weight", norm_sizes[field])
        for field, path in _LINEAR_PATHS.items():
            linear(f"{prefix}{path}", *linear_shapes[field])
        if cfg.use_lower_bound and idx > 0:
            plan.append((f"{prefix}lower_bound", SectionKind.ACT_VECTOR, 1, n, 4 * n))
    norm("model.norm.weight", d)
    linear("lm_head", vocab, d)
    return plan


def _placement(config_json: bytes, count: int) -> tuple[int, int]:
    """(header length, offset of the first payload)."""
    header_length = HEADER.size + len(config_json) + SECTION_ENTRY.size * count
    return header_length, _align(header_length + 4)


def image_layout(config: HGRNBitConfig, trit_format: TritFormat = TritFormat.TRITS_BASE3) -> ImageInfo:
    """Where every section of an image of `config` lies, without the weights (CRCs and parameters 0).

    What a compiler needs to lay out a program for a model too large to hold (e.g. 2.7B) in Python.
    """
    expect_type(config, HGRNBitConfig, "image_layout's config", ImageError)
    config_json = json.dumps(config.to_dict(), sort_keys=True).encode("utf-8")
    plan = _section_plan(config, trit_format)
    _, offset = _placement(config_json, len(plan))
    sections = []
    for name, kind, rows, cols, length in plan:
        sections.append(Section(name, kind, rows, cols, offset, length, 0))
        offset = _align(offset + length)
    return ImageInfo(FORMAT_VERSION, trit_format, config, sections, offset)


def image_bytes(qmodel: QuantizedModel, trit_format: TritFormat = TritFormat.TRITS_BASE3) -> bytes:
    """Serialise a quantized model to a model image."""
    expect_type(qmodel, QuantizedModel, "the model to serialise (golden.quantize.quantize_model's result)", ImageError)
    config_json = json.dumps(qmodel.config.to_dict(), sort_keys=True).encode("utf-8")
    payloads = list(_payloads(qmodel, trit_format))
    plan = [(name, kind, rows, cols, len(payload)) for name, kind, rows, cols, payload, _, _ in payloads]
    if plan != _section_plan(qmodel.config, trit_format):
        raise ImageError("internal: the section payloads disagree with the layout planned from the config")
    header_length, offset = _placement(config_json, len(payloads))
    entries, blobs = [], []
    for name, kind, rows, cols, payload, param_a, param_b in payloads:
        encoded = name.encode("utf-8")
        if len(encoded) > NAME_BYTES:
            raise ImageError(f"section name {name!r} longer than {NAME_BYTES} bytes")
        entries.append(SECTION_ENTRY.pack(encoded, kind, 0, rows, cols, offset, len(payload),
                                          zlib.crc32(payload), param_a, param_b, 0))
        blobs.append((offset, payload))
        offset = _align(offset + len(payload))
    header = HEADER.pack(MAGIC, FORMAT_VERSION, 0, header_length, len(config_json), len(payloads),
                         int(trit_format), offset) + config_json + b"".join(entries)
    out = bytearray(offset)
    out[:header_length] = header
    out[header_length:header_length + 4] = struct.pack("<I", zlib.crc32(header))
    for place, payload in blobs:
        out[place:place + len(payload)] = payload
    return bytes(out)


def write_image(qmodel: QuantizedModel, path: str | Path,
                trit_format: TritFormat = TritFormat.TRITS_BASE3) -> int:
    expect_type(path, (str, Path), "write_image's path", ImageError)
    data = image_bytes(qmodel, trit_format)
    try:
        Path(path).write_bytes(data)
    except OSError as error:
        raise ImageError(f"{path}: cannot write the model image ({error.strerror or error})") from None
    return len(data)


# --- Reading -----------------------------------------------------------------------------------

def parse_header(data: bytes, source: str = "image") -> ImageInfo:
    """Validate the header and section table (not the payloads) and describe the image."""
    expect_type(data, (bytes, bytearray, memoryview), f"parse_header's data ({source})", ImageError)
    if len(data) < HEADER.size:
        raise ImageError(f"{source}: truncated: {len(data)} bytes, a header needs {HEADER.size}")
    magic, version, flags, header_length, config_length, count, trit_format, total = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ImageError(f"{source}: bad magic {magic!r} at offset 0 (expected {MAGIC!r}); not a model image")
    if version != FORMAT_VERSION:
        raise ImageError(f"{source}: format version {version} at offset 4; this tool reads version "
                         f"{FORMAT_VERSION} — rebuild the image with this version of mmfree")
    if flags != 0:
        raise ImageError(f"{source}: unknown flags 0x{flags:04x} at offset 6")
    if header_length != HEADER.size + config_length + SECTION_ENTRY.size * count:
        raise ImageError(f"{source}: header length {header_length} at offset 8 disagrees with the config "
                         f"length {config_length} and section count {count}")
    if len(data) < header_length + 4:
        raise ImageError(f"{source}: truncated: {len(data)} bytes, the header needs {header_length + 4}")
    (stored_crc,) = struct.unpack_from("<I", data, header_length)
    if zlib.crc32(data[:header_length]) != stored_crc:
        raise ImageError(f"{source}: header CRC mismatch (stored 0x{stored_crc:08x} at offset {header_length})")
    if len(data) != total:
        raise ImageError(f"{source}: {'truncated' if len(data) < total else 'trailing bytes'}: the file holds "
                         f"{len(data)} bytes, its header (offset 24) says {total}")
    try:
        trit_format = TritFormat(trit_format)
    except ValueError:
        raise ImageError(f"{source}: unknown trit format {trit_format} at offset 20") from None
    try:
        config = HGRNBitConfig.from_dict(json.loads(data[HEADER.size:HEADER.size + config_length]),
                                         source=f"{source} (config at offset {HEADER.size})")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ImageError(f"{source}: config at offset {HEADER.size} is not JSON ({error})") from None
    except ConfigError as error:
        raise ImageError(str(error)) from None
    sections = []
    for index in range(count):
        at = HEADER.size + config_length + index * SECTION_ENTRY.size
        name, kind, reserved, rows, cols, offset, length, crc, param_a, param_b, tail = \
            SECTION_ENTRY.unpack_from(data, at)
        try:
            name = name.rstrip(b"\0").decode("utf-8")
            kind = SectionKind(kind)
        except (UnicodeDecodeError, ValueError):
            raise ImageError(f"{source}: section entry {index} at offset {at} has a bad name or kind {kind}") from None
        if reserved or tail:
            raise ImageError(f"{source}: section {name!r} (entry at offset {at}) has non-zero reserved fields")
        if offset % SECTION_ALIGN or offset < header_length + 4 or offset + length > len(data):
            raise ImageError(f"{source}: section {name!r} spans bytes [{offset}, {offset + length}) outside the "
                             f"{len(data)}-byte image or misaligned (truncated file?)")
        sections.append(Section(name, kind, rows, cols, offset, length, crc, param_a, param_b))
    return ImageInfo(version, trit_format, config, sections, len(data))


def parse_image(data: bytes, source: str = "image") -> tuple[QuantizedModel, ImageInfo]:
    """Validate every CRC and shape of an image and rebuild the quantized model it holds."""
    info = parse_header(data, source)
    cfg = info.config
    by_name = {}
    for section in info.sections:
        if section.name in by_name:
            raise ImageError(f"{source}: duplicate section {section.name!r}")
        payload = data[section.offset:section.offset + section.length]
        if zlib.crc32(payload) != section.crc32:
            raise ImageError(f"{source}: CRC mismatch in section {section.name!r} (payload at offset "
                             f"{section.offset}, {section.length} bytes)")
        by_name[section.name] = (section, payload)

    def take(name, kind, rows, cols):
        if name not in by_name:
            raise ImageError(f"{source}: missing section {name!r}")
        section, payload = by_name.pop(name)
        if section.kind is not kind or (section.rows, section.cols) != (rows, cols):
            raise ImageError(f"{source}: section {name!r} is {section.kind.name} {section.rows}x{section.cols}; "
                             f"the config implies {kind.name} {rows}x{cols}")
        itemsize = {SectionKind.NORM_WEIGHT: 4, SectionKind.ACT_VECTOR: 4, SectionKind.EMBED_MANTISSAS: 2,
                    SectionKind.EMBED_EXPONENTS: 1}.get(kind)
        expected = packed_size(rows, cols, info.trit_format) if kind is SectionKind.TRITS else rows * cols * itemsize
        if len(payload) != expected:
            raise ImageError(f"{source}: section {name!r} holds {len(payload)} bytes, expected {expected}")
        return section, payload

    def norm(name, size):
        section, payload = take(name, SectionKind.NORM_WEIGHT, 1, size)
        mantissas = np.frombuffer(payload, dtype="<i4").astype(np.int64)
        limit = (1 << (fmt.NORM_WEIGHT_MANT_BITS - 1)) - 1
        if np.abs(mantissas).max(initial=0) > limit:
            raise ImageError(f"{source}: section {name!r} has mantissas beyond {fmt.NORM_WEIGHT_MANT_BITS} bits")
        return BlockFloatVector(mantissas, section.param_a)

    def linear(name, rows, cols):
        section, payload = take(f"{name}.weight", SectionKind.TRITS, rows, cols)
        try:
            trits = unpack_trits(payload, rows, cols, info.trit_format, offset=section.offset)
        except PackingError as error:
            raise ImageError(f"{source}: section {name + '.weight'!r}: {error}") from None
        scale = SFloat(section.param_a, section.param_b)
        if not (scale.m == 0 or (1 << (fmt.SFLOAT_MANT_BITS - 1)) <= scale.m < (1 << fmt.SFLOAT_MANT_BITS)):
            raise ImageError(f"{source}: section {name + '.weight'!r} has an unnormalised scale mantissa {scale.m}")
        return QuantizedLinear(trits, scale, norm(f"{name}.norm.weight", cols))

    d, inner, mlp = cfg.hidden_size, cfg.inner_size, cfg.mlp_size
    _, mant = take("model.embeddings.mantissas", SectionKind.EMBED_MANTISSAS, cfg.vocab_size, d)
    _, exps = take("model.embeddings.exponents", SectionKind.EMBED_EXPONENTS, cfg.vocab_size, 1)
    layers = []
    for idx in range(cfg.num_hidden_layers):
        p = _layer_prefix(idx)
        lower_bound = None
        if cfg.use_lower_bound and idx > 0:
            _, payload = take(f"{p}lower_bound", SectionKind.ACT_VECTOR, 1, inner)
            lower_bound = np.frombuffer(payload, dtype="<i4").astype(np.int64)
        layers.append(QuantizedLayer(
            attn_norm=norm(f"{p}attn_norm.weight", d),
            i_proj=linear(f"{p}attn.i_proj", inner, d), f_proj=linear(f"{p}attn.f_proj", inner, d),
            g_proj=linear(f"{p}attn.g_proj", inner, d), g_norm=norm(f"{p}attn.g_norm.weight", inner),
            o_proj=linear(f"{p}attn.o_proj", d, inner), mlp_norm=norm(f"{p}mlp_norm.weight", d),
            gate_proj=linear(f"{p}mlp.gate_proj", 2 * mlp, d), down_proj=linear(f"{p}mlp.down_proj", d, mlp),
            lower_bound=lower_bound))
    qmodel = QuantizedModel(
        config=cfg,
        embed_mantissas=np.frombuffer(mant, dtype="<i2").astype(np.int64).reshape(cfg.vocab_size, d),
        embed_exponents=np.frombuffer(exps, dtype="i1").astype(np.int64),
        layers=layers, final_norm=norm("model.norm.weight", d), lm_head=linear("lm_head", cfg.vocab_size, d))
    if by_name:
        raise ImageError(f"{source}: unexpected section(s) {sorted(by_name)} for this config")
    return qmodel, info


def read_image(path: str | Path) -> tuple[QuantizedModel, ImageInfo]:
    expect_type(path, (str, Path), "read_image's path", ImageError)
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: model image not found") from None
    except OSError as error:
        raise ImageError(f"{path}: cannot read the model image ({error.strerror or error})") from None
    return parse_image(data, str(path))
