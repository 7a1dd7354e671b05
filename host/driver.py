"""The host driver: loads a program and a model image into a device over the link protocol
(host/protocol.py) and generates tokens, on any transport (host/transport.py).

Every wait has a timeout; a command the device refuses for a damaged frame (NAK BAD_CRC / TIMEOUT) or
whose answer arrives damaged is sent again, at most `retries` times; other refusals raise DeviceError
with the device's reason. A program or image made for another build is refused before anything is sent.
Over a transport that may lose datagrams (`lossy`), an idempotent command whose answer does not come is
sent again too, and the image goes `window` frames at a time (host.protocol, "Datagrams").
"""

from __future__ import annotations

import dataclasses
import struct
import time
from collections import deque
from typing import Callable, Iterator

from assembler import isa
from golden.errors import MmfreeError
from golden.image import ImageInfo

from . import protocol as p

STATE_NAMES = {0: "IDLE", 1: "RUNNING", 2: "WAITING", 3: "HALTED", 4: "ERROR"}     # hw.controller.State
RESYNC_BYTES = p.HEAD.size + p.MAX_PAYLOAD + p.CRC.size     # the longest frame: completes any partial one
# Seconds without an answer in a windowed image load before the host asks where the device is: answers
# come a frame's time apart (microseconds on a board), and asking too early costs only a STATUS.
ANSWER_TIMEOUT = 2.0


class LinkError(MmfreeError):
    """The link failed: no answer in time, or answers that break the protocol."""


class DeviceError(MmfreeError):
    """The device refused a command (NAK) or stopped on an error."""

    def __init__(self, message: str, *, nak: p.NakCode | None = None, error: isa.ErrorCode | None = None):
        super().__init__(message)
        self.nak, self.error = nak, error


class IncompatibleError(MmfreeError):
    """A program or image made for another device build."""


def _word(payload: bytes) -> int:
    """A WORD frame's value; ProtocolError for a payload of another size."""
    if len(payload) != 4:
        raise p.ProtocolError(f"WORD of {len(payload)} bytes, expected 4")
    return struct.unpack("<i", payload)[0]


@dataclasses.dataclass(frozen=True)
class Status:
    state: str
    error: isa.ErrorCode
    pc: int
    fifo_free: int
    held_image_bytes: int           # bytes the device holds as written in sequence from 0 (host.protocol)
    held_image_crc: int             # their CRC-32 (zlib's)
    counters: dict[str, int]

    def holds(self, image: bytes) -> bool:
        """The device's memory holds exactly `image` from address 0 (its length and CRC-32 match)."""
        return self.held_image_bytes == len(image) > 0 and self.held_image_crc == p.crc32(image)


