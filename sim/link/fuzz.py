"""Fuzzing the host link: random and mutated frames and raw byte runs into the simulated device.

Used by sim/link/test_fuzz.py (a small sample) and bench/link_fuzz.py (a long run).

    ReceiverModel   the device's receiver as docs/protocol.md and hw/link.py's docstrings describe it,
                    written in Python (not derived from the RTL): fed one fuzz input (after which the
                    host goes silent) it predicts the answers, in order.
    generate_inputs seeded inputs: mutated frames, raw byte runs with SYNC bytes sprinkled, intact
                    frames the device must refuse or that change nothing.
    fuzz            sends each input to a device (any transport), waits for exactly the predicted
                    answers, checks that the held image (STATUS_REPLY) never changes, and finally that
                    a good request generates the golden tokens.

Two things the fuzz found, both fixed and now checked like every other answer: the fast harness stopped
its clock after taking a frame's last byte when that byte was a lone SYNC (no NAK TIMEOUT followed), and
a NAK TIMEOUT of a frame cut right after its SYNC named the previous frame's command instead of 0.
"""

from __future__ import annotations

import dataclasses
import random
import struct
import time
import zlib
from collections import Counter
from typing import Callable, Iterator

from host import protocol as p

# The fuzz build (shared by the test and the bench, so the Verilator build is cached once).
FUZZ_TIMEOUT_CYCLES = 256
FUZZ_SEED_MODEL = 21
FUZZ_LANES = 16
FUZZ_MEMORY = "sdram"


@dataclasses.dataclass
class FuzzTarget:
    """The model, its image and program, and the device build they run on."""
    model: object                   # golden.quantize QuantizedModel
    image: bytes
    info: object                    # golden.image.ImageInfo
    program: bytes
    instructions: int
    device: object                  # hw.device.Device
    memory: str = FUZZ_MEMORY

    @property
    def build(self) -> p.BuildInfo:
        return self.device.build

    def golden(self, prompt: list[int], tokens: int) -> list[int]:
        from golden.hwexact import HardwareExactModel
        return HardwareExactModel(self.model).generate(prompt, tokens)


def fuzz_target(timeout_cycles: int = FUZZ_TIMEOUT_CYCLES) -> FuzzTarget:
    """The tiny random model (sim/link/test_link.py's) on a device with a short frame timeout."""
    from assembler.compiler import compile_model
    from golden.config import preset
    from golden.image import image_bytes, parse_header
    from golden.packing import TritFormat
    from golden.quantize import quantize_model
    from golden.zoo import random_model
    from host.run import device_for

    model = quantize_model(random_model(preset("tiny"), seed=FUZZ_SEED_MODEL))
    image = image_bytes(model, TritFormat.TRITS_2BIT)
    info = parse_header(image)
    compiled = compile_model(info)
    device = device_for(info, lanes=FUZZ_LANES, memory=FUZZ_MEMORY,
                        program_instructions=len(compiled.program.instructions),
                        vmem_words=compiled.program.vmem_words, timeout_cycles=timeout_cycles)
    return FuzzTarget(model, image, info, compiled.program.to_bytes(), len(compiled.program.instructions), device)


# --- The reference model of the device's receiver ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Answer:
    """One frame the device sends. command: for NAK, the command byte it names (None: not predicted, the
    frame stopped before its kind). payload: the exact payload when predicted (HELLO_REPLY, ACK, NAK).
    status: for STATUS_REPLY, the (state, error, fifo_free, held bytes, held CRC) it reports."""
    kind: int
    code: int | None = None
    command: int | None = None
    payload: bytes | None = None
    status: tuple[int, int, int, int, int] | None = None

    @property
    def name(self) -> str:
        name = p.Reply(self.kind).name if self.kind in p.Reply._value2member_map_ else f"0x{self.kind:02x}"
        if self.kind == p.Reply.NAK and self.code is not None:
            code = p.NakCode(self.code).name if self.code in p.NakCode._value2member_map_ else str(self.code)
            return f"NAK {code}"
        return name


