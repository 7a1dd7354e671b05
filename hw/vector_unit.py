"""`VectorUnit`: the elementwise vector instructions of the ISA over the VMEM scratchpad.

One element per cycle through a fixed-latency pipeline, in the formats of golden.fixedpoint (the
functions named below are the reference of each operation, bit for bit):

    VZERO    0                                VCOPY      x
    VADD     sat32(x + y)             vadd    VONEMINUS  sat32(1.0 - x)
    VMUL     vmul(x, y)               vmul    VMULADD    sat32(vmul(x, y) + z)   (x = the state vd)
    VSIGMOID vsigmoid(x)              vsigmoid VSILU     vsilu(x) = vmul(x, vsigmoid(x))
    ARGMAX   lowest j with x_j maximal (no write)

VMUL and VMULADD first run a pass over y for max|y| (its block shift: y is normalised to 18-bit
mantissas, so each product is 32×18 — two DSPs); the main pass then streams. Sigmoid: a 512-word table
of (sigmoid(k/32), sigmoid((k+1)/32) − sigmoid(k/32)) in Q0.16 and a 10×11-bit interpolation product.

Block diagram of the main pass (one element per cycle, WRITE_LATENCY cycles from address to write):

    addresses x+j, y+j, z+j ─► VMEM read ─► |x|, table index ─► table ─► sigmoid ─► x·sigmoid ─┐
                                        └► y mantissa ─► x·y_mant ─► round, sat ─────────────────┴─► select ─► VMEM write d+j

Protocol. `cmd` takes {opcode (the ISA opcode of the instruction), length, d, x, y, z (VMEM word
addresses)}; the unit then owns its VMEM ports until it offers `done` (payload: the ARGMAX index,
0 for the others). The destination may equal a source (in place); other overlaps are undefined (the
ISA says so). The ports are memory-port masters (amaranth.lib.memory signatures): read data is
expected one cycle after the address (a synchronous read port).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt
from golden.fixedpoint import SIGMOID_TABLE

from .arith import round_shift_right, saturate, track_max_abs
from .sequencing import element_pass, offer_done, wait_cycles

ACT = signed(fmt.ACT_BITS)
SIGMOID_LIMIT = fmt.SIGMOID_RANGE << fmt.ACT_FRAC          # |x| at or beyond this: sigmoid = 1
SEGMENT = fmt.SIGMOID_SEGMENT_SHIFT
STEP_BITS = int(max(SIGMOID_TABLE[1:] - SIGMOID_TABLE[:-1])).bit_length()
VALUE_BITS = int(SIGMOID_TABLE.max()).bit_length()


class VectorOp(enum.Enum, shape=8):
    """The instructions this unit executes, by their ISA opcodes (assembler.isa is the one source)."""
    VZERO = isa.OPS["VZERO"].opcode
    VCOPY = isa.OPS["VCOPY"].opcode
    ARGMAX = isa.OPS["ARGMAX"].opcode
    VADD = isa.OPS["VADD"].opcode
    VMUL = isa.OPS["VMUL"].opcode
    VMULADD = isa.OPS["VMULADD"].opcode
    VSIGMOID = isa.OPS["VSIGMOID"].opcode
    VSILU = isa.OPS["VSILU"].opcode
    VONEMINUS = isa.OPS["VONEMINUS"].opcode


def sigmoid_table_words() -> list[int]:
    """Table word k: value sigmoid(k/32) in bits [VALUE_BITS-1:0], step to k+1 above it."""
    return [int(SIGMOID_TABLE[k]) | int(SIGMOID_TABLE[k + 1] - SIGMOID_TABLE[k]) << VALUE_BITS
            for k in range(fmt.SIGMOID_SEGMENTS)]


class VectorUnit(wiring.Component):
    """Parameters
    vmem_words: VMEM depth in ACT words (addresses are word addresses).

    Ports
    cmd: stream of {opcode: VectorOp, length: 1..MAX_VL, d, x, y, z: VMEM word addresses}.
    done: stream of the ARGMAX index (unsigned), one per command, when its last write is done.
    read_x, read_y, read_z: VMEM read-port masters (signed 32-bit ACT words, 1-cycle latency).
    write: VMEM write-port master.
    """

    WRITE_LATENCY = 5           # cycles from an element's read address to its write

    def __init__(self, *, vmem_words: int):
        self._MustUse__silence = True        # a refused parameter set is not an unused design
        if not isinstance(vmem_words, int) or not 16 <= vmem_words <= isa.VMEM_WORDS:
            raise ValueError(f"vmem_words must be in 16..{isa.VMEM_WORDS}, got {vmem_words!r}")
        self.vmem_words = vmem_words
        addr_width = (vmem_words - 1).bit_length()
        address = unsigned(addr_width)
        port = memory.ReadPort.Signature(addr_width=addr_width, shape=ACT)
        self._MustUse__silence = False
        super().__init__({
            "cmd": In(stream.Signature(data.StructLayout({
                "opcode": VectorOp, "length": range(isa.MAX_VL + 1),
                "d": address, "x": address, "y": address, "z": address}))),
            "done": Out(stream.Signature(range(isa.MAX_VL + 1))),
            "read_x": In(port), "read_y": In(port), "read_z": In(port),
            "write": In(memory.WritePort.Signature(addr_width=addr_width, shape=ACT)),
        })

    def elaborate(self, platform):
        m = Module()
        command = Signal.like(self.cmd.payload)
        op = command.opcode
        index = Signal(range(isa.MAX_VL + 1))          # element addressed this cycle
        issue = Signal()                               # an element of the main pass is addressed
        peak_issue = Signal()                          # an element of the max|y| pass is addressed
        y_peak = Signal(fmt.ACT_BITS + 1)              # max |y| so far
        y_shift = Signal(range(fmt.ACT_BITS))          # block shift of y for the main pass
        product_shift = Signal(range(fmt.ACT_FRAC + 1))   # ACT_FRAC - y_shift: the product back to Q15.16
        drain = Signal(range(self.WRITE_LATENCY + 1))

        # --- Sequencing: idle -> (max|y| pass) -> main pass -> drain -> done ----------------------
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [command.eq(self.cmd.payload), index.eq(0), y_peak.eq(0), y_shift.eq(0),
                                 product_shift.eq(fmt.ACT_FRAC)]
                    with m.If((self.cmd.payload.opcode == VectorOp.VMUL) | (self.cmd.payload.opcode == VectorOp.VMULADD)):
                        m.next = "PEAK"
                    with m.Else():
                        m.next = "MAIN"
            element_pass(m, "PEAK", issue=peak_issue, index=index, length=command.length, next_state="PEAK_LAST")
            with m.State("PEAK_LAST"):                  # the last |y| is folded in this cycle
                m.next = "SHIFT"
            with m.State("SHIFT"):                      # block_shift(max|y|, 18)
                for bit in range(fmt.ACT_BITS + 1):
                    with m.If(y_peak[bit]):
                        shift = max(0, bit + 1 - (fmt.MANT_BITS - 1))
                        m.d.sync += [y_shift.eq(shift), product_shift.eq(fmt.ACT_FRAC - shift)]
                m.next = "MAIN"
            element_pass(m, "MAIN", issue=issue, index=index, length=command.length, next_state="DRAIN")
            # The last element's write (and ARGMAX compare) lands WRITE_LATENCY cycles after its issue.
            wait_cycles(m, "DRAIN", counter=drain, cycles=self.WRITE_LATENCY, next_state="DONE")
            offer_done(m, "DONE", done=self.done)
        m.d.comb += [self.read_x.addr.eq(command.x + index), self.read_y.addr.eq(command.y + index),
                     self.read_z.addr.eq(command.z + index)]

        # --- Stage 1: words read; |x| -> table index; y -> 18-bit mantissa; |y| -> peak ----------
        x, y, z = self.read_x.data, self.read_y.data, self.read_z.data
        track_max_abs(m, y, peak_issue, y_peak, "y_peak")

        valid0, index0 = Signal(), Signal.like(index)        # the element whose words the ports hold
        m.d.sync += [valid0.eq(issue), index0.eq(index)]
        valid1, index1 = Signal(), Signal.like(index)
        x_abs = Signal(fmt.ACT_BITS + 1)
        m.d.comb += x_abs.eq(Mux(x[-1], -x, x))
        magnitude = Mux(x_abs >= SIGMOID_LIMIT, SIGMOID_LIMIT - 1, x_abs)
        table = memory.Memory(shape=unsigned(VALUE_BITS + STEP_BITS), depth=fmt.SIGMOID_SEGMENTS,
                              init=sigmoid_table_words())
        m.submodules.sigmoid_table = table
        table_read = table.read_port(domain="sync")
        m.d.comb += table_read.addr.eq(magnitude >> SEGMENT)
        y_rounded = Signal(signed(fmt.ACT_BITS + 1))
        m.d.comb += y_rounded.eq(Mux(y_shift == 0, y, round_shift_right(y, y_shift)))
        x1, y1, z1 = Signal(ACT), Signal(ACT), Signal(ACT)
        y_mant1 = Signal(signed(fmt.MANT_BITS))
        fraction1 = Signal(SEGMENT)
        beyond1, negative1 = Signal(), Signal()
        m.d.sync += [valid1.eq(valid0), index1.eq(index0), x1.eq(x), y1.eq(y), z1.eq(z), y_mant1.eq(saturate(y_rounded, fmt.MANT_BITS)),
                     fraction1.eq(magnitude[:SEGMENT]), beyond1.eq(x_abs >= SIGMOID_LIMIT), negative1.eq(x[-1])]

        # --- Stage 2: table word -> interpolation product; x * y_mant ------------------------------
        valid2, index2 = Signal(), Signal.like(index)
        x2, y2, z2 = Signal(ACT), Signal(ACT), Signal(ACT)
        low2 = Signal(VALUE_BITS)
        interpolation2 = Signal(STEP_BITS + SEGMENT)
        product2 = Signal(signed(fmt.ACT_BITS + fmt.MANT_BITS))
        beyond2, negative2 = Signal(), Signal()
        m.d.sync += [valid2.eq(valid1), index2.eq(index1), x2.eq(x1), y2.eq(y1), z2.eq(z1),
                     low2.eq(table_read.data[:VALUE_BITS]),
                     interpolation2.eq(table_read.data[VALUE_BITS:] * fraction1),
                     product2.eq(x1 * y_mant1), beyond2.eq(beyond1), negative2.eq(negative1)]

        # --- Stage 3: sigmoid; vmul rounded back to ACT -----------------------------------------------
        sigmoid = Mux(beyond2, fmt.ACT_ONE, low2 + ((interpolation2 + (1 << (SEGMENT - 1))) >> SEGMENT))
        valid3, index3 = Signal(), Signal.like(index)
        x3, y3, z3 = Signal(ACT), Signal(ACT), Signal(ACT)
        sigmoid3 = Signal(VALUE_BITS)
        vmul3 = Signal(ACT)
        m.d.sync += [valid3.eq(valid2), index3.eq(index2), x3.eq(x2), y3.eq(y2), z3.eq(z2),
                     sigmoid3.eq(Mux(negative2, fmt.ACT_ONE - sigmoid, sigmoid)),
                     vmul3.eq(saturate(round_shift_right(product2, product_shift), fmt.ACT_BITS))]

        # --- Stage 4: x * sigmoid(x) (SiLU; the sigmoid vector's block shift is 0: it is <= 1.0) ------
        valid4, index4 = Signal(), Signal.like(index)
        x4, y4, z4, vmul4 = Signal(ACT), Signal(ACT), Signal(ACT), Signal(ACT)
        sigmoid4 = Signal(VALUE_BITS)
        silu_product4 = Signal(signed(fmt.ACT_BITS + VALUE_BITS + 1))
        m.d.sync += [valid4.eq(valid3), index4.eq(index3), x4.eq(x3), y4.eq(y3), z4.eq(z3), vmul4.eq(vmul3),
                     sigmoid4.eq(sigmoid3), silu_product4.eq(x3 * sigmoid3)]

        # --- Stage 5: select, write; ARGMAX compares ---------------------------------------------------
        result = Signal(ACT)
        with m.Switch(op):
            with m.Case(VectorOp.VCOPY):
                m.d.comb += result.eq(x4)
            with m.Case(VectorOp.VADD):
                m.d.comb += result.eq(saturate(x4 + y4, fmt.ACT_BITS))
            with m.Case(VectorOp.VONEMINUS):
                m.d.comb += result.eq(saturate(fmt.ACT_ONE - x4, fmt.ACT_BITS))
            with m.Case(VectorOp.VMUL):
                m.d.comb += result.eq(vmul4)
            with m.Case(VectorOp.VMULADD):
                m.d.comb += result.eq(saturate(vmul4 + z4, fmt.ACT_BITS))
            with m.Case(VectorOp.VSIGMOID):
                m.d.comb += result.eq(sigmoid4)
            with m.Case(VectorOp.VSILU):
                m.d.comb += result.eq(saturate(round_shift_right(silu_product4, fmt.ACT_FRAC), fmt.ACT_BITS))
        m.d.comb += [self.write.addr.eq(command.d + index4), self.write.data.eq(result),
                     self.write.en.eq(valid4 & (op != VectorOp.ARGMAX))]

        best, best_index, seen = Signal(ACT), Signal.like(index), Signal()
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [seen.eq(0), best_index.eq(0)]
        with m.Elif(valid4 & (~seen | (x4 > best))):
            m.d.sync += [best.eq(x4), best_index.eq(index4), seen.eq(1)]
        m.d.comb += self.done.payload.eq(Mux(op == VectorOp.ARGMAX, best_index, 0))
        return m