class Driver:
    def __init__(self, transport, *, timeout: float = 10.0, retries: int = 3, counter_names: list[str] | None = None):
        self.transport, self.timeout, self.retries = transport, timeout, retries
        self.decoder = p.Decoder()
        self.frames: deque[tuple[int, bytes]] = deque()
        self.words: deque[int] = deque()                 # WORD frames not yet consumed
        self.counter_names = counter_names
        self.build: p.BuildInfo | None = None
        self.lossy = getattr(transport, "lossy", False)
        self.window = getattr(transport, "window", 1)
        # What the waits count: a simulated device's own time where its transport keeps one (CocotbTransport:
        # device cycles, whatever the simulator's pace), else wall-clock seconds.
        self.clock = getattr(transport, "clock", time.monotonic)

    # --- frames ------------------------------------------------------------------------------
    def _next_frame(self, deadline: float) -> tuple[int, bytes]:
        while not self.frames:
            left = deadline - self.clock()
            if left <= 0:
                raise LinkError(f"no answer from the device within {self.timeout:g} s")
            self.frames.extend(self.decoder.feed(self.transport.read(min(left, 0.5))))
        return self.frames.popleft()

    def _reply(self, deadline: float) -> tuple[int, bytes]:
        """The next frame that is not a WORD (WORDs are queued for `generate`)."""
        while True:
            kind, payload = self._next_frame(deadline)
            if kind == p.Reply.WORD:
                self.words.append(_word(payload))
            else:
                return kind, payload

    def command(self, command: p.Command, payload: bytes = b"", expect: p.Reply = p.Reply.ACK,
                idempotent: bool = True) -> bytes:
        """Send `command`; its answer's payload. idempotent: may be sent again after a damaged answer."""
        name = command.name if isinstance(command, p.Command) else f"command 0x{command:02x}"
        for attempt in range(self.retries + 1):
            self.transport.write(p.encode(command, payload))
            deadline = self.clock() + self.timeout
            try:
                while True:
                    kind, body = self._reply(deadline)
                    # An ACK or NAK names its command: one naming another is stale (a frame an earlier
                    # client or a retry left behind), not this command's answer.
                    if kind not in (p.Reply.ACK, p.Reply.NAK) or (body and body[0] == int(command)):
                        break
            except p.ProtocolError as damaged:
                if idempotent and attempt < self.retries:
                    self._drain()
                    continue
                raise LinkError(f"{name}: damaged answer ({damaged})") from None
            except LinkError:
                if self.lossy and idempotent and attempt < self.retries:    # the command or its answer lost
                    continue
                raise
            if kind == p.Reply.NAK:
                code = p.NakCode(body[1]) if len(body) == 2 and body[1] in p.NakCode._value2member_map_ else None
                if code in (p.NakCode.BAD_CRC, p.NakCode.TIMEOUT) and attempt < self.retries:
                    continue
                raise DeviceError(f"the device refused {name}: {code.name if code else body.hex()}", nak=code)
            if kind != expect:
                raise LinkError(f"{name}: expected {expect.name}, got frame kind 0x{kind:02x}")
            return body
        raise LinkError(f"{name}: still failing after {self.retries} retries")   # pragma: no cover

    def _drain(self, quiet: float = 0.2) -> None:
        """Forget the answers in flight (after a damaged frame) until the line is quiet for `quiet`
        seconds (at most the timeout), keeping WORDs: a token is never lost to a damaged reply."""
        deadline = self.clock() + self.timeout
        while True:
            try:
                frames = self.decoder.feed(b"")
            except p.ProtocolError:
                continue
            self.words.extend(_word(payload) for kind, payload in [*self.frames, *frames]
                              if kind == p.Reply.WORD and len(payload) == 4)
            self.frames.clear()
            data = self.transport.read(quiet)
            if not data or self.clock() > deadline:
                return
            try:
                frames = self.decoder.feed(data)
            except p.ProtocolError:
                frames = []
            self.frames.extend(frames)

    def resync(self, quiet: float = 0.2, limit: float | None = None) -> None:
        """End whatever an earlier client left half-sent on the line (a run cut short, a vanished
        connection), then forget every answer in flight: RESYNC_BYTES zero bytes complete any partial
        frame (the device answers it with a NAK) and are skipped outside one; whatever arrives until the
        line has been quiet for `quiet` seconds is dropped (at most `limit` seconds, default the timeout)."""
        self.transport.write(bytes(RESYNC_BYTES))
        deadline = self.clock() + (limit or self.timeout)
        while self.transport.read(quiet) and self.clock() < deadline:
            pass
        self.decoder = p.Decoder()
        self.frames.clear()
        self.words.clear()

    # --- commands ------------------------------------------------------------------------------
    def hello(self) -> p.BuildInfo:
        try:
            reply = self.command(p.Command.HELLO, bytes([p.PROTOCOL_VERSION]), expect=p.Reply.HELLO_REPLY)
        except DeviceError as refused:
            if refused.nak is p.NakCode.BAD_LENGTH:      # a version-1 device takes only an empty HELLO
                raise IncompatibleError(f"the device speaks protocol version 1, this host {p.PROTOCOL_VERSION}: "
                                        "rebuild the bitstream with this mmfree") from None
            raise
        try:
            self.build = p.BuildInfo.unpack(reply)
        except p.VersionError as other:
            raise IncompatibleError(str(other)) from None
        except p.ProtocolError as malformed:
            raise LinkError(f"HELLO: {malformed}") from None
        if self.build.isa_opcodes != len(isa.OPS):
            raise IncompatibleError(f"the device implements {self.build.isa_opcodes} opcodes, this host's ISA "
                                    f"{len(isa.OPS)}: rebuild the bitstream or update mmfree")
        return self.build

    def check_compatible(self, info: ImageInfo, image_size: int, instructions: int, vmem_words: int,
                         vector_alignment: int = isa.VECTOR_ALIGN) -> None:
        """Raise IncompatibleError unless this image and program run on the device's build (`image_size`: the
        external memory the program uses, its image and work area: CompiledProgram.memory_bytes;
        `vector_alignment`: isa.vector_alignment of the program)."""
        build, config = self.build or self.hello(), info.config
        problems = []
        if info.trit_format.value != build.trit_format:
            problems.append(f"the image packs weights as {info.trit_format.name}, the device decodes format {build.trit_format}")
        if image_size > build.memory_bytes:
            problems.append(f"the image and the program's work area need {image_size:,} bytes, the device's memory "
                            f"holds {build.memory_bytes:,}")
        if instructions > build.program_words:
            problems.append(f"the program has {instructions} instructions, the device's memory {build.program_words}")
        if vmem_words > build.vmem_words:
            problems.append(f"the program needs {vmem_words} VMEM words, the device has {build.vmem_words}")
        if build.vector_width > vector_alignment:
            problems.append(f"the program's vectors start on multiples of {vector_alignment} words, the device's "
                            f"vector width {build.vector_width} needs multiples of {build.vector_width}")
        longest = max(config.hidden_size, config.inner_size, config.mlp_size)
        if longest > min(build.max_length, build.max_cols):
            problems.append(f"vectors of {longest} elements exceed the device's {min(build.max_length, build.max_cols)}")
        if max(config.vocab_size, config.mlp_size, config.inner_size) > build.max_rows:
            problems.append(f"matrices of {max(config.vocab_size, config.mlp_size)} rows exceed the device's {build.max_rows}")
        if problems:
            raise IncompatibleError("model built for another configuration: " + "; ".join(problems))

    def status(self) -> Status:
        body = self.command(p.Command.STATUS, expect=p.Reply.STATUS_REPLY)
        head = p.STATUS_HEAD.size
        if len(body) < head or (len(body) - head) % 8:
            raise LinkError(f"STATUS_REPLY of {len(body)} bytes: not {head} + 8 per counter")
        state, error, pc, free, held_bytes, held_crc = p.STATUS_HEAD.unpack_from(body)
        values = struct.unpack_from(f"<{(len(body) - head) // 8}Q", body, head)
        names = self.counter_names or [f"counter{i}" for i in range(len(values))]
        if len(names) != len(values):
            raise LinkError(f"STATUS_REPLY holds {len(values)} counters, this host knows {len(names)}")
        if error not in isa.ErrorCode._value2member_map_:
            raise LinkError(f"STATUS_REPLY: unknown error code {error}")
        return Status(STATE_NAMES.get(state, str(state)), isa.ErrorCode(error), pc, free, held_bytes, held_crc,
                      dict(zip(names, values)))

    def load_program(self, program: bytes) -> None:
        per_frame = (p.MAX_PAYLOAD - 2) // isa.INSTRUCTION_BYTES
        count = len(program) // isa.INSTRUCTION_BYTES
        for first in range(0, count, per_frame):
            chunk = program[first * isa.INSTRUCTION_BYTES:(first + per_frame) * isa.INSTRUCTION_BYTES]
            self.command(p.Command.WRITE_PROGRAM, struct.pack("<H", first) + chunk)

    def load_image(self, image: bytes, progress: Callable[[int], None] | None = None) -> None:
        chunk = p.MAX_PAYLOAD - 4
        if self.window > 1:
            return self._load_image_windowed(image, chunk, progress or (lambda count: None))
        for address in range(0, len(image), chunk):
            data = image[address:address + chunk]
            self.command(p.Command.WRITE_IMAGE, struct.pack("<I", address) + data)
            if progress:
                progress(len(data))

    def _load_image_windowed(self, image: bytes, chunk: int, progress: Callable[[int], None]) -> None:
        """`window` WRITE_IMAGE frames in flight, in address order; each ACK lets the next one go. A missing
        answer (timeout), a NAK for a damaged frame or a damaged answer: wait until the answers stop, ask
        STATUS how much of the image the device holds in sequence and go on from there (host.protocol,
        "Datagrams"), at most `retries` times without progress. The device must hold it all at the end."""
        frames = -(-len(image) // chunk)
        answered = sent = 0                         # frames answered / sent since `resumed`
        resumed = reported = failures = 0           # first frame of this pass; bytes reported to progress
        while resumed + answered < frames:
            while resumed + sent < frames and sent - answered < self.window:
                address = (resumed + sent) * chunk
                self.transport.write(p.encode(p.Command.WRITE_IMAGE, struct.pack("<I", address) + image[address:address + chunk]))
                sent += 1
            try:
                kind, body = self._reply(self.clock() + min(self.timeout, ANSWER_TIMEOUT))
                if kind == p.Reply.ACK and body[:1] == bytes([p.Command.WRITE_IMAGE]):
                    answered += 1
                    done = min((resumed + answered) * chunk, len(image))
                    if done > reported:
                        progress(done - reported)
                        reported = done
                    continue
                if kind == p.Reply.NAK and body[:1] == bytes([p.Command.WRITE_IMAGE]) and len(body) == 2 \
                        and body[1] not in (p.NakCode.BAD_CRC, p.NakCode.TIMEOUT):
                    raise DeviceError(f"the device refused WRITE_IMAGE: {p.NakCode(body[1]).name}", nak=p.NakCode(body[1]))
                if kind != p.Reply.NAK:
                    continue                        # a stale answer of an earlier command
            except (LinkError, p.ProtocolError):
                pass
            # A frame or an answer was lost or damaged: start again where the device's sequence ends. The
            # device takes datagrams in order, so STATUS is answered after every frame sent before it.
            held = self.status().held_image_bytes
            if held % chunk and held != len(image):
                held = 0                            # not a sequence this load wrote: from the start
            failures = 0 if held > resumed * chunk else failures + 1
            if failures > self.retries:
                raise LinkError(f"WRITE_IMAGE: no progress after {self.retries} retries at byte {held:,}")
            resumed, answered, sent = frames if held == len(image) else held // chunk, 0, 0
        status = self.status()
        if not status.holds(image):
            raise LinkError(f"the image load ended with the device holding {status.held_image_bytes:,} bytes "
                            f"(CRC-32 {status.held_image_crc:08x}), not the {len(image):,}-byte image")

    def start(self, instructions: int, image_size: int) -> Status:
        """Start the program; wait until it waits for a request (the image header checked)."""
        self.command(p.Command.START, struct.pack("<HI", instructions, image_size), idempotent=False)
        return self.wait_for("WAITING")

    def wait_for(self, state: str, timeout: float | None = None) -> Status:
        deadline = self.clock() + (timeout or self.timeout)
        while True:
            status = self.status()
            if status.state == "ERROR":
                raise DeviceError(f"the device stopped with {status.error.name} at pc {status.pc}", error=status.error)
            if status.state == state:
                return status
            if self.clock() > deadline:
                raise LinkError(f"the device did not reach {state} within {timeout or self.timeout:g} s "
                                f"(it is {status.state} at pc {status.pc})")

    def send_words(self, words: list[int]) -> None:
        """Words for the program's RECV, as the device's FIFO makes room."""
        at, deadline = 0, self.clock() + self.timeout
        while at < len(words):
            free = self.status().fifo_free
            if free == 0:
                if self.clock() > deadline:
                    raise LinkError(f"the device's RECV FIFO has had no room for {self.timeout:g} s "
                                    f"({len(words) - at} words still to send)")
                time.sleep(0.01)
                continue
            batch = words[at:at + min(free, p.MAX_PAYLOAD // 4)]
            self.command(p.Command.SEND_WORDS, struct.pack(f"<{len(batch)}I", *[w & 0xFFFFFFFF for w in batch]),
                         idempotent=False)
            at += len(batch)
            deadline = self.clock() + self.timeout

    def next_word(self, timeout: float | None = None) -> int:
        """The program's next SEND word. A device still computing is waited for: when nothing arrives
        within the timeout, STATUS must answer and show the device running with its cycle counter
        advancing; otherwise LinkError."""
        timeout = timeout or self.timeout
        cycles = None
        while not self.words:
            try:
                kind, payload = self._next_frame(self.clock() + timeout)
            except p.ProtocolError as damaged:
                raise LinkError(f"a damaged frame while waiting for tokens ({damaged})") from None
            except LinkError:
                status = self.status()
                if status.state == "ERROR":
                    raise DeviceError(f"the device stopped with {status.error.name} at pc {status.pc}",
                                      error=status.error) from None
                now = status.counters.get("cycles", status.counters.get("counter0"))
                if status.state != "RUNNING" or now == cycles:
                    raise LinkError(f"no word from the device within {timeout:g} s and it is not computing "
                                    f"({status.state} at pc {status.pc})") from None
                cycles = now
                continue
            if kind != p.Reply.WORD:
                raise LinkError(f"unexpected frame kind 0x{kind:02x} while waiting for tokens")
            try:
                self.words.append(_word(payload))
            except p.ProtocolError as damaged:
                raise LinkError(f"a damaged frame while waiting for tokens ({damaged})") from None
        return self.words.popleft()

    def generate(self, prompt: list[int], max_tokens: int, *, logits_words: int = 0,
                 token_timeout: float | None = None) -> Iterator[int]:
        """One request to the serving program (assembler.compiler): the prompt, then `max_tokens` tokens
        as they arrive (each after `logits_words` logit words when the program sends them)."""
        self.send_words([len(prompt), max_tokens, *prompt])
        for _ in range(max_tokens):
            for _ in range(logits_words):
                self.next_word(token_timeout)
            yield self.next_word(token_timeout)

    def stop(self) -> None:
        self.command(p.Command.STOP, idempotent=False)

    def csr(self, batch: bytes) -> list[int]:
        """Run a CSR batch (operations from host.protocol.csr_op; at most CSR_MAX_READS reads, MAX_PAYLOAD bytes)
        on the device's control bus; the words its READs returned, in order. Not resent after a damaged answer
        (host.protocol, "Control bus"): LinkError then."""
        body = self.command(p.Command.CSR, batch, expect=p.Reply.CSR_REPLY, idempotent=False)
        if len(body) % 4:
            raise LinkError(f"CSR_REPLY of {len(body)} bytes: not whole words")
        return list(struct.unpack(f"<{len(body) // 4}I", body))
