"""`LinkFrontEnd`: the device side of the host link protocol (host/protocol.py) on a byte stream.

    rx bytes ─► frame receiver (SYNC, kind, length, payload into a buffer, CRC-32, inter-byte timeout)
             ─► command: HELLO / WRITE_PROGRAM / WRITE_IMAGE / START / SEND_WORDS / STATUS / STOP / CSR
                  program memory writes, external-memory byte writes, start, RECV FIFO, controller stop,
                  control-bus accesses (hw/link_csr.py; only where the build has a control bus)
    replies (ACK, NAK, HELLO_REPLY, STATUS_REPLY, CSR_REPLY) and the program's SEND words (WORD) ─► frame sender ─► tx

A command's payload is buffered and its CRC checked before anything is written, so a corrupted frame
changes nothing. One command at a time: the receiver takes the next frame once the command's reply
has been handed to the sender. WORD frames go out between replies, in order. A WRITE_IMAGE frame's
bytes are the exception that overlaps: its checks passed, it is acknowledged and handed to the image
writer (hw/link_image_writer.py), which writes them from one half of the payload buffer while the
receiver takes the next frame into the other; the next command runs once the writer is done.

The byte streams are the UART's (hw/uart.py) on a board, the simulation transport's in cocotb.
"""

from __future__ import annotations

import struct

from amaranth import Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from host import protocol as p

from .accelerator import COUNTER_BITS, CountersLayout
from .controller import INSTRUCTION_BITS, State, StatusLayout
from .crc32 import CRC32_INIT, crc32_byte
from .image_reader import ADDRESS_BITS
from .link_csr import ControlBusSignature, CsrBatch
from .link_image_writer import ImageWriter
from .link_sender import frame_sender

COUNTER_BYTES = 8
assert COUNTER_BITS <= 8 * COUNTER_BYTES
STATUS_BYTES = p.STATUS_HEAD.size + COUNTER_BYTES * len(CountersLayout().members)
REPLY_BYTES = max(STATUS_BYTES, p.BuildInfo.FORMAT.size, p.LEGACY_HELLO_BYTES, 4 * p.CSR_MAX_READS)


class ReplyBody(enum.Enum, shape=2):
    """Where a reply's payload comes from when the sender takes it."""
    SHORT = 0           # the reply's 16-bit short payload: ACK, NAK, legacy HELLO_REPLY
    BUILD_INFO = 1      # the build's HELLO_REPLY (a constant)
    STATUS = 2          # the STATUS_REPLY snapshot taken in DISPATCH
    CSR_VALUES = 3      # the words a CSR batch read


