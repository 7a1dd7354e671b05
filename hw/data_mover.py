"""`DataMover`: the ISA's data instructions between the image, VMEM and the host.

    VLOAD  vd, src                    image int32 words src .. src + 4 VL - 1 ─► VMEM[vd ..]
    EMBED  vd, token, mant, exp       image int16 row mant + 2 VL token and int8 exp[token] ─►
                                      VMEM[vd + j] = sat32(round(m_j * 2**(e + 16)))  (golden HardwareExactModel.embed)
    SENDV  vs                         VMEM[vs ..] ─► host words

Image bytes come through an image reader with 4-byte words (`read` / `words`); an EMBED row is read
as int16 pairs. The token's range is the controller's check (BAD_TOKEN).

Protocol. `cmd` {opcode (ISA VLOAD / EMBED / SENDV), length (VL), d (VMEM word address), src (image
byte address: VLOAD source, EMBED mantissa row), exp_addr (EMBED: the exponent byte's address)};
`done` when the last word is written (or taken by the host).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt

from .arith import ShiftControl, round_shift, saturate
from .image_reader import ADDRESS_BITS, ReadLayout
from .sequencing import offer_done
from .vector_unit import ACT


class MoveOp(enum.Enum, shape=8):
    VLOAD = isa.OPS["VLOAD"].opcode
    EMBED = isa.OPS["EMBED"].opcode
    SENDV = isa.OPS["SENDV"].opcode


class DataMover(wiring.Component):
    """Parameters
    vmem_words: VMEM depth (words).

    Ports
    cmd: stream of {opcode: MoveOp, length, d, src, exp_addr}.
    read: stream of image reads {addr, length}; words: stream of 32-bit image words (a 4-byte reader).
    read_x, write: VMEM port masters.  host_out: stream of 32-bit words (SENDV).  done: stream.
    """

    def __init__(self, *, vmem_words: int):
        self._MustUse__silence = True
        if not isinstance(vmem_words, int) or not 16 <= vmem_words <= isa.VMEM_WORDS:
            raise ValueError(f"vmem_words must be in 16..{isa.VMEM_WORDS}, got {vmem_words!r}")
        self._MustUse__silence = False
        self.vmem_words = vmem_words
        addr_width = (vmem_words - 1).bit_length()
        super().__init__({
            "cmd": In(stream.Signature(data.StructLayout({
                "opcode": MoveOp, "length": range(isa.MAX_VL + 1), "d": addr_width,
                "src": ADDRESS_BITS, "exp_addr": ADDRESS_BITS}))),
            "read": Out(stream.Signature(ReadLayout())),
            "words": In(stream.Signature(32)),
            "read_x": In(memory.ReadPort.Signature(addr_width=addr_width, shape=ACT)),
            "write": In(memory.WritePort.Signature(addr_width=addr_width, shape=ACT)),
            "host_out": Out(stream.Signature(32)),
            "done": Out(stream.Signature(0)),
        })

    def elaborate(self, platform):
        m = Module()
        command = Signal.like(self.cmd.payload)
        index = Signal(range(isa.MAX_VL + 1))            # next element written / sent
        half = Signal()                                  # EMBED: the upper int16 of the current word is next
        # EMBED: the row's shift -(e + 16), its ShiftControl registered as the exponent byte is taken.
        exponent_arrives = Signal()
        shift = ShiftControl(m, -(self.words.payload[:8].as_signed() + fmt.ACT_FRAC), width=fmt.EMBED_MANT_BITS,
                             max_left=fmt.ACT_BITS, name="embed_shift", load=exponent_arrives)

        mantissa = Signal(signed(fmt.EMBED_MANT_BITS))
        m.d.comb += mantissa.eq(Mux(half, self.words.payload[16:32], self.words.payload[:16]))
        embedded = round_shift(m, mantissa, shift, name="embedded")
        m.d.comb += [self.write.addr.eq(command.d + index), self.read_x.addr.eq(command.d + index)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [command.eq(self.cmd.payload), index.eq(0), half.eq(0)]
                    with m.Switch(self.cmd.payload.opcode):
                        with m.Case(MoveOp.VLOAD):
                            m.next = "READ_WORDS"
                        with m.Case(MoveOp.EMBED):
                            m.next = "READ_EXPONENT"
                        with m.Case(MoveOp.SENDV):
                            m.next = "SEND_ADDRESS"
            self._request(m, "READ_WORDS", command.src, command.length << 2, "LOAD")
            with m.State("LOAD"):
                m.d.comb += [self.words.ready.eq(1), self.write.data.eq(self.words.payload),
                             self.write.en.eq(self.words.valid)]
                with m.If(self.words.valid):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index + 1 == command.length):
                        m.next = "DONE"
            # EMBED asks for the exponent byte and the row back to back (the reader queues both).
            self._request(m, "READ_EXPONENT", command.exp_addr, 1, "READ_ROW")
            self._request(m, "READ_ROW", command.src, command.length << 1, "EXPONENT")
            with m.State("EXPONENT"):
                m.d.comb += self.words.ready.eq(1)
                m.d.comb += exponent_arrives.eq(self.words.valid)
                with m.If(self.words.valid):
                    m.next = "EMBED"
            with m.State("EMBED"):
                # Two elements per image word: the word is taken after its upper half (or the last element).
                last = index + 1 == command.length
                m.d.comb += [self.write.data.eq(saturate(embedded, fmt.ACT_BITS)), self.write.en.eq(self.words.valid),
                             self.words.ready.eq(half | last)]
                with m.If(self.words.valid):
                    m.d.sync += [index.eq(index + 1), half.eq(~half)]
                    with m.If(last):
                        m.next = "DONE"
            with m.State("SEND_ADDRESS"):                # VMEM read of element `index`: data next cycle
                m.next = "SEND"
            with m.State("SEND"):                        # a word per cycle: the next read goes out as one leaves
                m.d.comb += [self.host_out.valid.eq(1), self.host_out.payload.eq(self.read_x.data)]
                with m.If(self.host_out.ready):
                    m.d.comb += self.read_x.addr.eq(command.d + index + 1)
                    m.d.sync += index.eq(index + 1)
                    with m.If(index + 1 == command.length):
                        m.next = "DONE"
            offer_done(m, "DONE", done=self.done)
        return m

    def _request(self, m, state: str, addr, length, next_state: str) -> None:
        """State `state` asks the image reader for `length` bytes at `addr`."""
        with m.State(state):
            m.d.comb += [self.read.valid.eq(1), self.read.payload.addr.eq(addr), self.read.payload.length.eq(length),
                         self.read.payload.rows.eq(1)]
            with m.If(self.read.ready):
                m.next = next_state
