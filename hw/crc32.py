"""CRC-32 (zlib's: reflected, polynomial 0xEDB88320, register preset to 0xFFFFFFFF, result inverted) in
hardware, one byte a step; used by the link's frame checks (hw/link.py), its image-load tracking and
the start-time image check (hw/image_check.py). Host side: zlib.crc32."""

from __future__ import annotations

from amaranth import Cat, Signal

CRC32_POLYNOMIAL = 0xEDB88320          # zlib's CRC-32, reflected
CRC32_INIT = 0xFFFFFFFF                # the register before the first byte; the CRC is the register ^ CRC32_INIT


def _update(crc: int, byte: int) -> int:
    crc ^= byte
    for _ in range(8):
        crc = (crc >> 1) ^ (CRC32_POLYNOMIAL if crc & 1 else 0)
    return crc


def _byte_taps() -> list[tuple[list[int], list[int]]]:
    """CRC-32 of one byte is linear over GF(2): for each bit of the new register, the register bits and
    byte bits whose XOR it is (found by running the bitwise update on each unit vector)."""
    return [([i for i in range(32) if _update(1 << i, 0) >> out & 1],
             [j for j in range(8) if _update(0, 1 << j) >> out & 1]) for out in range(32)]


_TAPS = _byte_taps()


def crc32_byte(m, crc, byte, name: str) -> Signal:
    """One byte (8 bits) into a CRC-32 register `crc` (32 bits): the next register value, a 32-bit
    signal of XORs (combinational, added to `m`)."""
    result = Signal(32, name=name)
    for out, (crc_bits, byte_bits) in enumerate(_TAPS):
        m.d.comb += result[out].eq(Cat(*[crc[i] for i in crc_bits], *[byte[j] for j in byte_bits]).xor())
    return result