class LinkFrontEnd(wiring.Component):
    """Parameters
    build: host.protocol.BuildInfo of the device (answered to HELLO; sizes the address checks; its
    frame_timeout_cycles: cycles between two bytes of a frame before it is dropped, NAK TIMEOUT).

    Ports
    rx / tx: streams of bytes.
    program_write: write port of the program memory.  start: stream of {length, image_bytes}.
    host_in: stream of 32-bit words to the program's RECV (through a HOST_FIFO_WORDS FIFO).
    host_out: stream of the program's SEND words (each becomes a WORD frame).
    mem_write: stream of {addr: byte address, data: byte} to external memory.
    status, counters: the controller's status and the performance counters.  stop: to the controller.
    control: the control bus (ControlBusSignature), only where build.control_bus is not ControlBus.NONE.
    idle: no frame under way, no reply or WORD to send (with the controller neither running nor about to
    take a word from the RECV FIFO, nothing changes until a byte arrives: a simulation may stop the clock).
    START empties the RECV FIFO.
    """

    def __init__(self, *, build: p.BuildInfo):
        if build.frame_timeout_cycles < 2:
            raise ValueError(f"frame_timeout_cycles must be at least 2, got {build.frame_timeout_cycles}")
        self.build, self.timeout_cycles = build, build.frame_timeout_cycles
        program_words = build.program_words
        super().__init__({
            "rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8)),
            "program_write": Out(memory.WritePort.Signature(addr_width=(program_words - 1).bit_length(),
                                                            shape=INSTRUCTION_BITS)),
            "start": Out(stream.Signature(data.StructLayout({"length": range(program_words + 1),
                                                             "image_bytes": ADDRESS_BITS}))),
            "host_in": Out(stream.Signature(32)), "host_out": In(stream.Signature(32)),
            "mem_write": Out(stream.Signature(data.StructLayout({"addr": ADDRESS_BITS, "data": 8}))),
            "status": In(StatusLayout(program_words)), "counters": In(CountersLayout()),
            "stop": Out(1), "idle": Out(1),
            **({"control": Out(ControlBusSignature())} if self.has_control_bus else {}),
        })

    @property
    def has_control_bus(self) -> bool:
        return self.build.control_bus != p.ControlBus.NONE

    def elaborate(self, platform):
        m = Module()
        # START empties the RECV FIFO: words a failed or stopped program left there are not the next request's.
        self._fifo_flush = Signal()
        m.submodules.fifo = fifo = ResetInserter(self._fifo_flush)(SyncFIFOBuffered(width=32, depth=p.HOST_FIFO_WORDS))
        m.d.comb += [self.host_in.valid.eq(fifo.r_rdy), self.host_in.payload.eq(fifo.r_data),
                     fifo.r_en.eq(self.host_in.ready)]
        # The payload buffer in two halves: the receiver fills `half`, the image writer may be emptying the other.
        m.submodules.payload = payload_memory = memory.Memory(shape=8, depth=2 * p.MAX_PAYLOAD, init=[])
        payload_write, payload_read = payload_memory.write_port(), payload_memory.read_port(domain="sync")
        half, half_bits = Signal(), (p.MAX_PAYLOAD - 1).bit_length()
        self._image_writer = writer = ImageWriter(half_bits, ADDRESS_BITS, 16)
        self._half = half
        self._csr = CsrBatch() if self.has_control_bus else None

        # --- The reply the sender will frame: kind, length, payload bytes (little-endian, at the bottom) ---
        # Only a few bits are registered per reply (the payload's source, and the short payload of an ACK,
        # NAK or legacy HELLO_REPLY): a register of the whole payload would need one enable net across
        # hundreds of flip-flops, decoded from the command and its checks, in the cycle of the reply.
        reply_kind, reply_length = Signal(8), Signal(range(REPLY_BYTES + 1))
        reply_body = Signal(ReplyBody)
        reply_short = Signal(16)
        reply_pending = Signal()                     # a command's reply waits for the sender

        def reply(kind, length, *, short=0, body=ReplyBody.SHORT):
            m.d.sync += [reply_kind.eq(kind), reply_length.eq(length), reply_short.eq(short), reply_body.eq(body),
                         reply_pending.eq(1)]

        # --- Receiver and command execution -------------------------------------------------------
        kind, length = Signal(8), Signal(16)
        crc, stored_crc = Signal(32), Signal(32)
        index = Signal(range(p.MAX_PAYLOAD + 1))
        idle_cycles = Signal(range(self.timeout_cycles + 1))
        fields = Signal(48)                          # a command's leading fields (address, counts)
        word = Signal(INSTRUCTION_BITS)              # instruction or word being assembled
        target = Signal(ADDRESS_BITS)                # program index / memory address being written
        # The buffer is read one byte ahead: a state that consumes byte `index` raises `advance`, so the
        # next byte is on payload_read.data in the next cycle (one byte a cycle).
        advance = Signal()
        read_address = Signal.like(index)
        read_index = Mux(advance, index + 1, index)
        m.d.comb += payload_read.addr.eq(Cat(read_index[:half_bits], half))
        m.d.sync += read_address.eq(read_index)
        byte_ready = read_address == index           # payload_read.data is byte `index`
        byte = payload_read.data
        status = self.status
        # The controller's state a cycle ago (a frame takes many cycles: no command can tell): the replies'
        # decisions start from a register here, not from the controller's state across the chip.
        state = Signal.like(status.state)
        m.d.sync += state.eq(status.state)
        running = (state == State.RUNNING) | (state == State.WAITING)
        # The held image (host.protocol, "Held image"): bytes written in sequence from address 0 and
        # their CRC register; the frame being written started at load_frame_start with load_frame_crc.
        load = {name: Signal(ADDRESS_BITS, name=f"load_{name}") for name in ("next", "frame_start")}
        load_crc = Signal(32, init=CRC32_INIT)
        load_frame_crc = Signal(32, init=CRC32_INIT)
        load_valid = Signal()
        self._load = load, load_crc, load_frame_crc, load_valid
        # The image writer folds each byte into load_crc in the cycle after it is written, from a register: the
        # payload buffer's read data comes late in the cycle. (Nothing reads load_crc in that cycle.)
        load_fold = Signal()
        load_byte = Signal(8)
        self._load_fold = load_fold, load_byte
        self._load_extend = Signal()                 # the frame being written extends the held sequence
        m.d.sync += load_fold.eq(0)
        with m.If(load_fold):
            m.d.sync += load_crc.eq(crc32_byte(m, load_crc, load_byte, "load_crc_next"))
        # After the default above: the writer raises load_fold for each byte it writes.
        writer.build(m, payload_memory.read_port(domain="sync"), self.mem_write,
                     lambda byte, next_address: self._image_written(m, byte, next_address))

        def nak(code):
            reply(p.Reply.NAK, 2, short=Cat(kind, Const(code, 8)))

        def ack():
            reply(p.Reply.ACK, 1, short=kind)

        def take_byte(state_in_frame: bool):
            """rx.ready for one byte; the timeout counts while a frame is under way."""
            m.d.comb += self.rx.ready.eq(1)
            if state_in_frame:
                m.d.sync += idle_cycles.eq(Mux(self.rx.valid, 0, idle_cycles + 1))
                with m.If(~self.rx.valid & (idle_cycles == self.timeout_cycles - 1)):
                    nak(p.NakCode.TIMEOUT)
                    m.next = "REPLY"

        with m.FSM() as receiver:
            with m.State("SYNC"):
                take_byte(False)
                with m.If(self.rx.valid & (self.rx.payload == p.SYNC)):
                    m.d.sync += [crc.eq(CRC32_INIT), idle_cycles.eq(0), index.eq(0), kind.eq(0)]   # NAKs before KIND name 0
                    m.next = "KIND"
            for state, register, next_state in [("KIND", kind, "LENGTH0"), ("LENGTH0", length[:8], "LENGTH1"),
                                                ("LENGTH1", length[8:], "PAYLOAD")]:
                with m.State(state):
                    take_byte(True)
                    with m.If(self.rx.valid):
                        m.d.sync += [register.eq(self.rx.payload),
                                     crc.eq(crc32_byte(m, crc, self.rx.payload, f"crc_{state.lower()}"))]
                        m.next = next_state
                        if state == "LENGTH1":
                            with m.If(Cat(length[:8], self.rx.payload) == 0):
                                m.next = "CRC"
            with m.State("PAYLOAD"):
                take_byte(True)
                m.d.comb += [payload_write.addr.eq(Cat(index[:half_bits], half)), payload_write.data.eq(self.rx.payload)]
                with m.If(length > p.MAX_PAYLOAD):
                    m.d.comb += self.rx.ready.eq(0)
                    nak(p.NakCode.BAD_LENGTH)
                    m.next = "REPLY"
                with m.Elif(self.rx.valid):
                    m.d.comb += payload_write.en.eq(1)
                    m.d.sync += [index.eq(index + 1), crc.eq(crc32_byte(m, crc, self.rx.payload, "crc_payload"))]
                    with m.If(index + 1 == length):
                        m.d.sync += index.eq(0)
                        m.next = "CRC"
            with m.State("CRC"):
                take_byte(True)
                with m.If(self.rx.valid):
                    m.d.sync += [stored_crc.word_select(index[:2], 8).eq(self.rx.payload), index.eq(index + 1)]
                    with m.If(index == 3):
                        m.d.sync += index.eq(0)
                        m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(stored_crc != (crc ^ CRC32_INIT)):
                    nak(p.NakCode.BAD_CRC)
                    m.next = "REPLY"
                with m.Elif(~writer.busy):           # commands run in order: the last image frame written first
                    m.next = "DISPATCH"
            checks, status_snapshot = self._dispatch(m, kind, length, state, nak, ack, reply, status, fifo)
            self._fields(m, length, index, byte, byte_ready, fields, advance)
            self._bounds(m, kind, length, fields, fifo, checks)
            self._validate(m, kind, fields, running, nak, target, index, checks)
            self._execute(m, kind, length, fields, index, byte, byte_ready, word, target, fifo, ack, advance)
            if self._csr is not None:
                self._csr.states(m, bus=self.control, length=length, index=index, byte_ready=byte_ready, byte=byte,
                                 advance=advance, nak=nak,
                                 reply_values=lambda: reply(p.Reply.CSR_REPLY, self._csr.reads << 2,
                                                            body=ReplyBody.CSR_VALUES))
            with m.State("REPLY"):                   # wait until the sender has taken the reply
                with m.If(~reply_pending):
                    m.next = "SYNC"

        # --- Sender: a pending reply first, else a WORD from the program ------------------------------
        reply_payload = Signal(8 * REPLY_BYTES)
        with m.Switch(reply_body):
            with m.Case(ReplyBody.SHORT):
                m.d.comb += reply_payload.eq(reply_short)
            with m.Case(ReplyBody.BUILD_INFO):
                m.d.comb += reply_payload.eq(int.from_bytes(self.build.pack(), "little"))
            with m.Case(ReplyBody.STATUS):
                m.d.comb += reply_payload.eq(status_snapshot)
            if self._csr is not None:
                with m.Case(ReplyBody.CSR_VALUES):
                    m.d.comb += reply_payload.eq(self._csr.values)
        sender, words_waiting = frame_sender(m, tx=self.tx, host_out=self.host_out, reply_kind=reply_kind,
                                             reply_length=reply_length, reply_payload=reply_payload,
                                             reply_pending=reply_pending)
        m.d.comb += self.idle.eq(receiver.ongoing("SYNC") & ~reply_pending & sender.ongoing("IDLE") & ~writer.busy
                                 & ~self.host_out.valid & ~words_waiting)
        return m

    def _dispatch(self, m, kind, length, state, nak, ack, reply, status, fifo):
        """The DISPATCH state; returned: the registers of VALIDATE's checks (see _bounds), the first two
        of which DISPATCH sets from the frame's length, and the STATUS_REPLY payload, taken in DISPATCH."""
        C, build = p.Command, self.build
        # The length's compares, registered (the length holds still from LENGTH1 to the next frame).
        length_zero, length_one = Signal(), Signal()
        m.d.sync += [length_zero.eq(length == 0), length_one.eq(length == 1)]
        # Each field zero-extended to its width in the reply (host.protocol.Reply).
        load, load_crc, _, load_valid = self._load
        widths = [(status.state, 8), (status.error, 8), (status.pc, 16),
                  (p.HOST_FIFO_WORDS - fifo.level, 16), (Mux(load_valid, load["next"], 0), 32),
                  (Mux(load_valid, load_crc ^ CRC32_INIT, 0), 32)]
        assert [bits // 8 for _, bits in widths] == [struct.calcsize("<" + c) for c in p.STATUS_HEAD.format[1:]]
        widths += [(self.counters[name], 8 * COUNTER_BYTES) for name in CountersLayout().members]
        extended = []
        for index, (value, bits) in enumerate(widths):
            extended.append(Signal(bits, name=f"status_field{index}"))
            m.d.comb += extended[-1].eq(value)
        status_snapshot = Signal(8 * STATUS_BYTES)
        # The highest first instruction / address at which the frame's instructions / bytes fit (negative
        # when none; (length - 2) >> 4 is -1 to 4095, length - 4 is -4 to 65531).
        checks = {"program_room": Signal(range(build.program_words - 4095, build.program_words + 2)),
                  "image_room": Signal(range(build.memory_bytes - 65531, build.memory_bytes + 5)),
                  "length_bad": Signal(), "beyond_bounds": Signal()}
        with m.State("DISPATCH"):
            # Taken whatever the command (only a STATUS_REPLY sends it): its enable is the state alone.
            m.d.sync += [status_snapshot.eq(Cat(*extended)),
                         checks["program_room"].eq(build.program_words - ((length - 2) >> 4)),
                         checks["image_room"].eq(build.memory_bytes - (length - 4))]
            with m.Switch(kind):
                with m.Case(C.HELLO):
                    with m.If(length_zero):          # a version-1 host: only our version, which it refuses
                        reply(p.Reply.HELLO_REPLY, p.LEGACY_HELLO_BYTES, short=p.PROTOCOL_VERSION)
                    with m.Elif(length_one):
                        reply(p.Reply.HELLO_REPLY, len(self.build.pack()), body=ReplyBody.BUILD_INFO)
                    with m.Else():
                        nak(p.NakCode.BAD_LENGTH)
                    m.next = "REPLY"
                with m.Case(C.STATUS):
                    with m.If(~length_zero):
                        nak(p.NakCode.BAD_LENGTH)
                    with m.Else():
                        reply(p.Reply.STATUS_REPLY, STATUS_BYTES, body=ReplyBody.STATUS)
                    m.next = "REPLY"
                with m.Case(C.STOP):
                    with m.If(~length_zero):
                        nak(p.NakCode.BAD_LENGTH)
                    with m.Elif(state == State.RUNNING):
                        nak(p.NakCode.BUSY)
                    with m.Else():
                        m.d.comb += self.stop.eq(1)
                        ack()
                    m.next = "REPLY"
                with m.Case(C.WRITE_PROGRAM, C.WRITE_IMAGE, C.START, C.SEND_WORDS):
                    m.next = "FIELDS"
                with m.Case(C.CSR):
                    if self._csr is None:
                        nak(p.NakCode.NO_CONTROL_BUS)
                        m.next = "REPLY"
                    else:
                        self._csr.begin(m)
                        m.next = "CSR_CHECK"
                with m.Default():
                    nak(p.NakCode.UNKNOWN_COMMAND)
                    m.next = "REPLY"
        return checks, status_snapshot

    def _fields(self, m, length, index, byte, byte_ready, fields, advance):
        """The leading fields (up to 6 bytes) of WRITE_PROGRAM / WRITE_IMAGE / START into `fields`;
        SEND_WORDS has none."""
        with m.State("FIELDS"):
            with m.If((index == 6) | (index == length)):
                m.next = "BOUNDS"
            with m.Elif(byte_ready):
                m.d.comb += advance.eq(1)
                m.d.sync += [fields.word_select(index[:3], 8).eq(byte), index.eq(index + 1)]

    def _bounds(self, m, kind, length, fields, fifo, checks):
        """VALIDATE's length and range arithmetic, registered a step ahead (BOUNDS) as two flags, so that
        no adder or compare chain drives the reply registers' enables. Each command's flags are only used
        in VALIDATE's order: the range check only where the length is good (so its arithmetic can't wrap)."""
        C, build = p.Command, self.build
        length_bad, beyond_bounds = checks["length_bad"], checks["beyond_bounds"]
        with m.State("BOUNDS"):
            m.next = "VALIDATE"
            with m.Switch(kind):
                with m.Case(C.WRITE_PROGRAM):        # first + (length - 2) / 16 > program words
                    m.d.sync += [length_bad.eq((length < 18) | ((length - 2)[:4] != 0)),
                                 beyond_bounds.eq(fields[:16] > checks["program_room"])]
                with m.Case(C.WRITE_IMAGE):          # address + (length - 4) > memory bytes
                    m.d.sync += [length_bad.eq(length < 5), beyond_bounds.eq(fields[:32] > checks["image_room"])]
                with m.Case(C.START):
                    m.d.sync += [length_bad.eq(length != 6),
                                 beyond_bounds.eq((fields[:16] > build.program_words) | (fields[16:48] > build.memory_bytes))]
                with m.Case(C.SEND_WORDS):           # more words than the RECV FIFO has room for
                    m.d.sync += [length_bad.eq((length == 0) | (length[:2] != 0)),
                                 beyond_bounds.eq((length >> 2) > p.HOST_FIFO_WORDS - fifo.level)]

    def _validate(self, m, kind, fields, running, nak, target, index, checks):
        C = p.Command
        length_bad, beyond_bounds = checks["length_bad"], checks["beyond_bounds"]
        sending_words = kind == C.SEND_WORDS         # a full RECV FIFO is its BUSY; a running program is not
        with m.State("VALIDATE"):
            m.next = "REPLY"
            with m.If(length_bad):
                nak(p.NakCode.BAD_LENGTH)
            with m.Elif(running & ~sending_words):
                nak(p.NakCode.BUSY)
            with m.Elif(beyond_bounds & sending_words):
                nak(p.NakCode.BUSY)
            with m.Elif(beyond_bounds):
                nak(p.NakCode.OUT_OF_RANGE)
            with m.Else():
                with m.Switch(kind):
                    with m.Case(C.WRITE_PROGRAM):
                        m.d.sync += [target.eq(fields[:16]), index.eq(2)]
                        m.next = "PROGRAM"
                    with m.Case(C.WRITE_IMAGE):
                        m.d.sync += [target.eq(fields[:32]), index.eq(4)]
                        self._load_sequence(m, fields[:32])
                        m.next = "IMAGE"
                    with m.Case(C.START):
                        m.next = "START"
                    with m.Case(C.SEND_WORDS):
                        m.d.sync += index.eq(0)
                        m.next = "WORDS"

    def _load_sequence(self, m, address):
        """A WRITE_IMAGE at `address` is about to write: start, continue, redo, skip or end the held sequence.
        Skip: a frame beyond the held bytes (an earlier frame of a window lost on the way) touches none of
        them; it neither extends nor ends the sequence, so the lost frame, sent again, continues it."""
        load, load_crc, load_frame_crc, load_valid = self._load
        beyond = load_valid & (address > load["next"])
        m.d.sync += self._load_extend.eq(~beyond)
        with m.If(address == 0):
            m.d.sync += [load_valid.eq(1), load_crc.eq(CRC32_INIT), load_frame_crc.eq(CRC32_INIT)]
        with m.Elif(load_valid & (address == load["next"])):
            m.d.sync += load_frame_crc.eq(load_crc)
        with m.Elif(load_valid & (address == load["frame_start"])):      # the last frame sent again
            m.d.sync += load_crc.eq(load_frame_crc)
        with m.Elif(~beyond):
            m.d.sync += load_valid.eq(0)
        with m.If(~beyond):
            m.d.sync += [load["frame_start"].eq(address), load["next"].eq(address)]

    def _image_written(self, m, byte, next_address):
        """The image writer wrote `byte`: fold it into the held image's CRC (if its frame extends it)."""
        load, (load_fold, load_byte) = self._load[0], self._load_fold
        with m.If(self._load_extend):
            m.d.sync += [load_fold.eq(1), load_byte.eq(byte), load["next"].eq(next_address)]

    def _execute(self, m, kind, length, fields, index, byte, byte_ready, word, target, fifo, ack, advance):
        with m.State("PROGRAM"):                     # 16 bytes an instruction, then one program write
            with m.If(index == length):
                ack()
                m.next = "REPLY"
            with m.Elif(byte_ready):
                assembled = Cat(word[8:], byte)
                m.d.comb += advance.eq(1)
                m.d.sync += [word.eq(assembled), index.eq(index + 1)]
                with m.If((index - 2)[:4] == 15):
                    m.d.comb += [self.program_write.addr.eq(target), self.program_write.data.eq(assembled),
                                 self.program_write.en.eq(1)]
                    m.d.sync += target.eq(target + 1)
        with m.State("IMAGE"):                       # to the image writer (idle since CHECK); the receiver goes on
            self._image_writer.hand_over(m, half=self._half, first=index, end=length, target=target)
            m.d.sync += self._half.eq(~self._half)
            ack()
            m.next = "REPLY"
        with m.State("START"):
            m.d.comb += [self.start.valid.eq(1), self.start.payload.length.eq(fields[:16]),
                         self.start.payload.image_bytes.eq(fields[16:48])]
            with m.If(self.start.ready):
                m.d.comb += self._fifo_flush.eq(1)
                ack()
                m.next = "REPLY"
        with m.State("WORDS"):                       # 4 bytes a word into the RECV FIFO
            with m.If(index == length):
                ack()
                m.next = "REPLY"
            with m.Elif(byte_ready):
                assembled = Cat(word[8:32], byte)
                m.d.comb += advance.eq(1)
                m.d.sync += [word[:32].eq(assembled), index.eq(index + 1)]
                with m.If(index[:2] == 3):
                    m.d.comb += [fifo.w_data.eq(assembled), fifo.w_en.eq(1)]