@dataclasses.dataclass
class Prediction:
    answers: list[Answer]
    writes: list[str]               # intact commands that legitimately change the device (ACKed writes, START)
    ends_mid_frame: bool            # the input stopped inside a frame (its last answer: NAK TIMEOUT)
    frames: int                     # frames the receiver started (a SYNC outside a frame)


@dataclasses.dataclass
class HeldImage:
    """host.protocol "Held image": the bytes written in sequence from address 0, as STATUS_REPLY tells."""
    valid: bool = False
    next: int = 0                   # where the sequence ends (the next write continuing it)
    frame_start: int = 0            # address of the last frame written
    crc: int = 0                    # zlib CRC-32 of the held bytes
    frame_crc: int = 0              # ... of those before the last frame

    def write(self, address: int, data: bytes) -> None:
        if address == 0:
            self.valid, self.frame_crc = True, 0
            self.crc = p.crc32(data)
        elif self.valid and address == self.next:
            self.frame_crc = self.crc
            self.crc = zlib.crc32(data, self.crc) & 0xFFFFFFFF
        elif self.valid and address == self.frame_start:            # the last frame sent again
            self.crc = zlib.crc32(data, self.frame_crc) & 0xFFFFFFFF
        else:
            self.valid = False
        self.frame_start, self.next = address, address + len(data)

    @property
    def reported(self) -> tuple[int, int]:
        return (self.next, self.crc) if self.valid else (0, 0)

    @classmethod
    def loaded(cls, image: bytes, chunk: int = p.MAX_PAYLOAD - 4) -> "HeldImage":
        """After host.driver.Driver.load_image(image) (WRITE_IMAGE frames of `chunk` bytes, in order)."""
        held = cls()
        for address in range(0, len(image), chunk):
            held.write(address, image[address:address + chunk])
        return held


IDLE, NONE = 0, 0                   # hw.controller.State.IDLE, assembler.isa.ErrorCode.NONE


