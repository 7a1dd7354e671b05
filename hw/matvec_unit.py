"""`MatVecUnit`: MATVEC — the ternary engine fed from the image, its sums rescaled into VMEM.

    q (from the norm unit's QUANT) ─► packer ─► engine activation memory
    image matrix (one read; the reader starts each row on a fresh engine beat) ─► TernaryMatVec ─► acc_i
    acc_i ─► rescale: sat32(round(acc_i * sigma.m * 2**(sigma.e + 16))) ─► VMEM[d + i]
        sigma = sf_mul(sf_mul(S, sf_normalize(peak)), 1/sqrt) * 2**norm_exp    (golden.hwexact.bitlinear)

Protocol. The int8 activations arrive on `q_write` {addr, data, en}: V of them a write, in index
order from 0, while no MATVEC runs; `quant` holds the QUANT state (peak, 1/sqrt, norm_exp, length =
cols). `prefetch` {trits, rows, cols} (PREFETCH) sends the matrix's `read` to the image reader at once
and queues its description (`prefetched` counts them; isa.PREFETCH_DEPTH at most, the controller's
check). `cmd` {d, trits (image byte address), rows} starts a product: with a prefetch queued, it takes
the oldest, which must describe this product (else `mismatch`, and done without running); with none,
it sends its own `read` for the whole matrix (rows of ceil(cols / trits per byte) bytes). The words
come on `weights` (beat_bytes wide, each row from a fresh word; the engine masks the padding past
`cols`); `done` when the last row is in VMEM; `error` when the engine saw an illegal packed code
(sticky until the next command). `flush` forgets the queued prefetches (the reader is flushed beside).

Batch (MATVEC over Q slots, assembler.isa). Built with `batch` B, `q_write` carries the Q slot its
activations belong to (the engine holds B vectors) and `quant` holds each slot's QUANT state; `cmd`'s
`slots` (0 or 1: slot 0 alone) and `stride` (VMEM words) ask for one pass over the matrix serving slots
0..slots−1: the engine applies each beat to the slots on successive cycles (hw.ternary_engine), its row sums
come slot-interleaved, and slot k's row i is rescaled with slot k's sigma and written to d + k·stride + i.
The rescale factor is one pipeline shared by the slots: its input turns round the B slots a cycle each, and
each slot's factor (mantissa, output shift) is kept in a register of its own as it comes out, so
`rescale_latency` (the settle after a QUANT) grows by B cycles over a one-slot build's; the factor's shift
control is registered beside each result's product (the slot chosen per result).

Parallel batch (`parallel=True`: the engine's B slots side by side, hw.ternary_engine): each engine result is a
row of every slot; the B sums are rescaled side by side (B products and shifts) and gather, V rows a block,
into one V-wide word a slot, the block's `slots` words then written one a cycle (to d + k·stride + the block's
first row) from a copy while the next block fills. A row that would close a block waits in the engine's FIFO
while a block is still being written or another closing row is in the pipeline: with V >= slots + 3 rows never
wait. `stride` is a multiple of V (a vector operand: the controller stops others with VMEM_MISALIGNED).
"""

from __future__ import annotations

from amaranth import Cat, Fragment, Module, Mux, ResetInserter, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt
from golden.packing import TritFormat

from .arith import SF_NORMALIZE_STAGES, ShiftControl, ceil_div, round_shift, saturate, sf_normalize_registered
from .image_reader import ADDRESS_BITS, ReadLayout
from .norm_unit import QuantState, q_write_signature
from .rsqrt import SFloatLayout
from .component import CheckedComponent
from .pipeline import DelayLine, Pipeline
from .sequencing import offer_done
from .ternary_engine import TernaryMatVec
from .vmem import WriteSignature, check_vector_width, check_vmem_words


class MatVecCommand(data.StructLayout):
    """{d: VMEM word address, trits: image byte address, rows, slots: Q slots served (0 or 1: slot 0 alone),
    stride: VMEM words from one slot's results to the next's}; slots and stride are empty in a one-slot build."""

    def __init__(self, vmem_words: int, max_rows: int, batch: int = 1):
        address = (vmem_words - 1).bit_length()
        super().__init__({"d": address, "trits": ADDRESS_BITS, "rows": range(max_rows + 1),
                          "slots": range(batch + 1) if batch > 1 else 0, "stride": address if batch > 1 else 0})


