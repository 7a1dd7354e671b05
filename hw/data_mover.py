"""`DataMover`: the ISA's data instructions between external memory, VMEM and the host.

    VLOAD  vd, src                    memory int32 words src .. src + 4 VL - 1 ─► VMEM[vd ..]  (V a cycle)
    EMBED  vd, token, mant, exp       image int16 row mant + 2 VL token and int8 exp[token] ─►
                                      VMEM[vd + j] = sat32(round(m_j * 2**(e + 16)))  (golden HardwareExactModel.embed)
    SENDV  vs                         VMEM[vs ..] ─► host words
    VSTORE vs, dst                    VMEM[vs ..] ─► memory bytes dst .. dst + 4 VL - 1, little-endian
                                      (a byte a write, or with write_bytes 4 a word a write)

Image bytes come through an image reader with 4·V-byte words (`read` / `words`): a VLOAD word is a
VMEM row; an EMBED word holds 2·V int16 mantissas, two rows (the lower half first). SENDV reads a
row, then hands its words to the host one by one; VSTORE the same, a byte a memory write (ByteWriteLayout), or
with `write_bytes` 4 a word a write (WordWriteLayout: an aligned word and its byte mask; a word at an unaligned
dst is split into the two aligned words it straddles, two writes). The token's range is the controller's check
(BAD_TOKEN); word addresses are multiples of V (the controller's VMEM_MISALIGNED check).

Protocol. `cmd` {opcode (ISA VLOAD / EMBED / SENDV / VSTORE), length (VL), d (VMEM word address), src
(memory byte address: VLOAD source, EMBED mantissa row, VSTORE destination), exp_addr (EMBED: the
exponent byte's address)}; `done` when the last word is written (or taken by the host or the memory's
write channel).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, stream
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt

from .arith import ShiftControl, round_shift, saturate
from .component import CheckedComponent
from .image_reader import ADDRESS_BITS, ReadLayout, write_layout
from .pipeline import Pipeline
from .sequencing import offer_done, wait_cycles
from .vmem import (READ_LATENCY, ReadSignature, WriteSignature, check_vector_width, check_vmem_words,
                   lane_enables)


class MoveOp(enum.Enum, shape=8):
    VLOAD = isa.OPS["VLOAD"].opcode
    EMBED = isa.OPS["EMBED"].opcode
    SENDV = isa.OPS["SENDV"].opcode
    VSTORE = isa.OPS["VSTORE"].opcode


class MoveCommand(data.StructLayout):
    """{opcode, length (VL), d (VMEM word address), src, exp_addr (image byte addresses)}."""

    def __init__(self, vmem_words: int):
        super().__init__({"opcode": MoveOp, "length": range(isa.MAX_VL + 1), "d": (vmem_words - 1).bit_length(),
                          "src": ADDRESS_BITS, "exp_addr": ADDRESS_BITS})


class DataMover(CheckedComponent):
    """Parameters
    vmem_words: VMEM depth (words).  vector_width: V, elements per cycle (hw.vmem).
    write_bytes: the memory write channel's width, 1 (bytes) or 4 (words with a byte mask).

    Ports
    cmd: stream of MoveCommand.  done: stream.
    read: stream of image reads {addr, length, rows}; words: stream of 4·V-byte image words.
    read_x, write: VMEM port masters (hw.vmem).  host_out: stream of 32-bit words (SENDV).
    mem_write: stream of write_layout(write_bytes) (VSTORE) to external memory.
    """

    @classmethod
    def check_parameters(cls, *, vmem_words, vector_width=1, write_bytes=1, **_):
        check_vector_width(vector_width)
        check_vmem_words(vmem_words, vector_width)
        write_layout(write_bytes)

    # Registers between a row taken from the image reader and its VMEM write (see elaborate).
    WRITE_STAGES = 2

    def __init__(self, *, vmem_words: int, vector_width: int = 1, write_bytes: int = 1):
        self.vmem_words, self.vector_width, self.write_bytes = vmem_words, vector_width, write_bytes
        rows = vmem_words // vector_width
        super().__init__({
            "cmd": In(stream.Signature(MoveCommand(vmem_words))),
            "read": Out(stream.Signature(ReadLayout())),
            "words": In(stream.Signature(32 * vector_width)),
            "read_x": Out(ReadSignature(rows=rows, vector_width=vector_width)),
            "write": Out(WriteSignature(rows=rows, vector_width=vector_width)),
            "host_out": Out(stream.Signature(32)),
            "mem_write": Out(stream.Signature(write_layout(write_bytes))),
            "done": Out(stream.Signature(0)),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, lane_bits = self.vector_width, (self.vector_width - 1).bit_length()
        command = Signal.like(self.cmd.payload)
        index = Signal(range(isa.MAX_VL + 1))            # first element of the row written / sent next
        half = Signal()                                  # EMBED: the upper half of the current word is next
        lane = Signal(range(lanes))                      # SENDV / VSTORE: the word of the row going out
        byte = Signal(2)                                 # VSTORE: the byte (word writes: the part) written next
        store_addr = Signal(ADDRESS_BITS)                # VSTORE: its memory address
        store = Signal()                                 # the command is VSTORE (else SENDV, in the SEND states)
        # EMBED: the row's shift -(e + 16), its ShiftControl loaded from the exponent byte registered as it is
        # taken (the reader's output stays off its arithmetic). The first row's mantissas reach the rounding
        # shift two cycles after the exponent at the earliest (taken, then the write pipeline's first stage),
        # when the shift has followed.
        exponent_arrives, exponent_arrived, exponent = Signal(), Signal(), Signal(signed(8))
        m.d.sync += exponent_arrived.eq(exponent_arrives)
        with m.If(exponent_arrives):
            m.d.sync += exponent.eq(self.words.payload[:8])
        shift = ShiftControl(m, -(exponent + fmt.ACT_FRAC), width=fmt.EMBED_MANT_BITS,
                             max_left=fmt.ACT_BITS, name="embed_shift", load=exponent_arrived)

        # Writes leave through WRITE_STAGES registers: (1) the row, its lanes and its words (VLOAD) or the
        # half's mantissas (EMBED), (2) the rounding shift; the saturation then drives the write port. The
        # image reader's data and the arithmetic thus never share a cycle with the VMEM write mux.
        row = Signal.like(self.write.addr)
        row_lanes = lane_enables(m, count=command.length - index, vector_width=lanes, name="row_lanes")
        m.d.comb += [row.eq((command.d >> lane_bits) + (index >> lane_bits)), self.read_x.addr.eq(row)]
        words = data.View(data.ArrayLayout(signed(32), lanes), self.words.payload)
        mantissas = data.View(data.ArrayLayout(signed(fmt.EMBED_MANT_BITS), 2 * lanes), self.words.payload)
        write_enables = Signal(lanes)                    # set by LOAD / EMBED in the cycle a row is taken
        writes = Pipeline(m, "write")
        s = writes.register({"addr": row, "en": write_enables, "embed": command.opcode == MoveOp.EMBED,
                             "values": [Mux(half, mantissas[lanes + k], mantissas[k]) for k in range(lanes)],
                             "words": [words[k] for k in range(lanes)]})
        s = writes.register({"addr": s["addr"], "en": s["en"], "embed": s["embed"], "words": s["words"],
                             "embedded": [round_shift(m, s["values"][k], shift, name=f"embedded{k}") for k in range(lanes)]})
        assert writes.depth == self.WRITE_STAGES
        m.d.comb += [self.write.addr.eq(s["addr"]), self.write.en.eq(s["en"])]
        m.d.comb += [self.write.data[k].eq(Mux(s["embed"], saturate(s["embedded"][k], fmt.ACT_BITS), s["words"][k]))
                     for k in range(lanes)]
        sent_row = Signal.like(self.read_x.data)
        wait = Signal(range(max(READ_LATENCY, self.WRITE_STAGES) + 1))
        # The row being taken is the vector's last: a register kept beside `index` (it gates the image
        # reader's `ready`, which must not wait on an adder and a compare).
        last_row = Signal()

        def advance():                                  # the next row
            m.d.sync += [index.eq(index + lanes), last_row.eq(index + 2 * lanes >= command.length)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [command.eq(self.cmd.payload), index.eq(0), half.eq(0), lane.eq(0), byte.eq(0),
                                 last_row.eq(self.cmd.payload.length <= lanes), store_addr.eq(self.cmd.payload.src),
                                 store.eq(self.cmd.payload.opcode == MoveOp.VSTORE)]
                    with m.Switch(self.cmd.payload.opcode):
                        with m.Case(MoveOp.VLOAD):
                            m.next = "READ_WORDS"
                        with m.Case(MoveOp.EMBED):
                            m.next = "READ_EXPONENT"
                        with m.Case(MoveOp.SENDV, MoveOp.VSTORE):
                            m.next = "SEND_ADDRESS"
            self._request(m, "READ_WORDS", command.src, command.length << 2, "LOAD")
            with m.State("LOAD"):                        # a word is a row
                m.d.comb += self.words.ready.eq(1)
                with m.If(self.words.valid):
                    m.d.comb += write_enables.eq(row_lanes)
                    advance()
                    with m.If(last_row):
                        m.next = "WRITE_END"
            # EMBED asks for the exponent byte and the row back to back (the reader queues both).
            self._request(m, "READ_EXPONENT", command.exp_addr, 1, "READ_ROW")
            self._request(m, "READ_ROW", command.src, command.length << 1, "EXPONENT")
            with m.State("EXPONENT"):
                m.d.comb += [self.words.ready.eq(1), exponent_arrives.eq(self.words.valid)]
                with m.If(self.words.valid):
                    m.next = "EMBED"
            with m.State("EMBED"):
                # Two rows per image word: the word is taken after its upper half (or the vector's last row).
                m.d.comb += self.words.ready.eq(half | last_row)
                with m.If(self.words.valid):
                    m.d.comb += write_enables.eq(row_lanes)
                    advance()
                    m.d.sync += half.eq(~half)
                    with m.If(last_row):
                        m.next = "WRITE_END"
            # done once the last row is on the write port
            wait_cycles(m, "WRITE_END", counter=wait, cycles=self.WRITE_STAGES, next_state="DONE")
            with m.State("SEND_ADDRESS"):                # the row's read; its words come READ_LATENCY cycles later
                m.d.comb += self.read_x.en.eq(1)
                m.next = "SEND_READ"
            with m.State("SEND_READ"):
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == READ_LATENCY - 1):
                    m.d.sync += [wait.eq(0), sent_row.eq(self.read_x.data)]
                    m.next = "SEND"
            with m.State("SEND"):        # the row's words: one per host transfer, or memory writes
                word = sent_row[lane]
                m.d.comb += [self.host_out.valid.eq(~store), self.host_out.payload.eq(word),
                             self.mem_write.valid.eq(store)]
                taken = Mux(store, self.mem_write.ready, self.host_out.ready)
                word_done = self._store(m, word.as_unsigned(), store_addr, byte, taken, store)
                with m.If(taken):
                    with m.If(~store | word_done):
                        m.d.sync += [lane.eq(lane + 1), byte.eq(0)]
                        with m.If((lane == lanes - 1) | (index + lane + 1 == command.length)):
                            m.d.sync += [lane.eq(0), index.eq(index + lanes)]
                            m.next = "SEND_NEXT"
            with m.State("SEND_NEXT"):
                with m.If(index >= command.length):
                    m.next = "DONE"
                with m.Else():
                    m.next = "SEND_ADDRESS"
            offer_done(m, "DONE", done=self.done)
        return m

    def _store(self, m, word, store_addr, part, taken, store):
        """VSTORE's write of `part` of `word` (at byte address `store_addr`) on `mem_write`, and the addresses' step
        when it is `taken` (byte writes: the counters also step for SENDV's words, unread); returns whether it is
        the word's last write. Bytes: part k is byte k at store_addr. Words: an aligned word is one write; an unaligned one the two aligned words it straddles (its low bytes
        at lanes offset.., then its high bytes at lanes ..offset - 1 of the next)."""
        if self.write_bytes == 1:
            m.d.comb += [self.mem_write.payload.addr.eq(store_addr), self.mem_write.payload.data.eq(word.word_select(part, 8))]
            with m.If(taken):
                m.d.sync += [part.eq(part + 1), store_addr.eq(store_addr + 1)]
            return part == 3
        offset = store_addr[:2]
        aligned = Cat(Const(0, 2), store_addr[2:])
        shifted = Signal(64)                                             # the word at lanes offset.. of two words
        m.d.comb += shifted.eq(word << (offset << 3))
        m.d.comb += [self.mem_write.payload.addr.eq(Mux(part[0], aligned + 4, aligned)),
                     self.mem_write.payload.data.eq(Mux(part[0], shifted[32:], shifted[:32])),
                     self.mem_write.payload.mask.eq(Mux(part[0], ~(Const(0b1111, 4) << offset),
                                                        (Const(0b1111, 4) << offset)[:4]))]
        last = (offset == 0) | part[0]
        with m.If(taken & store):
            m.d.sync += part.eq(Mux(last, 0, 1))
            with m.If(last):
                m.d.sync += store_addr.eq(store_addr + 4)
        return last

    def _request(self, m, state: str, addr, length, next_state: str) -> None:
        """State `state` asks the image reader for `length` bytes at `addr`."""
        with m.State(state):
            m.d.comb += [self.read.valid.eq(1), self.read.payload.addr.eq(addr), self.read.payload.length.eq(length),
                         self.read.payload.rows.eq(1)]
            with m.If(self.read.ready):
                m.next = next_state
