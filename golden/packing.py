"""Packed ternary weight formats, the single definition used by the compiler, image, RTL and tests.

Matrices are [rows, cols] row-major; every row starts on a byte boundary and its last byte is padded
with zero trits, so that a streaming engine can start each output row on a fresh byte.

- TRITS_2BIT: 4 trits per byte, trit k of a group in bits [2k+1:2k]; code 00 = 0, 01 = +1, 11 = -1
  (the two's complement of the trit), 10 is illegal. 2 bits/weight.
- TRITS_BASE3: 5 trits per byte, byte = sum_k (t_k + 1) * 3**k for k = 0..4 (trit 0 least
  significant); bytes 243..255 are illegal. 8/5 = 1.6 bits/weight.
"""

from __future__ import annotations

import enum

import numpy as np

from .errors import PackingError


class TritFormat(enum.IntEnum):
    TRITS_2BIT = 1
    TRITS_BASE3 = 2

    @property
    def trits_per_byte(self) -> int:
        return 4 if self is TritFormat.TRITS_2BIT else 5


CODE_2BIT = {0: 0b00, 1: 0b01, -1: 0b11}
ILLEGAL_2BIT_CODE = 0b10
BASE3_LIMIT = 3 ** 5            # 243: bytes at or above are illegal
_POW3 = 3 ** np.arange(5, dtype=np.int64)


def row_bytes(cols: int, fmt: TritFormat) -> int:
    return -(-cols // fmt.trits_per_byte)


def packed_size(rows: int, cols: int, fmt: TritFormat) -> int:
    return rows * row_bytes(cols, fmt)


def _padded(trits: np.ndarray, fmt: TritFormat) -> np.ndarray:
    trits = np.asarray(trits)
    if trits.ndim != 2:
        raise PackingError(f"expected a 2-D ternary matrix, got shape {trits.shape}")
    bad = ~np.isin(trits, (-1, 0, 1))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise PackingError(f"value {trits[row, col].item()!r} at [{row}, {col}] is not a trit (-1, 0, +1)")
    rows, cols = trits.shape
    width = row_bytes(cols, fmt) * fmt.trits_per_byte
    out = np.zeros((rows, width), dtype=np.int64)
    out[:, :cols] = trits
    return out.reshape(rows, -1, fmt.trits_per_byte)


def pack_trits(trits: np.ndarray, fmt: TritFormat) -> bytes:
    """Pack a ternary matrix [rows, cols] into bytes, row by row."""
    groups = _padded(trits, fmt)
    if fmt is TritFormat.TRITS_2BIT:
        codes = groups & 0b11                                  # two's complement of -1, 0, +1
        packed = (codes << (2 * np.arange(4, dtype=np.int64))).sum(axis=-1)
    else:
        packed = ((groups + 1) * _POW3).sum(axis=-1)
    return packed.astype(np.uint8).tobytes()


def unpack_trits(data: bytes, rows: int, cols: int, fmt: TritFormat, offset: int = 0) -> np.ndarray:
    """Inverse of pack_trits -> int8 [rows, cols]. Illegal codes and non-zero padding raise
    PackingError naming the byte offset (relative to `offset`, e.g. the section's place in an image)."""
    expected = packed_size(rows, cols, fmt)
    if len(data) != expected:
        raise PackingError(f"packed {fmt.name} matrix {rows}x{cols} needs {expected} bytes, got {len(data)}")
    raw = np.frombuffer(data, dtype=np.uint8).astype(np.int64).reshape(rows, -1)
    if fmt is TritFormat.TRITS_2BIT:
        codes = (raw[..., None] >> (2 * np.arange(4, dtype=np.int64))) & 0b11
        bad = (codes == ILLEGAL_2BIT_CODE).any(axis=-1)
        trits = np.where(codes == 0b11, -1, codes)
    else:
        bad = raw >= BASE3_LIMIT
        trits = (raw[..., None] // _POW3) % 3 - 1
    if bad.any():
        row, byte = map(int, np.argwhere(bad)[0])
        position = offset + row * raw.shape[1] + byte
        raise PackingError(f"illegal {fmt.name} byte 0x{raw[row, byte]:02x} at offset {position}")
    trits = trits.reshape(rows, -1)
    if trits[:, cols:].any():
        row = int(np.argwhere(trits[:, cols:].any(axis=1))[0][0])
        position = offset + (row + 1) * raw.shape[1] - 1
        raise PackingError(f"non-zero padding trit in row {row} (byte offset {position})")
    return trits[:, :cols].astype(np.int8)
