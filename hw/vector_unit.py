"""`VectorUnit`: the elementwise vector instructions of the ISA over the V-wide VMEM scratchpad.

V elements (one VMEM row, hw.vmem) per cycle through a fixed-latency pipeline of V identical lanes, in
the formats of golden.fixedpoint (the functions named below are the reference of each operation, bit
for bit):

    VZERO    0                                VCOPY      x
    VADD     sat32(x + y)             vadd    VONEMINUS  sat32(1.0 - x)
    VMUL     vmul(x, y)               vmul    VMULADD    sat32(vmul(x, y) + z)   (x = the state vd)
    VSIGMOID vsigmoid(x)              vsigmoid VSILU     vsilu(x) = vmul(x, vsigmoid(x))
    ARGMAX   lowest j with x_j maximal (no write)   ARGMAXC  the same, continuing the last search (A)

VMUL and VMULADD first run a pass over y for its block shift (y is normalised to 18-bit mantissas, so
each product is 32×18 — two DSPs); the main pass then streams. The block shift depends on max|y| only
through its bit length, and bit_length(max|y_j|) = bit_length(OR of |y_j|), so that pass is an OR
across the lanes (a few LUT levels, no compares) folded into a running OR. Sigmoid: a 512-word table of
(sigmoid(k/32), sigmoid((k+1)/32) − sigmoid(k/32)) in Q0.16 and a 10×11-bit interpolation product. The
table is replicated per lane: its 27-bit word needs the 36-bit port that only the DP16KD's pseudo-dual-
port mode (one read port) has; its true-dual-port mode is 18 bits a port, so two lanes sharing the two
ports of a block would need two blocks — the same count. Its read is registered twice (address and
output register), like VMEM's.

Block diagram of the main pass (one row per cycle, `latency` cycles from its read address to its write):

              ┌► lane 0: |x| ─► table ─► table word ─► interpolation ─► sigmoid ─► x·sigmoid ─► round ─┐
    row r of  │          y + half ─► y mantissa ─► x·y_mant ─► + half ─► >> shift ─► sat ─► + z ────────┼► select ─┐
    x, y, z ──┤          x+y / 1−x / x / z ─► sat ────────────────────────────────────────────────────┘          │
    (READ_    ├► lane 1 ... lane V−1 (the same; lane k: element V·r + k)      VMEM write, row d + r (V lane enables) ◄┘
    LATENCY)  └► ARGMAX tree over the lanes (a level a stage; lower lane wins ties) ─► fold (> best) ─► index

and of the y pass of VMUL/VMULADD: row r of y ─► |y| per lane (0 past the end) ─► OR tree ─► | peak.

Latency is derived, not kept: every stage is registered through a `Pipeline` (hw.pipeline), which
counts its stages from READ_LATENCY (hw.vmem); `latency` (read address to write), `argmax_latency` (to
the ARGMAX fold) and `peak_latency` (to the |y| fold) are those counts, and the FSM's drains wait for
them. Adding a register stage to a lane changes `latency` and nothing else.

Protocol. `cmd` takes a VectorCommand {opcode (the ISA opcode of the instruction), length, d, x, y, z
(VMEM word addresses, multiples of V: the controller guarantees it)}; the unit then owns its VMEM ports
until it offers `done` (payload: the ARGMAX index, 0 for the others). Row r of an operand at word
address a is VMEM row a / V + r; the last row of a length that is not a multiple of V is written with
the lanes past the end off, and those lanes affect neither ARGMAX nor the block shift. A read port's
`en` is high exactly in the cycles the unit reads it (x: every op but VZERO; y: VADD, VMUL, VMULADD —
twice for the last two; z: VMULADD). The destination may equal a source (in place: a row is written
after it is read, and never read again); other overlaps are undefined (the ISA says so).
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Fragment
from amaranth.lib import data, enum, memory, stream
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt
from golden.fixedpoint import SIGMOID_TABLE

from .arith import saturate
from .component import CheckedComponent
from .pipeline import DelayLine, Pipeline
from .sequencing import element_pass, offer_done, wait_cycles
from .vmem import READ_LATENCY, ReadSignature, WriteSignature, check_vector_width, check_vmem_words

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
    ARGMAXC = isa.OPS["ARGMAXC"].opcode
    VADD = isa.OPS["VADD"].opcode
    VMUL = isa.OPS["VMUL"].opcode
    VMULADD = isa.OPS["VMULADD"].opcode
    VSIGMOID = isa.OPS["VSIGMOID"].opcode
    VSILU = isa.OPS["VSILU"].opcode
    VONEMINUS = isa.OPS["VONEMINUS"].opcode


class VectorCommand(data.StructLayout):
    """The vector unit's command for a VMEM of `vmem_words` words: {opcode: VectorOp, length: 1..MAX_VL,
    d, x, y, z: VMEM word addresses (multiples of the build's V), base: ARGMAXC's index of element 0,
    slot: the running best A[slot] an ARGMAX / ARGMAXC searches into (0..isa.MAX_BATCH - 1; the controller
    stops a slot beyond the build's batch), fresh: start A[slot] afresh (ARGMAX, or an ARGMAXC with no search
    into that slot before it in the program)}."""

    def __init__(self, vmem_words: int):
        address = unsigned((vmem_words - 1).bit_length())
        super().__init__({"opcode": VectorOp, "length": range(isa.MAX_VL + 1),
                          "d": address, "x": address, "y": address, "z": address,
                          "base": unsigned(isa.FIELDS["c"].bits), "slot": range(isa.MAX_BATCH), "fresh": 1})


# ARGMAX's index: ARGMAXC's base (the 16-bit c field) plus an element index below MAX_VL.
ARGMAX_INDEX = range((1 << isa.FIELDS["c"].bits) + isa.MAX_VL)


def sigmoid_table_words() -> list[int]:
    """Table word k: value sigmoid(k/32) in bits [VALUE_BITS-1:0], step to k+1 above it."""
    return [int(SIGMOID_TABLE[k]) | int(SIGMOID_TABLE[k + 1] - SIGMOID_TABLE[k]) << VALUE_BITS
            for k in range(fmt.SIGMOID_SEGMENTS)]


class VectorUnit(CheckedComponent):
    """Parameters
    vmem_words: VMEM depth in ACT words (16..isa.VMEM_WORDS, a multiple of vector_width).
    vector_width: V, elements per cycle (hw.vmem.check_vector_width).
    batch: B, the running bests A[0..B-1] kept (1..isa.MAX_BATCH; a command's slot must be below it).

    Ports
    cmd: stream of VectorCommand(vmem_words).
    done: stream of ARGMAX_INDEX, one per command when its last write is done: the running best's index
    (A[slot], kept from one ARGMAX / ARGMAXC to the next, across other commands) after ARGMAX / ARGMAXC, else 0.
    read_x, read_y, read_z: VMEM read-port masters (hw.vmem.ReadSignature: a row READ_LATENCY cycles
    after its address). write: VMEM write-port master (hw.vmem.WriteSignature, V lane enables).

    Attributes (cycles, derived from the stages built; see the module docstring)
    latency: from a row's read address to its write. argmax_latency: to its ARGMAX fold.
    peak_latency: from a y row's read address (the VMUL/VMULADD pre-pass) to its fold into the |y| OR.
    """

    @classmethod
    def check_parameters(cls, *, vmem_words, vector_width, batch=1, **_) -> None:
        check_vector_width(vector_width)
        check_vmem_words(vmem_words, vector_width)
        if not isinstance(batch, int) or not 1 <= batch <= isa.MAX_BATCH:
            raise ValueError(f"batch must be in 1..{isa.MAX_BATCH}, got {batch!r}")

    def __init__(self, *, vmem_words: int, vector_width: int = 1, batch: int = 1):
        self.vmem_words, self.vector_width, self.batch = vmem_words, vector_width, batch
        self.rows = vmem_words // vector_width
        self._latencies = None
        port = ReadSignature(rows=self.rows, vector_width=vector_width)
        super().__init__({
            "cmd": In(stream.Signature(VectorCommand(vmem_words))),
            "done": Out(stream.Signature(ARGMAX_INDEX)),
            "read_x": Out(port), "read_y": Out(port), "read_z": Out(port),
            "write": Out(WriteSignature(rows=self.rows, vector_width=vector_width)),
        })

    def _latency(self, key: str) -> int:
        if self._latencies is None:
            Fragment.get(self, None)            # the stages count themselves as they are built
        return self._latencies[key]

    latency = property(lambda self: self._latency("write"), doc="read address to write, cycles")
    argmax_latency = property(lambda self: self._latency("argmax"), doc="read address to ARGMAX fold, cycles")
    peak_latency = property(lambda self: self._latency("peak"), doc="y read address to |y| fold, cycles")

    def elaborate(self, platform):
        m = Module()
        V = self.vector_width
        lane_bits = (V - 1).bit_length()
        command = self.cmd.payload
        op = Signal(VectorOp, init=VectorOp.VZERO)
        d_row, x_row, y_row, z_row = (Signal(range(self.rows), name=f"{n}_row") for n in "dxyz")
        row_count = Signal(range(-(-isa.MAX_VL // V) + 1))     # rows of the vector
        row = Signal(range(-(-isa.MAX_VL // V) + 1))           # row addressed this cycle
        last_lanes = Signal(V)                                 # lane enables of its last row
        issue = Signal()                                       # a row of the main pass is addressed
        peak_issue = Signal()                                  # a row of the y pass is addressed
        lanes = Signal(V)                                      # lanes of the row addressed, in the main pass
        peak_lanes = Signal(V)                                 # ... in the y pass
        accept = Signal()
        m.d.comb += accept.eq(self.cmd.valid & self.cmd.ready)
        enables = Mux(row + 1 == row_count, last_lanes, (1 << V) - 1)
        m.d.comb += [lanes.eq(Mux(issue, enables, 0)), peak_lanes.eq(Mux(peak_issue, enables, 0))]

        # Block-shift controls of y for the main pass of VMUL/VMULADD (constants per vector):
        # y_mant = sat18((y + y_half - (y < 0 & y_round)) >> y_right); vmul = sat32(round(x·y_mant, p_right)).
        y_half, y_round, y_right = Signal(fmt.ACT_BITS), Signal(), Signal(range(fmt.ACT_BITS))
        p_half, p_right = Signal(fmt.ACT_FRAC), Signal(range(fmt.ACT_FRAC + 1))

        # --- The lanes ------------------------------------------------------------------------------
        results, depths = [], set()
        for lane in range(V):
            result, depth = self._lane(m, lane, op, self.read_x.data[lane], self.read_y.data[lane],
                                       self.read_z.data[lane], y_half, y_round, y_right, p_half, p_right)
            results.append(result)
            depths.add(depth)
        assert len(depths) == 1, "every lane has the same stages"
        latency = depths.pop()

        lanes_delay = DelayLine(m, lanes, "lanes")
        row_delay = DelayLine(m, row, "row")
        searching = (op == VectorOp.ARGMAX) | (op == VectorOp.ARGMAXC)
        m.d.comb += [self.write.addr.eq(d_row + row_delay.at(latency)),
                     self.write.en.eq(Mux(searching, 0, lanes_delay.at(latency)))]
        m.d.comb += [self.write.data[lane].eq(result) for lane, result in enumerate(results)]

        # --- ARGMAX: a tree over the lanes, one level a stage, then folded into the running best ----
        tree = Pipeline(m, "argmax", READ_LATENCY)
        nodes = [{"value": self.read_x.data[lane], "lane": Const(lane, lane_bits),
                  "ok": lanes_delay.at(READ_LATENCY)[lane]} for lane in range(V)]
        while len(nodes) > 1:
            level = {}
            for k in range(0, len(nodes), 2):
                low, high = nodes[k], nodes[k + 1]       # low: the lower lanes, which win ties
                take_high = high["ok"] & (~low["ok"] | (high["value"] > low["value"]))
                level.update({f"value{k // 2}": (Mux(take_high, high["value"], low["value"]), ACT),
                              f"lane{k // 2}": Mux(take_high, high["lane"], low["lane"]),
                              f"ok{k // 2}": low["ok"] | high["ok"]})
            level = tree.register(level)
            nodes = [{name: level[f"{name}{k}"] for name in ("value", "lane", "ok")} for k in range(len(nodes) // 2)]
        argmax_latency = tree.depth
        # A[slot], the running bests: a `fresh` command (ARGMAX) starts its slot's anew, ARGMAXC carries on from
        # it (later elements and chunks must be strictly greater: the lowest index wins ties); others leave them.
        # The command's slot is held for its whole search, so one best is read and written: a B-way mux.
        bests = Array(Signal(ACT, name=f"best{k}") for k in range(self.batch))
        best_indices = Array(Signal(ARGMAX_INDEX, name=f"best_index{k}") for k in range(self.batch))
        seens = Array(Signal(name=f"seen{k}") for k in range(self.batch))
        slot = Signal(range(self.batch))
        index_base = Signal.like(command.base)
        node = nodes[0]
        with m.If(accept & command.fresh):
            m.d.sync += [seens[command.slot[:len(slot)]].eq(0), best_indices[command.slot[:len(slot)]].eq(0)]
        with m.Elif(searching & node["ok"] & (~seens[slot] | (node["value"] > bests[slot]))):
            m.d.sync += [bests[slot].eq(node["value"]), seens[slot].eq(1),
                         best_indices[slot].eq(index_base + Cat(node["lane"], row_delay.at(argmax_latency)))]
        m.d.comb += self.done.payload.eq(Mux(searching, best_indices[slot], 0))

        # --- The y pass: |y| per lane (0 past the end), OR across the lanes into the running peak ----
        peak_pipe = Pipeline(m, "peak", READ_LATENCY)
        peak_valid = DelayLine(m, peak_lanes, "peak_lanes").at(READ_LATENCY)
        magnitudes = peak_pipe.register({
            f"abs{lane}": (Mux(peak_valid[lane], abs(self.read_y.data[lane]), 0), unsigned(fmt.ACT_BITS))
            for lane in range(V)})
        peak_latency = peak_pipe.depth
        peak = Signal(fmt.ACT_BITS)                         # OR of |y| so far: bit_length(max |y|)
        fold = peak
        for magnitude in magnitudes.values():
            fold = fold | magnitude
        with m.If(accept):
            m.d.sync += peak.eq(0)
        with m.Else():
            m.d.sync += peak.eq(fold)

        self._latencies = {"write": latency, "argmax": argmax_latency, "peak": peak_latency}

        # --- Sequencing: idle -> (y pass -> shift) -> main pass -> drain -> done ---------------------
        drain = Signal(range(max(latency, argmax_latency, peak_latency) + 1))
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [op.eq(command.opcode), index_base.eq(command.base), slot.eq(command.slot),
                                 d_row.eq(command.d >> lane_bits),
                                 x_row.eq(command.x >> lane_bits), y_row.eq(command.y >> lane_bits),
                                 z_row.eq(command.z >> lane_bits), row.eq(0),
                                 row_count.eq(((command.length - 1) >> lane_bits) + 1),
                                 last_lanes.eq(Cat(lane < ((command.length - 1) & (V - 1)) + 1 for lane in range(V))),
                                 y_half.eq(0), y_round.eq(0), y_right.eq(0),
                                 p_half.eq(1 << (fmt.ACT_FRAC - 1)), p_right.eq(fmt.ACT_FRAC)]
                    with m.If((command.opcode == VectorOp.VMUL) | (command.opcode == VectorOp.VMULADD)):
                        m.next = "PEAK"
                    with m.Else():
                        m.next = "MAIN"
            element_pass(m, "PEAK", issue=peak_issue, index=row, length=row_count, next_state="PEAK_DRAIN")
            wait_cycles(m, "PEAK_DRAIN", counter=drain, cycles=peak_latency, next_state="SHIFT")
            with m.State("SHIFT"):                      # golden block_shift(max|y|, 18), as constants per case
                for bit in range(fmt.ACT_BITS):
                    with m.If(peak[bit]):
                        shift = max(0, bit + 1 - (fmt.MANT_BITS - 1))
                        m.d.sync += [y_half.eq((1 << shift) >> 1), y_round.eq(shift > 0), y_right.eq(shift),
                                     p_half.eq(1 << (fmt.ACT_FRAC - shift - 1)), p_right.eq(fmt.ACT_FRAC - shift)]
                m.next = "MAIN"
            element_pass(m, "MAIN", issue=issue, index=row, length=row_count, next_state="DRAIN")
            # The last row's write lands `latency` cycles after its address, its ARGMAX fold `argmax_latency`.
            wait_cycles(m, "DRAIN", counter=drain, cycles=max(latency, argmax_latency), next_state="DONE")
            offer_done(m, "DONE", done=self.done)

        reads_x = issue & (op != VectorOp.VZERO)
        reads_y = peak_issue | (issue & ((op == VectorOp.VADD) | (op == VectorOp.VMUL) | (op == VectorOp.VMULADD)))
        reads_z = issue & (op == VectorOp.VMULADD)
        for port, base, en in ((self.read_x, x_row, reads_x), (self.read_y, y_row, reads_y),
                               (self.read_z, z_row, reads_z)):
            m.d.comb += [port.addr.eq(base + row), port.en.eq(en)]
        return m

    def _lane(self, m, lane, op, x, y, z, y_half, y_round, y_right, p_half, p_right):
        """One lane's datapath from its read words to its result; (result, its depth)."""
        p = Pipeline(m, f"lane{lane}", READ_LATENCY)

        # Stage: |x| -> table address (the table's address register is this stage's); y rounded sum;
        # `side`, the word the simple operations need (x + y, 1 - x, x, or z for VMULADD).
        x_abs = Signal(fmt.ACT_BITS + 1, name=f"lane{lane}_x_abs")
        m.d.comb += x_abs.eq(abs(x))
        beyond = x_abs >= SIGMOID_LIMIT
        magnitude = Mux(beyond, SIGMOID_LIMIT - 1, x_abs)
        table = memory.Memory(shape=unsigned(VALUE_BITS + STEP_BITS), depth=fmt.SIGMOID_SEGMENTS,
                              init=sigmoid_table_words())
        m.submodules[f"sigmoid_table{lane}"] = table
        table_read = table.read_port(domain="sync")
        m.d.comb += table_read.addr.eq(magnitude >> SEGMENT)
        side = Mux(op == VectorOp.VADD, x + y, Mux(op == VectorOp.VONEMINUS, fmt.ACT_ONE - x,
                                                   Mux(op == VectorOp.VMULADD, z, x)))
        s = p.register({"x": x, "side": (side, signed(fmt.ACT_BITS + 1)),
                        "y_sum": (y + y_half - (y[-1] & y_round), signed(fmt.ACT_BITS + 1)),
                        "fraction": magnitude[:SEGMENT], "beyond": beyond, "negative": x[-1]})

        # Stage: table output register; y mantissa; side saturated.
        s = p.register({"x": s["x"], "side": (saturate(s["side"], fmt.ACT_BITS), ACT),
                        "table": table_read.data,
                        "y_mant": (saturate(s["y_sum"] >> y_right, fmt.MANT_BITS), signed(fmt.MANT_BITS)),
                        "fraction": s["fraction"], "beyond": s["beyond"], "negative": s["negative"]})

        # Stage: interpolation product; x · y_mant.
        s = p.register({"x": s["x"], "side": s["side"], "low": s["table"][:VALUE_BITS],
                        "interpolation": s["table"][VALUE_BITS:] * s["fraction"],
                        "product": s["x"] * s["y_mant"], "beyond": s["beyond"], "negative": s["negative"]})

        # Stage: sigmoid (odd symmetry); the product's rounding sum.
        sigmoid = Mux(s["beyond"], fmt.ACT_ONE,
                      s["low"] + ((s["interpolation"] + (1 << (SEGMENT - 1))) >> SEGMENT))
        s = p.register({"x": s["x"], "side": s["side"],
                        "sigmoid": (Mux(s["negative"], fmt.ACT_ONE - sigmoid, sigmoid), unsigned(VALUE_BITS)),
                        "product_sum": s["product"] + p_half - s["product"][-1]})

        # Stage: x · sigmoid(x) (SiLU: the sigmoid vector's block shift is 0, it is <= 1.0); the product
        # shifted back to Q15.16 (a barrel shifter: saturated in the next stage).
        s = p.register({"side": s["side"], "sigmoid": s["sigmoid"], "silu_product": s["x"] * s["sigmoid"],
                        "vmul_wide": (s["product_sum"] >> p_right, signed(fmt.ACT_BITS + fmt.MANT_BITS + 1))})

        # Stage: SiLU's rounding sum; vmul saturated.
        silu = s["silu_product"]
        s = p.register({"side": s["side"], "sigmoid": s["sigmoid"],
                        "vmul": (saturate(s["vmul_wide"], fmt.ACT_BITS), ACT),
                        "silu_sum": silu + (1 << (fmt.ACT_FRAC - 1)) - silu[-1]})

        # Stage: vmul + z.
        s = p.register({"side": s["side"], "sigmoid": s["sigmoid"], "vmul": s["vmul"], "silu_sum": s["silu_sum"],
                        "muladd": s["vmul"] + s["side"]})

        # Stage: the operation's result (the write data register).
        result = Signal(ACT, name=f"lane{lane}_result")
        with m.Switch(op):
            with m.Case(VectorOp.VCOPY, VectorOp.VADD, VectorOp.VONEMINUS):
                m.d.comb += result.eq(s["side"])
            with m.Case(VectorOp.VMUL):
                m.d.comb += result.eq(s["vmul"])
            with m.Case(VectorOp.VMULADD):
                m.d.comb += result.eq(saturate(s["muladd"], fmt.ACT_BITS))
            with m.Case(VectorOp.VSIGMOID):
                m.d.comb += result.eq(s["sigmoid"])
            with m.Case(VectorOp.VSILU):
                m.d.comb += result.eq(saturate(s["silu_sum"] >> fmt.ACT_FRAC, fmt.ACT_BITS))
        s = p.register({"result": result})
        return s["result"], p.depth