class ReceiverModel:
    """The device's receiver and command rules, from docs/protocol.md and hw/link.py's documentation:

    - outside a frame, bytes other than SYNC are skipped; SYNC starts a frame: kind, length (u16 LE),
      payload, CRC-32 (over kind, length, payload);
    - a length above MAX_PAYLOAD is refused (NAK BAD_LENGTH) as soon as it is known, and the bytes after
      it are hunted for SYNC again (none of them taken as the frame's);
    - a frame whose CRC fails: NAK BAD_CRC; a frame that stops (the host silent) before its end: NAK
      TIMEOUT once FRAME_TIMEOUT_CYCLES have passed;
    - an intact frame: its command's answer (host.protocol.Command), BAD_LENGTH before BUSY before
      OUT_OF_RANGE; unknown kinds: UNKNOWN_COMMAND.

    The device state it knows: not running (the fuzz keeps the program stopped), the free room of the
    RECV FIFO, the held image. `predict` leaves them as they are, `feed` applies the input."""

    def __init__(self, build: p.BuildInfo, *, held: HeldImage | None = None, fifo_free: int = p.HOST_FIFO_WORDS):
        self.build, self.held, self.fifo_free = build, held or HeldImage(), fifo_free
        self.running = False

    def predict(self, data: bytes) -> Prediction:
        saved = (dataclasses.replace(self.held), self.fifo_free, self.running)
        try:
            return self.feed(data)
        finally:
            self.held, self.fifo_free, self.running = saved

    def status(self) -> tuple[int, int, int, int, int]:
        return (IDLE, NONE, self.fifo_free, *self.held.reported)

    def feed(self, data: bytes) -> Prediction:
        answers, writes, frames = [], [], 0
        at, size = 0, len(data)
        state, kind, length, payload, stored = "SYNC", None, 0, b"", b""
        while at < size:
            if state == "SYNC":
                found = data.find(p.SYNC, at)
                if found < 0:
                    at = size
                    break
                at, state, kind, frames = found + 1, "KIND", None, frames + 1
            elif state == "KIND":
                kind, at, state = data[at], at + 1, "LENGTH0"
            elif state == "LENGTH0":
                length, at, state = data[at], at + 1, "LENGTH1"
            elif state == "LENGTH1":
                length |= data[at] << 8
                at += 1
                payload, stored = b"", b""
                if length == 0:
                    state = "CRC"
                elif length > p.MAX_PAYLOAD:
                    answers.append(self._nak(kind, p.NakCode.BAD_LENGTH))
                    state = "SYNC"
                else:
                    state = "PAYLOAD"
            elif state == "PAYLOAD":
                take = min(length - len(payload), size - at)
                payload += data[at:at + take]
                at += take
                if len(payload) == length:
                    state = "CRC"
            elif state == "CRC":
                take = min(4 - len(stored), size - at)
                stored += data[at:at + take]
                at += take
                if len(stored) == 4:
                    body = bytes([kind]) + struct.pack("<H", length) + payload
                    if p.crc32(body) != struct.unpack("<I", stored)[0]:
                        answers.append(self._nak(kind, p.NakCode.BAD_CRC))
                    else:
                        answers.append(self._command(kind, payload, writes))
                    state = "SYNC"
        if state != "SYNC":
            answers.append(self._nak(kind, p.NakCode.TIMEOUT))
        return Prediction(answers, writes, state != "SYNC", frames)

    @staticmethod
    def _nak(kind: int | None, code: p.NakCode) -> Answer:
        """A NAK; before its kind byte arrived a frame's command is unknown: 0 (docs/protocol.md)."""
        return Answer(p.Reply.NAK, code=code, command=kind or 0, payload=bytes([kind or 0, code]))

    def _command(self, kind: int, payload: bytes, writes: list[str]) -> Answer:
        C, n, build = p.Command, len(payload), self.build

        def ack():
            return Answer(p.Reply.ACK, payload=bytes([kind]))

        def nak(code):
            return self._nak(kind, code)

        if kind == C.HELLO:
            if n == 0:                                  # a version-1 host: our version only, in its size
                reply = bytes([p.PROTOCOL_VERSION]) + bytes(p.LEGACY_HELLO_BYTES - 1)
                return Answer(p.Reply.HELLO_REPLY, payload=reply)
            if n == 1:
                return Answer(p.Reply.HELLO_REPLY, payload=build.pack())
            return nak(p.NakCode.BAD_LENGTH)
        if kind == C.STATUS:
            return nak(p.NakCode.BAD_LENGTH) if n else Answer(p.Reply.STATUS_REPLY, status=self.status())
        if kind == C.STOP:
            if n:
                return nak(p.NakCode.BAD_LENGTH)
            return nak(p.NakCode.BUSY) if self.running else ack()
        if kind == C.WRITE_PROGRAM:
            if n < 2 + 16 or (n - 2) % 16:
                return nak(p.NakCode.BAD_LENGTH)
            if self.running:
                return nak(p.NakCode.BUSY)
            (first,) = struct.unpack_from("<H", payload)
            if first + (n - 2) // 16 > build.program_words:
                return nak(p.NakCode.OUT_OF_RANGE)
            writes.append("WRITE_PROGRAM")
            return ack()
        if kind == C.WRITE_IMAGE:
            if n < 5:
                return nak(p.NakCode.BAD_LENGTH)
            if self.running:
                return nak(p.NakCode.BUSY)
            (address,) = struct.unpack_from("<I", payload)
            if address + n - 4 > build.memory_bytes:
                return nak(p.NakCode.OUT_OF_RANGE)
            writes.append("WRITE_IMAGE")
            self.held.write(address, payload[4:])
            return ack()
        if kind == C.START:
            if n != 6:
                return nak(p.NakCode.BAD_LENGTH)
            if self.running:
                return nak(p.NakCode.BUSY)
            instructions, image_bytes = struct.unpack("<HI", payload)
            if instructions > build.program_words or image_bytes > build.memory_bytes:
                return nak(p.NakCode.OUT_OF_RANGE)
            writes.append("START")
            self.running = True                         # the answers after this one are not predicted
            return ack()
        if kind == C.SEND_WORDS:
            if n == 0 or n % 4:
                return nak(p.NakCode.BAD_LENGTH)
            if n // 4 > self.fifo_free:
                return nak(p.NakCode.BUSY)
            writes.append("SEND_WORDS")
            self.fifo_free -= n // 4
            return ack()
        return nak(p.NakCode.UNKNOWN_COMMAND)


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
        if case in (3, 4):
            return frame(rng.choice(UNKNOWN_KINDS), self._bytes(self._size()))
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


