"""The host link's control-bus master (hw.link): CSR batches (host/protocol.py, "Control bus") run on a
32-bit Wishbone bus, the port a board top connects to its LiteDRAM core's `wb_ctrl`.

    payload buffer ─► CSR_CHECK: every operation parsed, none done (BAD_LENGTH / OUT_OF_RANGE: nothing happened)
                   ─► CSR_OP ─► CSR_FIELDS ─┬► CSR_ACCESS: cyc/stb until ACK (a READ's word kept) ─┐
                                            └► CSR_WAIT: the cycles the host asked ─────────────────┴► CSR_OP
                   ─► CSR_REPLY (the words read) or NAK BUS_ERROR (ERR, or no ACK in CSR_ACK_TIMEOUT_CYCLES)

The batch is read from the link's payload buffer twice, a byte a cycle (the check, then the run): a frame of
1,024 bytes costs two thousand cycles, against the ten thousand bit times it took to arrive at 1 Mbaud.
"""

from __future__ import annotations

from amaranth import Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from host import protocol as p

CONTROL_DATA_BITS = 32
CONTROL_ADDRESS_BITS = 30           # word addresses: the 32-bit byte address >> 2 (LiteDRAM's wb_ctrl_adr)
READ_INDEX_BITS = (p.CSR_MAX_READS - 1).bit_length()     # a read's word in the reply, while reads < CSR_MAX_READS


class ControlBusSignature(wiring.Signature):
    """Wishbone classic (B4) from the master's side, as LiteDRAM's `wb_ctrl`: `adr` a word address (byte address
    >> 2, CONTROL_ADDRESS_BITS), 32-bit `dat_w` / `dat_r`, `sel` byte enables (always all four here), `cyc` and
    `stb` held until `ack` (or `err`); `we` high for a write. Incrementing bursts (cti, bte) are not used: a board
    top ties LiteDRAM's to 0 (classic cycles)."""

    def __init__(self):
        super().__init__({
            "adr": Out(CONTROL_ADDRESS_BITS), "dat_w": Out(CONTROL_DATA_BITS), "dat_r": In(CONTROL_DATA_BITS),
            "sel": Out(CONTROL_DATA_BITS // 8), "cyc": Out(1), "stb": Out(1), "we": Out(1),
            "ack": In(1), "err": In(1),
        })


class CsrBatch:
    """Built into the link's receiver FSM by `states`; `values` (the words read, the first at the bottom) is the
    CSR_REPLY payload."""

    def __init__(self):
        self.values = Signal(CONTROL_DATA_BITS * p.CSR_MAX_READS, name="csr_values")
        self.reads = Signal(range(p.CSR_MAX_READS + 2), name="csr_reads")      # saturates past the limit
        self.op = Signal(8, name="csr_op")
        self.at = Signal(range(9), name="csr_at")                              # byte of the operation, code 0
        self.fields = Signal(64, name="csr_fields")                            # address (or cycles), value
        self.cycles = Signal(32, name="csr_cycles")                            # waited for ACK, or in a WAIT
        self.bad_op, self.misaligned = Signal(name="csr_bad_op"), Signal(name="csr_misaligned")

    def begin(self, m) -> None:
        """In the cycle that enters CSR_CHECK: a new batch."""
        m.d.sync += [self.at.eq(0), self.reads.eq(0), self.bad_op.eq(0), self.misaligned.eq(0)]

    def states(self, m, *, bus, length, index, byte_ready, byte, advance, nak, reply_values) -> None:
        """The CSR states. length / index / byte_ready / byte / advance: the link's payload reader (a state
        that takes byte `index` raises `advance`); nak(code) and reply_values() set the reply."""
        C, op, at, fields = p.CsrOp, self.op, self.at, self.fields
        sizes = {code: fmt.size for code, fmt in p.CSR_OP_FIELDS.items()}
        assert sizes[C.READ] == sizes[C.WAIT] and max(sizes.values()) == 9
        last = Signal(range(9), name="csr_last")                 # the last byte's position in this operation
        m.d.comb += last.eq(Mux(op == C.WRITE, sizes[C.WRITE] - 1, sizes[C.READ] - 1))

        def take():
            m.d.comb += advance.eq(1)
            m.d.sync += index.eq(index + 1)

        with m.State("CSR_CHECK"):
            with m.If(index == length):
                with m.If((at != 0) | self.bad_op | (self.reads > p.CSR_MAX_READS)):
                    nak(p.NakCode.BAD_LENGTH)
                    m.next = "REPLY"
                with m.Elif(self.misaligned):
                    nak(p.NakCode.OUT_OF_RANGE)
                    m.next = "REPLY"
                with m.Else():
                    m.d.sync += [index.eq(0), self.reads.eq(0)]
                    m.next = "CSR_OP"
            with m.Elif(byte_ready):
                take()
                with m.If(at == 0):
                    m.d.sync += [op.eq(byte), at.eq(1)]
                    with m.If((byte == C.READ) & (self.reads <= p.CSR_MAX_READS)):
                        m.d.sync += self.reads.eq(self.reads + 1)
                    with m.If(~((byte == C.WRITE) | (byte == C.READ) | (byte == C.WAIT))):
                        m.d.sync += self.bad_op.eq(1)
                with m.Else():
                    with m.If((at == 1) & (op != C.WAIT) & (byte[:2] != 0)):
                        m.d.sync += self.misaligned.eq(1)
                    m.d.sync += at.eq(at + 1)
                    with m.If(at == last):
                        m.d.sync += at.eq(0)

        with m.State("CSR_OP"):
            with m.If(index == length):
                reply_values()
                m.next = "REPLY"
            with m.Elif(byte_ready):
                take()
                m.d.sync += [op.eq(byte), at.eq(1)]
                m.next = "CSR_FIELDS"

        with m.State("CSR_FIELDS"):
            with m.If(byte_ready):
                take()
                m.d.sync += [fields.word_select((at - 1)[:3], 8).eq(byte), at.eq(at + 1), self.cycles.eq(0)]
                with m.If(at == last):
                    m.next = "CSR_WAIT"
                    with m.If(op != C.WAIT):
                        m.next = "CSR_ACCESS"

        # The bus's address, data and direction come from registers; only cyc/stb follow the state.
        m.d.comb += [bus.adr.eq(fields[2:32]), bus.dat_w.eq(fields[32:64]), bus.we.eq(op == C.WRITE),
                     bus.sel.eq(-1)]
        with m.State("CSR_ACCESS"):
            m.d.comb += [bus.cyc.eq(1), bus.stb.eq(1)]
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(bus.ack):
                with m.If(op == C.READ):
                    m.d.sync += [self.values.word_select(self.reads[:READ_INDEX_BITS], CONTROL_DATA_BITS).eq(bus.dat_r),
                                 self.reads.eq(self.reads + 1)]
                m.next = "CSR_OP"
            with m.Elif(bus.err | (self.cycles == p.CSR_ACK_TIMEOUT_CYCLES - 1)):
                nak(p.NakCode.BUS_ERROR)
                m.next = "REPLY"

        with m.State("CSR_WAIT"):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(self.cycles == fields[:32]):
                m.next = "CSR_OP"
