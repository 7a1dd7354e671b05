"""CRC-32 (zlib's: reflected, polynomial 0xEDB88320, register preset to 0xFFFFFFFF, result inverted) in
hardware, one or more bytes a step; used by the link's frame checks (hw/link.py), its image-load tracking
and the start-time image check (hw/image_check.py). Host side: zlib.crc32."""

from __future__ import annotations

from functools import cache

from amaranth import Cat, Signal

CRC32_POLYNOMIAL = 0xEDB88320          # zlib's CRC-32, reflected
CRC32_INIT = 0xFFFFFFFF                # the register before the first byte; the CRC is the register ^ CRC32_INIT


def _update(crc: int, data: int, count: int) -> int:
    """The register after `count` bytes of `data` (little-endian: the low byte first)."""
    for byte in range(count):
        crc ^= data >> 8 * byte & 0xFF
        for _ in range(8):
            crc = (crc >> 1) ^ (CRC32_POLYNOMIAL if crc & 1 else 0)
    return crc


@cache
def _taps(count: int) -> list[tuple[list[int], list[int]]]:
    """CRC-32 of `count` bytes is linear over GF(2): for each bit of the new register, the register bits
    and data bits whose XOR it is (found by running the bitwise update on each unit vector)."""
    return [([i for i in range(32) if _update(1 << i, 0, count) >> out & 1],
             [j for j in range(8 * count) if _update(0, 1 << j, count) >> out & 1]) for out in range(32)]


def crc32_bytes(m, crc, data, count: int, name: str) -> Signal:
    """`count` bytes of `data` (8 x count bits, the first byte in the low bits) into a CRC-32 register
    `crc` (32 bits): the next register value, a 32-bit signal of one flat XOR per bit (combinational,
    added to `m`), so that several bytes a step cost no more logic depth than a chain of byte steps."""
    result = Signal(32, name=name)
    for out, (crc_bits, data_bits) in enumerate(_taps(count)):
        m.d.comb += result[out].eq(Cat(*[crc[i] for i in crc_bits], *[data[j] for j in data_bits]).xor())
    return result


def crc32_byte(m, crc, byte, name: str) -> Signal:
    """One byte (8 bits) into a CRC-32 register `crc` (32 bits): crc32_bytes of one byte."""
    return crc32_bytes(m, crc, byte, 1, name)
