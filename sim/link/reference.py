"""The reference model of the device's link receiver, for the link fuzz (sim/link/fuzz.py): the device's
receiver as docs/protocol.md and hw/link.py's docstrings describe it, written in Python (not derived from
the RTL): fed one input (after which the host goes silent) it predicts the answers, in order."""

from __future__ import annotations

import dataclasses
import struct
import zlib

from host import protocol as p


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
        elif self.valid and address > self.next:                    # beyond the held bytes: left as it is
            return
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
      OUT_OF_RANGE; CSR: NO_CONTROL_BUS (a device without a control bus); unknown kinds: UNKNOWN_COMMAND.

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
        if kind == C.CSR:                               # the fuzz's device has no control bus
            assert build.control_bus == p.ControlBus.NONE
            return nak(p.NakCode.NO_CONTROL_BUS)
        return nak(p.NakCode.UNKNOWN_COMMAND)