class PrefetchLayout(data.StructLayout):
    """{trits: image byte address, rows, cols}: a matrix to read ahead (PREFETCH)."""

    def __init__(self, max_rows: int, max_cols: int):
        super().__init__({"trits": ADDRESS_BITS, "rows": range(max_rows + 1), "cols": range(max_cols + 1)})


class MatVecUnit(CheckedComponent):
    """Parameters
    lanes, trit_format, max_cols, max_rows, batch, parallel: the engine's (hw.ternary_engine.TernaryMatVec).
    vmem_words: VMEM depth (words).  vector_width: V, activations per q_write (lanes a multiple of it).

    Ports
    cmd: stream of MatVecCommand.  prefetch: stream of PrefetchLayout.  prefetched: queued prefetches.
    read: stream of image reads {addr, length, rows} (to hw.image_reader.ImageReader).
    weights: stream of beat_bytes-wide words (from the reader).
    q_write: q_write_signature.  quant: In(ArrayLayout(QuantState, batch)), each slot's.  scale: In(SFloatLayout), the S register.
    write: VMEM write-port master (hw.vmem).  done: stream, one per command.
    error: illegal packed code seen.  mismatch: the command was not the prefetch it took.  flush: see above.

    Attributes (counted from the registers elaborate makes; the first access elaborates the unit)
    rescale_latency: cycles from the rescale's inputs (QUANT state, S) to its factor (mantissa and shift
    control) being valid; a command's results wait that long after it is taken.
    """

    @classmethod
    def check_parameters(cls, *, lanes, trit_format, max_cols, max_rows, vmem_words, vector_width=1, batch=1,
                         parallel=False, **_):
        TernaryMatVec.check_parameters(lanes=lanes, trit_format=trit_format, max_cols=max_cols, max_rows=max_rows,
                                       batch=batch, parallel=parallel)
        check_vector_width(vector_width)
        check_vmem_words(vmem_words, vector_width)
        if lanes % vector_width:
            raise ValueError(f"vector_width {vector_width} must divide the engine's lanes {lanes} (a QUANT row "
                             f"of V activations lands in one engine word)")

    # Registers from an engine row sum to its VMEM write: the product by sigma's mantissa, the rounding shift
    # (the saturation then drives the write port).
    RESULT_STAGES = 2

    def __init__(self, *, lanes: int, trit_format: TritFormat, max_cols: int, max_rows: int, vmem_words: int,
                 vector_width: int = 1, batch: int = 1, parallel: bool = False):
        self.engine = TernaryMatVec(lanes=lanes, trit_format=trit_format, max_cols=max_cols, max_rows=max_rows,
                                    batch=batch, parallel=parallel)
        self.batch = batch
        self.vmem_words, self.vector_width = vmem_words, vector_width
        self.lanes, self.trit_format = lanes, trit_format
        self.max_cols, self.max_rows = max_cols, max_rows
        self._rescale_latency = None
        super().__init__({
            "cmd": In(stream.Signature(MatVecCommand(vmem_words, max_rows, batch))),
            "prefetch": In(stream.Signature(PrefetchLayout(max_rows, max_cols))),
            "prefetched": Out(range(isa.PREFETCH_DEPTH + 1)),
            "read": Out(stream.Signature(ReadLayout())),
            "weights": In(stream.Signature(8 * self.engine.beat_bytes)),
            "q_write": In(q_write_signature(vector_width, batch)),
            "quant": In(data.ArrayLayout(QuantState(), batch)),
            "scale": In(SFloatLayout()),
            "write": Out(WriteSignature(rows=vmem_words // vector_width, vector_width=vector_width)),
            "done": Out(stream.Signature(0)),
            "error": Out(1),
            "mismatch": Out(1),
            "flush": In(1),
        })

    @property
    def rescale_latency(self) -> int:
        if self._rescale_latency is None:
            Fragment.get(self, None)                       # elaborate counts the rescale's registers
        return self._rescale_latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self.engine
        lanes = self.lanes

        # --- q -> engine activation words ------------------------------------------------------------
        # The norm unit writes q in index order, V at a time (0 starts a vector); a word goes to the engine
        # when its last V lanes, or the vector's last elements, arrive. Lanes past `cols` keep stale bytes:
        # the engine masks them.
        v = self.vector_width
        groups = lanes // v                                  # V-lane groups per engine word
        word = Signal(8 * lanes)
        group_reg, word_reg = Signal(range(groups)), Signal(range(isa.MAX_VL // lanes + 2))
        # The writes are registered on arrival: they come from the norm unit's output stage across the chip.
        # (The last lands a cycle later, still cycles before the controller can dispatch the MATVEC.)
        q_addr, q_data, q_en, q_slot = (Signal.like(getattr(self.q_write, name), name=f"q_write_{name}")
                                        for name in ("addr", "data", "en", "slot"))
        m.d.sync += [q_addr.eq(self.q_write.addr), q_data.eq(self.q_write.data), q_en.eq(self.q_write.en),
                     q_slot.eq(self.q_write.slot)]
        B = self.batch
        quant = [self.quant[k] for k in range(B)]
        slot_of = (lambda view, slot: view[slot]) if B > 1 else (lambda view, slot: view[0])
        writes = q_en.any()
        starts = q_addr == 0
        group = Mux(starts, 0, group_reg)
        word_index = Mux(starts, 0, word_reg)
        filled = Signal(8 * lanes)
        m.d.comb += filled.eq(word)
        for g in range(groups):
            with m.If(writes & (group == g)):
                m.d.comb += filled[8 * v * g:8 * v * (g + 1)].eq(q_data.as_value())
        with m.If(writes):
            m.d.sync += [word.eq(filled), group_reg.eq(Mux(group == groups - 1, 0, group + 1)),
                         word_reg.eq(Mux(group == groups - 1, word_index + 1, word_index))]
        closes = (group == groups - 1) | (q_addr + v >= slot_of(self.quant, q_slot).length)
        act_address = word_index if B == 1 else Cat(word_index[:engine.word_bits], q_slot)
        m.d.comb += [engine.act_write.addr.eq(act_address), engine.act_write.data.eq(filled),
                     engine.act_write.en.eq(writes & closes)]

        # --- The rescale factor: a free-running pipeline of one operation a stage. Its inputs (the QUANT
        # state, S) hold still while a MATVEC runs, so `rescale_latency` (its depth) cycles after they last
        # changed its output is the factor; results wait for it (`settling`). Stages: normalise, register, multiply, normalise, register, multiply, normalise,
        # register, exponent, shift control.
        mant2, exp2 = unsigned(2 * fmt.SFLOAT_MANT_BITS), signed(fmt.SFLOAT_EXP_BITS + 2)
        rescale = Pipeline(m, "rescale")
        # The slot whose state enters the pipeline turns round the B slots; each stage reads its slot's state
        # as it was fed (`fed(depth)`: the slot at that stage).
        feed = Signal(range(B))
        if B > 1:
            m.d.sync += feed.eq(Mux(feed == B - 1, 0, feed + 1))
        feed_line = DelayLine(m, feed, "rescale_slot")
        fed = (lambda depth: self.quant[0]) if B == 1 else (lambda depth: self.quant[feed_line.at(depth)])
        peak_m, peak_e = rescale.built(sf_normalize_registered(m, fed(0).peak, 0, "peak"), SF_NORMALIZE_STAGES)
        s = rescale.register({"peak_m": peak_m, "peak_e": peak_e})
        s = rescale.register({"first": (self.scale.m * s["peak_m"], mant2), "first_e": (self.scale.e + s["peak_e"], exp2)})
        first_m, first_e = rescale.built(sf_normalize_registered(m, s["first"], s["first_e"], "scale_peak"),
                                         SF_NORMALIZE_STAGES)
        s = rescale.register({"first_m": first_m, "first_e": first_e})
        inv_sqrt = fed(rescale.depth).inv_sqrt
        s = rescale.register({"second": (s["first_m"] * inv_sqrt.m, mant2),
                              "second_e": (s["first_e"] + inv_sqrt.e, exp2)})
        sigma_m, sigma_e = rescale.built(sf_normalize_registered(m, s["second"], s["second_e"], "sigma"),
                                         SF_NORMALIZE_STAGES)
        s = rescale.register({"sigma_m": (sigma_m, fmt.SFLOAT_MANT_BITS), "sigma_e": sigma_e})
        norm_exp = fed(rescale.depth).norm_exp
        s = rescale.register({"sigma_m": s["sigma_m"],
                              "out_shift": (-(s["sigma_e"] + norm_exp + fmt.ACT_FRAC), exp2)})  # -(sigma.e + norm_exp + 16)
        if B == 1:
            sigma_ms, out_shifts = [s["sigma_m"]], [s["out_shift"]]
            rescale_latency = rescale.depth
        else:                   # each slot's factor kept as it comes out: all valid B cycles after the last change
            sigma_ms = [Signal.like(s["sigma_m"], name=f"sigma_m{k}") for k in range(B)]
            out_shifts = [Signal.like(s["out_shift"], name=f"out_shift{k}") for k in range(B)]
            out_slot = feed_line.at(rescale.depth)
            for k in range(B):
                with m.If(out_slot == k):
                    m.d.sync += [sigma_ms[k].eq(s["sigma_m"]), out_shifts[k].eq(s["out_shift"])]
            rescale_latency = rescale.depth + B
        self._rescale_latency = rescale_latency
        # Results wait until the factor follows the current inputs: `settling` restarts whenever they change
        # (a QUANT, a SETSCALE), long before the MATVEC that uses them, so it rarely waits at all.
        settling = Signal(range(rescale_latency + 1), init=rescale_latency)
        inputs = Cat(self.quant.as_value(), self.scale.as_value())
        previous = Signal.like(inputs)
        m.d.sync += previous.eq(inputs)
        with m.If(inputs != previous):
            m.d.sync += settling.eq(rescale_latency)
        with m.Elif(settling != 0):
            m.d.sync += settling.eq(settling - 1)

        # --- Reads: PREFETCH's at once, MATVEC's own when nothing is prefetched; queued for the reader ------
        per_byte = self.trit_format.trits_per_byte
        prefetch_layout = PrefetchLayout(self.max_rows, self.max_cols)
        reads = ResetInserter(self.flush)(SyncFIFOBuffered(width=ReadLayout().size, depth=isa.PREFETCH_DEPTH + 1))
        queued = ResetInserter(self.flush)(SyncFIFOBuffered(width=prefetch_layout.size, depth=isa.PREFETCH_DEPTH))
        m.submodules.reads, m.submodules.queued = reads, queued
        read_out = data.View(ReadLayout(), reads.r_data)
        m.d.comb += [self.read.valid.eq(reads.r_rdy), self.read.payload.eq(read_out), reads.r_en.eq(self.read.ready)]
        read_in = Signal(ReadLayout())
        m.d.comb += [reads.w_data.eq(read_in), queued.w_data.eq(self.prefetch.payload),
                     self.prefetch.ready.eq(queued.w_rdy & reads.w_rdy),
                     self.prefetched.eq(queued.level)]
        with m.If(self.prefetch.valid & self.prefetch.ready):
            p = self.prefetch.payload
            m.d.comb += [read_in.addr.eq(p.trits), read_in.length.eq(ceil_div(p.cols, per_byte)),
                         read_in.rows.eq(p.rows), reads.w_en.eq(1), queued.w_en.eq(1)]
        head = data.View(prefetch_layout, queued.r_data)

        # --- Sequencing: the matrix's read (or its prefetch); the engine consumes the words ----------------
        command = Signal.like(self.cmd.payload)
        written = Signal(range(self.max_rows + 1))
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += self.mismatch.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(engine.cmd.ready)
                with m.If(self.cmd.valid & engine.cmd.ready):
                    m.d.sync += [command.eq(self.cmd.payload), written.eq(0)]
                    with m.If(queued.r_rdy):
                        m.next = "TAKE"
                    with m.Else():
                        m.next = "READ"
            with m.State("TAKE"):                        # the oldest prefetch must be this product
                m.d.comb += queued.r_en.eq(1)
                with m.If((head.trits == command.trits) & (head.rows == command.rows)
                          & (head.cols == quant[0].length)):
                    m.next = "START"
                with m.Else():
                    m.d.sync += self.mismatch.eq(1)
                    m.next = "DONE"
            with m.State("READ"):                        # behind any read still queued (none: nothing prefetched)
                with m.If(reads.w_rdy & ~self.prefetch.valid):
                    m.d.comb += [read_in.addr.eq(command.trits),
                                 read_in.length.eq(ceil_div(quant[0].length, per_byte)),
                                 read_in.rows.eq(command.rows), reads.w_en.eq(1)]
                    m.next = "START"
            with m.State("START"):
                m.d.comb += [engine.cmd.valid.eq(1), engine.cmd.payload.rows.eq(command.rows),
                             engine.cmd.payload.cols.eq(quant[0].length)]
                if B > 1:
                    m.d.comb += engine.cmd.payload.slots.eq(command.slots)
                with m.If(engine.cmd.ready):
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(written == command.rows):
                    m.next = "DONE"
            offer_done(m, "DONE", done=self.done)
        wiring.connect(m, wiring.flipped(self.weights), engine.weights)
        m.d.comb += self.error.eq(engine.error)

        if self.engine.parallel:
            self._write_side_by_side(m, command, written, settling, sigma_ms, out_shifts)
            return m

        # --- Rescale each row sum into VMEM (three stages: product, rounding shift, saturate and write;
        # the engine's result FIFO absorbs nothing else) ------------------------------------------------------
        # The sums come slot-interleaved (hw.ternary_engine): row `arrived` of slot `slot`, whose results start
        # `offset` = slot * stride words after d.
        m.d.comb += engine.result.ready.eq(settling == 0)
        taken = engine.result.valid & engine.result.ready
        arrived = Signal.like(written)
        slot, last_slot = Signal(range(B)), Signal(range(B))
        offset = Signal(range(self.vmem_words))
        row_end = slot == last_slot                           # the row's last slot
        with m.If(taken):
            m.d.sync += arrived.eq(arrived + row_end)
            if B > 1:
                m.d.sync += [slot.eq(Mux(row_end, 0, slot + 1)), offset.eq(Mux(row_end, 0, offset + command.stride))]
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [arrived.eq(0), slot.eq(0), offset.eq(0)]
            if B > 1:
                slots = self.cmd.payload.slots
                m.d.sync += last_slot.eq(Mux(slots == 0, 0, slots - 1))
        if B == 1:
            sigma_mantissa, out_shift = sigma_ms[0], out_shifts[0]
        else:
            sigma_mantissa, out_shift = Signal.like(sigma_ms[0]), Signal.like(out_shifts[0])
            with m.Switch(slot):
                for k in range(B):
                    with m.Case(k):
                        m.d.comb += [sigma_mantissa.eq(sigma_ms[k]), out_shift.eq(out_shifts[k])]
        results = Pipeline(m, "result")
        # The shift's control registered beside the product, from the slot's shift (ShiftControl.STAGES = 1).
        rescale_shift = ShiftControl(m, out_shift, width=engine.acc_bits + fmt.SFLOAT_MANT_BITS + 1,
                                     max_left=fmt.ACT_BITS, name="rescale_shift")
        assert ShiftControl.STAGES == 1
        s = results.register({"valid": taken, "row_end": row_end, "index": (arrived + offset, range(self.vmem_words + self.max_rows)),
                              "product": (engine.result.payload * sigma_mantissa,
                                          signed(engine.acc_bits + fmt.SFLOAT_MANT_BITS + 1))})
        s = results.register({"valid": s["valid"], "row_end": s["row_end"], "index": s["index"],
                              "scaled": round_shift(m, s["product"], rescale_shift, name="rescaled")})
        assert results.depth == self.RESULT_STAGES
        valid2, index2, scaled2 = s["valid"], s["index"], s["scaled"]
        # Row i goes to word d + i: row (d + i) / V, lane (d + i) % V (d is a multiple of V).
        lane_bits = (v - 1).bit_length()
        target = command.d + index2
        result = saturate(scaled2, fmt.ACT_BITS)
        m.d.comb += [self.write.addr.eq(target >> lane_bits), self.write.en.eq(Mux(valid2, 1 << target[:lane_bits], 0)
                                                                              if lane_bits else valid2)]
        m.d.comb += [self.write.data[lane].eq(result) for lane in range(v)]
        with m.If(valid2 & s["row_end"]):
            m.d.sync += written.eq(written + 1)                 # rows whose every slot is written
        return m

    def _write_side_by_side(self, m, command, written, settling, sigma_ms, out_shifts):
        """Parallel batch: every engine result is a row of the B slots (see the module's docstring)."""
        engine, B, v = self.engine, self.batch, self.vector_width
        lane_bits = (v - 1).bit_length()
        arrived = Signal.like(written)                          # rows taken from the engine
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += arrived.eq(0)
        closes = Signal()                                       # the row ends its block of V (or the product)
        m.d.comb += closes.eq((arrived + 1 == command.rows) | ((arrived[:lane_bits] == v - 1) if lane_bits else 1))

        results = Pipeline(m, "result")
        controls = [ShiftControl(m, out_shifts[k], width=engine.acc_bits + fmt.SFLOAT_MANT_BITS + 1,
                                 max_left=fmt.ACT_BITS, name=f"rescale_shift{k}") for k in range(B)]
        assert ShiftControl.STAGES == 1
        # A closing row is taken only when no block is being written and no other closing row is on its way.
        draining = Signal()
        taken = engine.result.valid & engine.result.ready
        s1 = results.register({"valid": taken, "closes": closes, "index": arrived,
                               "product": [engine.result.payload[k] * sigma_ms[k] for k in range(B)]})
        s2 = results.register({"valid": s1["valid"], "closes": s1["closes"], "index": s1["index"],
                               "scaled": [round_shift(m, product, control, name=f"rescaled{k}")
                                          for k, (product, control) in enumerate(zip(s1["product"], controls))]})
        assert results.depth == self.RESULT_STAGES
        pending = draining | (s1["valid"] & s1["closes"]) | (s2["valid"] & s2["closes"])
        m.d.comb += engine.result.ready.eq((settling == 0) & ~(closes & pending))
        with m.If(taken):
            m.d.sync += arrived.eq(arrived + 1)

        # --- Gather: V rows of each slot into one word; a closed block copied out and written a slot a cycle --
        lane = s2["index"][:lane_bits] if lane_bits else 0
        values = [saturate(scaled, fmt.ACT_BITS) for scaled in s2["scaled"]]
        filling = [[Signal(signed(fmt.ACT_BITS), name=f"gather{k}_{l}") for l in range(v)] for k in range(B)]
        out = [[Signal(signed(fmt.ACT_BITS), name=f"gathered{k}_{l}") for l in range(v)] for k in range(B)]
        drain_slot, last_slot = Signal(range(B)), Signal(range(B))
        drain_row = Signal(range(self.vmem_words // v))
        drain_lanes, drain_rows = Signal(v), Signal(range(v + 1))
        with m.If(s2["valid"]):
            for k in range(B):
                for l in range(v):
                    with m.If(lane == l):
                        m.d.sync += filling[k][l].eq(values[k])
            with m.If(s2["closes"]):
                m.d.sync += [out[k][l].eq(Mux(lane == l, values[k], filling[k][l])) for k in range(B) for l in range(v)]
                slots = command.slots
                m.d.sync += [draining.eq(1), drain_slot.eq(0), last_slot.eq(Mux(slots == 0, 0, slots - 1)),
                             drain_row.eq((command.d >> lane_bits) + (s2["index"] >> lane_bits)),
                             drain_lanes.eq(Cat(lane >= l for l in range(v))), drain_rows.eq(lane + 1)]
        with m.Switch(drain_slot):
            for k in range(B):
                with m.Case(k):
                    m.d.comb += [self.write.data[l].eq(out[k][l]) for l in range(v)]
        m.d.comb += [self.write.addr.eq(drain_row), self.write.en.eq(Mux(draining, drain_lanes, 0))]
        with m.If(draining):
            with m.If(drain_slot == last_slot):
                m.d.sync += [draining.eq(0), written.eq(written + drain_rows)]
            with m.Else():
                m.d.sync += [drain_slot.eq(drain_slot + 1), drain_row.eq(drain_row + (command.stride >> lane_bits))]
