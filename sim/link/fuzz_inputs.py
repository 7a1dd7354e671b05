"""The link fuzz's inputs (sim/link/fuzz.py): seeded mutated frames, raw byte runs with SYNC bytes
sprinkled, and intact frames the device must refuse or that change nothing."""

from __future__ import annotations

import random
import struct
from typing import Iterator

from host import protocol as p

from .reference import ReceiverModel  # noqa: F401


# --- The inputs ---------------------------------------------------------------------------------------

UNKNOWN_KINDS = [kind for kind in range(256) if kind not in p.Command._value2member_map_]
FAMILIES = ("mutated", "sequence", "raw", "intact")
MUTATIONS = ("flip", "flip", "flip", "truncate", "truncate", "length", "crc", "drop", "insert", "duplicate",
             "prefix", "suffix", "sync")


def frame(kind: int, payload: bytes, *, length: int | None = None) -> bytes:
    """A frame as host.protocol.encode makes it, except that `length` may be any u16 (the CRC then
    covers the stated length)."""
    body = bytes([kind]) + struct.pack("<H", len(payload) if length is None else length) + payload
    return bytes([p.SYNC]) + body + struct.pack("<I", p.crc32(body))


class InputGenerator:
    """Seeded fuzz inputs as (family, bytes). Families:
    mutated: a valid frame of any kind (unknown kinds too) with 1-3 mutations: bit flips in SYNC, kind,
        length, payload or CRC; truncation; another length field (0, +-few, above MAX_PAYLOAD, random);
        a byte dropped, inserted or doubled; junk (with SYNC bytes) before or after.
    sequence: 2-5 frames in one go, intact harmless ones and mutated ones, junk between.
    raw: random byte runs, SYNC bytes sprinkled at several densities, or random frame headers.
    intact: frames the device must refuse or that change nothing (HELLO of various lengths, STATUS,
        STOP, unknown kinds, WRITE_IMAGE / WRITE_PROGRAM / START with bad lengths or out-of-range
        fields, SEND_WORDS of bad lengths).
    No input holds an intact frame that writes, starts the program or queues words (the model
    predicts each input and those are drawn again): the device stays idle and the final request
    sees exactly the loaded program and image."""

    def __init__(self, build: p.BuildInfo, seed: int = 0, *, weights: dict[str, float] | None = None):
        self.build, self.rng = build, random.Random(seed)
        self.model = ReceiverModel(build)
        weights = weights or {"mutated": 45, "sequence": 15, "raw": 15, "intact": 25}
        self.families, self.weights = list(weights), list(weights.values())

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        while True:
            yield self.next()

    def take(self, count: int) -> list[tuple[str, bytes]]:
        return [self.next() for _ in range(count)]

    def next(self) -> tuple[str, bytes]:
        while True:
            family = self.rng.choices(self.families, self.weights)[0]
            data = getattr(self, family)()
            if data and not self.model.predict(data).writes:
                return family, data

    # --- pieces ---
    def _size(self, small: int = 24) -> int:
        """A payload size: mostly small, sometimes up to MAX_PAYLOAD."""
        r = self.rng.random()
        if r < 0.75:
            return self.rng.randint(0, small)
        if r < 0.95:
            return self.rng.randint(0, 256)
        return self.rng.randint(p.MAX_PAYLOAD - 8, p.MAX_PAYLOAD)

    def _bytes(self, count: int) -> bytes:
        return self.rng.randbytes(count)

    def _junk(self, most: int = 16) -> bytes:
        junk = bytearray(self._bytes(self.rng.randint(1, most)))
        density = self.rng.choice((0.0, 0.1, 0.5))
        for k in range(len(junk)):
            if self.rng.random() < density:
                junk[k] = p.SYNC
        return bytes(junk)

    def valid_frame(self) -> bytes:
        """A valid frame of any kind (those that write included: only for mutating)."""
        C, rng, build = p.Command, self.rng, self.build
        kind = rng.choice([*C, *C, rng.choice(UNKNOWN_KINDS)])
        if kind == C.HELLO:
            payload = rng.choice((b"", bytes([p.PROTOCOL_VERSION]), self._bytes(rng.randint(0, 4))))
        elif kind == C.WRITE_PROGRAM:
            count = rng.randint(1, 4) if rng.random() < 0.9 else (p.MAX_PAYLOAD - 2) // 16
            first = rng.randint(0, max(0, build.program_words - count))
            payload = struct.pack("<H", first) + self._bytes(16 * count)
        elif kind == C.WRITE_IMAGE:
            data = self._bytes(max(1, min(self._size(64), p.MAX_PAYLOAD - 4)))
            address = rng.choice((0, rng.randint(0, build.memory_bytes - len(data))))
            payload = struct.pack("<I", address) + data
        elif kind == C.START:
            payload = struct.pack("<HI", rng.randint(0, build.program_words), rng.randint(0, build.memory_bytes))
        elif kind == C.SEND_WORDS:
            payload = self._bytes(4 * rng.randint(1, 8))
        elif kind in (C.STATUS, C.STOP):
            payload = b""
        else:
            payload = self._bytes(self._size())
        return frame(kind, payload)

    def harmless_frame(self) -> bytes:
        """An intact frame the device refuses, or one that changes nothing."""
        C, rng, build = p.Command, self.rng, self.build
        case = rng.randrange(12)
        if case == 0:
            payload = self._bytes(rng.choice((0, 1, 1, rng.randint(2, 20), self._size())))
            return frame(C.HELLO, payload)
        if case == 1:
            return frame(C.STATUS, b"" if rng.random() < 0.6 else self._bytes(max(1, self._size())))
        if case == 2:
            return frame(C.STOP, b"" if rng.random() < 0.6 else self._bytes(max(1, self._size())))
        if case == 3:
            return frame(rng.choice(UNKNOWN_KINDS), self._bytes(self._size()))
        if case == 4:                                       # CSR: the fuzz's device has no control bus
            assert build.control_bus == p.ControlBus.NONE
            return frame(C.CSR, self._bytes(self._size()))
        if case == 5:                                       # WRITE_IMAGE of a bad length
            return frame(C.WRITE_IMAGE, self._bytes(rng.randint(0, 4)))
        if case == 6:                                       # WRITE_IMAGE beyond the memory
            data = self._bytes(max(1, min(self._size(64), p.MAX_PAYLOAD - 4)))
            address = rng.choice((rng.randint(build.memory_bytes - len(data) + 1, build.memory_bytes + 4),
                                  rng.randint(build.memory_bytes, (1 << 32) - 1), (1 << 32) - 1))
            return frame(C.WRITE_IMAGE, struct.pack("<I", address) + data)
        if case == 7:                                       # WRITE_PROGRAM of a bad length
            size = rng.choice((rng.randint(0, 17), 18 + 16 * rng.randint(0, 30) + rng.randint(1, 15)))
            return frame(C.WRITE_PROGRAM, self._bytes(min(size, p.MAX_PAYLOAD)))
        if case == 8:                                       # WRITE_PROGRAM beyond the program memory
            count = rng.randint(1, (p.MAX_PAYLOAD - 2) // 16 if rng.random() < 0.1 else 4)
            first = rng.randint(max(0, build.program_words - count + 1), 0xFFFF)
            return frame(C.WRITE_PROGRAM, struct.pack("<H", first) + self._bytes(16 * count))
        if case == 9:                                       # START of a bad length
            return frame(C.START, self._bytes(rng.choice((0, 1, 5, 7, rng.randint(0, 40)))) if rng.random() < 0.9
                         else self._bytes(0))
        if case == 10:                                      # START beyond the program or the memory
            instructions, image = rng.randint(0, build.program_words), rng.randint(0, build.memory_bytes)
            if rng.random() < 0.5:
                instructions = rng.randint(build.program_words + 1, 0xFFFF)
            else:
                image = rng.randint(build.memory_bytes + 1, (1 << 32) - 1)
            return frame(C.START, struct.pack("<HI", instructions, image))
        size = rng.choice((0, rng.randint(1, 3), 4 * rng.randint(0, 255) + rng.randint(1, 3)))
        return frame(C.SEND_WORDS, self._bytes(size))              # SEND_WORDS of a bad length

    def mutate(self, data: bytes, count: int) -> bytes:
        f, rng = bytearray(data), self.rng
        length = struct.unpack_from("<H", f, 2)[0] if len(f) >= 4 else 0
        for mutation in rng.sample(MUTATIONS, count):
            if not f:
                break
            if mutation == "flip":
                region = rng.choice(("kind", "length", "payload", "crc", "any"))
                span = {"kind": (1, 2), "length": (2, 4), "payload": (4, 4 + length),
                        "crc": (len(f) - 4, len(f))}.get(region, (0, len(f)))
                low, high = max(0, span[0]), min(len(f), span[1])
                if low >= high:
                    low, high = 0, len(f)
                for _ in range(rng.choice((1, 1, 1, 2, 3))):
                    f[rng.randrange(low, high)] ^= 1 << rng.randrange(8)
            elif mutation == "truncate":
                f = f[:rng.randrange(1, len(f))] if len(f) > 1 else f
            elif mutation == "length" and len(f) >= 4:
                new = rng.choice((0, length + rng.choice((-3, -2, -1, 1, 2, 3, 4)), p.MAX_PAYLOAD, p.MAX_PAYLOAD + 1,
                                  rng.randint(p.MAX_PAYLOAD + 1, 0xFFFF), rng.randint(0, 0xFFFF), rng.randint(0, 64)))
                f[2:4] = struct.pack("<H", new & 0xFFFF)
            elif mutation == "crc" and len(f) >= 8:
                f[-4:] = self._bytes(4)
            elif mutation == "drop":
                del f[rng.randrange(len(f))]
            elif mutation == "insert":
                f.insert(rng.randrange(len(f) + 1), rng.choice((p.SYNC, rng.randrange(256))))
            elif mutation == "duplicate":
                at = rng.randrange(len(f))
                f.insert(at, f[at])
            elif mutation == "prefix":
                f[:0] = self._junk()
            elif mutation == "suffix":
                f += self._junk()
            elif mutation == "sync":                         # a SYNC inside the frame
                f[rng.randrange(len(f))] = p.SYNC
        return bytes(f)

    # --- families ---
    def mutated(self) -> bytes:
        return self.mutate(self.valid_frame(), self.rng.choice((1, 1, 2, 3)))

    def sequence(self) -> bytes:
        parts = []
        for _ in range(self.rng.randint(2, 5)):
            r = self.rng.random()
            parts.append(self.harmless_frame() if r < 0.4 else self.mutated() if r < 0.85 else self._junk())
        return b"".join(parts)

    def raw(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.25:                              # random frame headers with some bytes after
            length = rng.choice((rng.randint(0, 40), rng.randrange(1 << 16)))
            return bytes([p.SYNC, rng.randrange(256)]) + struct.pack("<H", length) + self._bytes(rng.randint(0, 48))
        data = bytearray(self._bytes(rng.choice((rng.randint(1, 16), rng.randint(1, 128), rng.randint(1, 600)))))
        density = rng.choice((0.0, 0.01, 0.05, 0.2, 0.5))
        for k in range(len(data)):
            if rng.random() < density:
                data[k] = p.SYNC
        return bytes(data)

    def intact(self) -> bytes:
        return self.harmless_frame()


def generate_inputs(build: p.BuildInfo, count: int, seed: int = 0) -> list[tuple[str, bytes]]:
    return InputGenerator(build, seed).take(count)