# --- The runner ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class FuzzResult:
    inputs: int = 0
    bytes_sent: int = 0
    families: Counter = dataclasses.field(default_factory=Counter)
    answers: Counter = dataclasses.field(default_factory=Counter)      # received as predicted, by name
    mismatches: int = 0             # inputs whose answers differ from the prediction (or extra frames)
    hangs: int = 0                  # inputs whose predicted answers did not all come within the deadline
    corrupted_writes: int = 0       # STATUS_REPLYs whose held image (or FIFO room, state) is not the predicted one
    held_checks: int = 0            # STATUS_REPLYs checked (those the fuzz triggered and the periodic ones)
    legitimate_writes: Counter = dataclasses.field(default_factory=Counter)   # intact writes (none by default)
    golden: bool | None = None      # a request after the fuzz generated the golden tokens
    golden_tokens: list[int] = dataclasses.field(default_factory=list)
    expected_tokens: list[int] = dataclasses.field(default_factory=list)
    seconds: float = 0.0            # the fuzz itself (the set-up and the golden request excluded)
    failures: list[str] = dataclasses.field(default_factory=list)     # the first few, with their inputs

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.hangs or self.corrupted_writes) and self.golden is not False

    @property
    def inputs_per_second(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


class _Channel:
    """Frames from the transport, with a deadline."""

    def __init__(self, transport):
        self.transport, self.decoder, self.frames = transport, p.Decoder(), []

    def wait(self, count: int, deadline: float) -> tuple[list[tuple[int, bytes]], str | None]:
        """Up to `count` frames (more if they came in the same read); the error: damaged frame or None."""
        while len(self.frames) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self.frames += self.decoder.feed(self.transport.read(min(left, 0.5)))
            except p.ProtocolError as damaged:
                frames, self.frames = self.frames, []
                return frames, f"damaged frame from the device: {damaged}"
        frames, self.frames = self.frames, []
        return frames, None

    def pending(self, quiet: float) -> list[tuple[int, bytes]]:
        """Whatever arrives until `quiet` seconds pass without a byte (decoding errors swallowed)."""
        frames = self.frames
        self.frames = []
        while True:
            data = self.transport.read(quiet)
            if not data:
                return frames
            try:
                frames += self.decoder.feed(data)
            except p.ProtocolError:
                self.decoder = p.Decoder()


def _compare(answer: Answer, kind: int, payload: bytes) -> str | None:
    """None when the frame is the predicted answer, else what differs."""
    got = _describe([(kind, payload)])
    if kind != answer.kind:
        return f"expected {answer.name}, got {got} {payload.hex()}"
    if kind == p.Reply.NAK and (len(payload) != 2 or payload[1] != answer.code):
        return f"expected {answer.name}, got NAK {payload.hex()}"
    if answer.payload is not None and payload != answer.payload:
        return f"expected {answer.name} {answer.payload.hex()}, got {payload.hex()}"
    return None


def _describe(frames) -> str:
    return ", ".join(Answer(kind).name + ("" if kind != p.Reply.NAK else f" ({payload.hex()})")
                     for kind, payload in frames) or "nothing"


def fuzz(transport, image: bytes, inputs, *, build: p.BuildInfo, program: bytes, instructions: int,
         prompt: list[int], expected: list[int], info=None, check_every: int = 1000,
         cycles_per_second: float = 100_000, slack: float = 1.0, max_failures: int = 20,
         progress: Callable[[FuzzResult], None] | None = None, progress_every: int = 10_000) -> FuzzResult:
    """Load `program` and `image` into the device behind `transport` (stopped), send each input (bytes or
    (family, bytes)) and wait for exactly the answers ReceiverModel predicts: in order, of the predicted
    kind and NAK code (HELLO_REPLY, ACK and NAK payloads byte for byte; STATUS_REPLY's state, FIFO room
    and held image). Hang: not all answers within the deadline, in device cycles (the input's bytes,
    the replies, the frame timeout) at `cycles_per_second` plus `slack` seconds. Every `check_every`
    inputs and at the end a STATUS shows whether anything was written. Then the program is started as
    loaded (not sent again) and must generate `expected` from `prompt`; with `info`, host.run.run does the
    whole host flow once more (the image held, not sent again). An input holding an intact START or
    SEND_WORDS is refused (ValueError): the device must stay idle; intact writes are counted
    (legitimate_writes) and the image loaded again after them."""
    from host.driver import Driver
    from hw.accelerator import CountersLayout

    driver = Driver(transport, timeout=60.0, counter_names=list(CountersLayout().members))
    if driver.status().state != "IDLE":
        driver.stop()
    driver.load_program(program)
    driver.load_image(image)
    model = ReceiverModel(build, held=HeldImage.loaded(image))
    result = FuzzResult()
    channel = _Channel(transport)
    timeout_cycles = build.frame_timeout_cycles

    def fail(message: str) -> None:
        if len(result.failures) < max_failures:
            result.failures.append(message)

    def resync() -> bool:
        """After a surprise: let the device finish (a frame under way times out), then STATUS answers
        (a few tries: the STATUS may land inside a frame left open)."""
        for _ in range(3):
            channel.pending(0.2 + 2 * timeout_cycles / cycles_per_second)
            transport.write(p.encode(p.Command.STATUS))
            deadline = time.monotonic() + slack + 10_000 / cycles_per_second
            while time.monotonic() < deadline:
                frames, _ = channel.wait(1, deadline)
                for kind, payload in frames:
                    if kind == p.Reply.STATUS_REPLY:
                        channel.pending(0.05)
                        check_status(payload, "after a resync")
                        return True
        return False

    def check_status(payload: bytes, where: str) -> bool:
        result.held_checks += 1
        if len(payload) < p.STATUS_HEAD.size:
            fail(f"{where}: STATUS_REPLY of {len(payload)} bytes")
            result.corrupted_writes += 1
            return False
        state, error, _, free, held, crc = p.STATUS_HEAD.unpack_from(payload)
        got = (state, error, free, held, crc)
        if got != model.status():
            result.corrupted_writes += 1
            fail(f"{where}: STATUS_REPLY (state, error, fifo free, held bytes, held CRC) = {got}, "
                 f"expected {model.status()}")
            restore()
            return False
        return True

    def restore() -> None:
        """Back to the known state after a write (the image loaded again, the FIFO as it was)."""
        nonlocal model
        driver.decoder, driver.frames = p.Decoder(), driver.frames.__class__()
        if driver.status().state != "IDLE":
            driver.stop()
        driver.load_image(image)
        model = ReceiverModel(build, held=HeldImage.loaded(image))

    def periodic(where: str) -> None:
        transport.write(p.encode(p.Command.STATUS))
        frames, damaged = channel.wait(1, time.monotonic() + slack + 10_000 / cycles_per_second)
        if damaged or len(frames) != 1 or frames[0][0] != p.Reply.STATUS_REPLY:
            result.mismatches += 1
            fail(f"{where}: STATUS answered {_describe(frames)} {damaged or ''}")
            if not resync():
                result.hangs += 1
            return
        check_status(frames[0][1], where)

    def deadline_cycles(data: bytes, answers: list[Answer]) -> int:
        """Device cycles the input may take: a byte a cycle in, each reply out, the frame timeout."""
        return 4 * len(data) + 400 * len(answers) + 2 * timeout_cycles + 1000

    started = time.monotonic()
    for number, item in enumerate(inputs):
        family, data = item if isinstance(item, tuple) else ("input", item)
        prediction = model.feed(data)
        if {"START", "SEND_WORDS"} & set(prediction.writes):
            raise ValueError(f"input {number} ({data.hex()}) would start the program or queue words: "
                             "the fuzz keeps the device idle")
        result.inputs += 1
        result.bytes_sent += len(data)
        result.families[family] += 1
        transport.write(data)
        problem, frames = None, []
        expected_answers = prediction.answers
        if expected_answers and problem is None:
            deadline = time.monotonic() + slack + deadline_cycles(data, expected_answers) / cycles_per_second
            more, problem = channel.wait(len(expected_answers) - len(frames), deadline)
            frames += more
        if expected_answers or frames:
            if problem is None and len(frames) < len(expected_answers):
                problem = "hang"
            for k, (answer, (kind, payload)) in enumerate(zip(expected_answers, frames)):
                if problem:
                    break
                differs = _compare(answer, kind, payload)
                if differs:
                    problem = f"answer {k}: {differs}"
            if problem is None and len(frames) > len(expected_answers):
                problem = f"extra frames: {_describe(frames[len(expected_answers):])}"
            if problem:
                if problem == "hang":
                    result.hangs += 1
                else:
                    result.mismatches += 1
                fail(f"input {number} ({family}, {len(data)} bytes) {data.hex()}: {problem}; expected "
                     f"{[a.name for a in expected_answers]}, got {_describe(frames)}")
                if not resync() and problem == "hang":
                    fail("the device does not answer STATUS: stopped")
                    break
            else:
                for answer, (kind, payload) in zip(expected_answers, frames):
                    result.answers[answer.name] += 1
                    if answer.kind == p.Reply.STATUS_REPLY:
                        check_status(payload, f"input {number} ({data.hex()})")
        if prediction.writes:                               # only given inputs (the generator makes none)
            result.legitimate_writes.update(prediction.writes)
            restore()
        if check_every and (number + 1) % check_every == 0:
            periodic(f"after input {number}")
        if progress and (number + 1) % progress_every == 0:
            result.seconds = time.monotonic() - started
            progress(result)
    periodic("after the fuzz")
    extra = channel.pending(0.3)
    if extra:
        result.mismatches += 1
        fail(f"after the fuzz: unexpected frames {_describe(extra)}")
    result.seconds = time.monotonic() - started

    # A good request: the program as loaded before the fuzz (not sent again) generates the golden tokens.
    driver.decoder, driver.frames = p.Decoder(), driver.frames.__class__()
    result.expected_tokens = list(expected)
    try:
        driver.start(instructions, len(image))
        result.golden_tokens = list(driver.generate(prompt, len(expected)))
        result.golden = result.golden_tokens == list(expected)
        if info is not None:                                # the whole host flow: held image, not sent again
            from host.run import run
            again = run(image, info, prompt, len(expected), transport, timeout=60.0)
            result.golden = result.golden and again.tokens == list(expected) and not again.image_sent
    except Exception as error:                             # reported, not raised: the figures still count
        result.golden = False
        fail(f"the golden request failed: {type(error).__name__}: {error}")
    if not result.golden:
        fail(f"golden tokens {result.expected_tokens}, got {result.golden_tokens}")
    return result
