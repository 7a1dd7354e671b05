"""`NormUnit`: RMSNORM and QUANT (the BitLinear front), in the formats of golden.hwexact, V elements a cycle.

Both start alike (golden.hwexact.normalized_input_with_term, then the products with the norm weights):

    pass 1  max|x| over VMEM[x ..]                          -> s = block_shift(max|x|, 18)
    pass 2  xm = sat18(round(x / 2**s)); S += xm**2;       p = xm * w (w: the norm weights, streamed in
            from the image into a buffer from the start of pass 1);  peak = max|p|
    rsqrt   1 / sqrt(S + round(eps / 2**(2 s)))             (hw.rsqrt, 43 cycles)
    pass 3  RMSNORM: u = sat18(round(p / 2**t)), t = block_shift(peak); VMEM[d + j] =
                     sat32(round(u * rho.m * 2**(rho.e + t + norm_exp + 16))), rho = sf_mul(S_reg, 1/sqrt)
            QUANT:   q_j = sign(p) floor((254 |p| + peak) / (2 peak)) by a 7-stage restoring division,
                     written to the engine's activation memory; `quant` holds peak, 1/sqrt, norm_exp for
                     MATVEC's rescale.

Each pass reads one VMEM row (V = vector_width elements) a cycle; every lane has its own datapath and
the lanes past the vector's end (in its last row) are masked: they add nothing to a maximum or a sum
and are not written.

    VMEM row x ─┬─► |x| ─► max tree ─► x_peak                                         (pass 1)
                └─► round >> s ─► sat18 = xm ─┬─► xm*xm ─► adder tree ─► S            (pass 2)
    weight buffer row (V words) ──────────────┴─► p = xm*w ─┬─► |p| ─┬─► max tree ─► peak
                                                            │        └─► 254|p| + peak ─► 7 division
                                                            │            stages ─► q lanes ─► q_write
                                                            └─► round >> t ─► sat18 ─► * rho.m ─►
                                                                round ─► sat32 ─► VMEM row d (write)

Every pipeline register is made through hw.pipeline's `Pipeline` / `DelayLine`, which count them: the
drains after each pass and the pass-3 latency (`latency`) follow from the registers elaborate makes and
hw.vmem.READ_LATENCY.

Protocol. `cmd` (NormCommand) {opcode (ISA QUANT or RMSNORM), length (<= max_length), d, x (VMEM word
addresses, multiples of V), eps, norm_exp}; then ceil(length / V) beats of V norm-weight words on
`weights`, in element order, lane 0 in the low bits, the last beat zero-padded (any rate: they are taken
from the start of pass 1, and pass 2 runs no faster than they arrive; `starved` while it waits); `done`
when the last result is written. `scale` is the S register (sqrt(n) for RMSNORM). Results: VMEM rows
through `write` (RMSNORM) or V int8 a cycle through `q_write` {addr: element index of lane 0, data,
en: lane enables} in index order from 0 (QUANT).

Batch (assembler.isa's Q slots). Built with `batch` B, a QUANT's `cmd.slot` (0..B−1) names the Q slot it
fills: its activations leave on `q_write` with that slot (the MATVEC unit's engine holds B vectors) and its
state lands in `quant[slot]`, the other slots' states unchanged. RMSNORM ignores the slot. With B = 1 the
slot fields are empty and `quant` holds one state.
"""

from __future__ import annotations

from amaranth import Fragment, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt

from .arith import (ROUND_SHIFT_UNSIGNED_STAGES, SF_NORMALIZE_STAGES, ShiftControl, block_shift, max_of, round_shift,
                    round_shift_unsigned_registered, saturate, sf_normalize_registered)
from .component import CheckedComponent
from .pipeline import DelayLine, Pipeline
from .rsqrt import ReciprocalSqrt, SFloatLayout
from .ternary_engine import check_batch
from .sequencing import element_pass, offer, offer_done, on_completion, wait_cycles
from .vmem import ACT, READ_LATENCY, ReadSignature, WriteSignature, check_vector_width, check_vmem_words, lane_enables

PRODUCT_BITS = 2 * fmt.MANT_BITS                    # xm * w: 18 x 18 signed
QUOTIENT_BITS = 7                                   # |q| <= 127
TREE_LEVELS_PER_STAGE = 1                           # adder / comparator levels between tree registers


class NormOp(enum.Enum, shape=8):
    QUANT = isa.OPS["QUANT"].opcode
    RMSNORM = isa.OPS["RMSNORM"].opcode


class NormCommand(data.StructLayout):
    """The unit's command: {opcode, length, d, x (VMEM word addresses), eps: unsigned 32, norm_exp, slot: the
    QUANT's Q slot (empty in a one-slot build)}."""

    def __init__(self, vmem_words: int, max_length: int, batch: int = 1):
        address = unsigned((vmem_words - 1).bit_length())
        super().__init__({"opcode": NormOp, "length": range(max_length + 1), "d": address, "x": address,
                          "eps": 32, "norm_exp": signed(8), "slot": range(batch)})


def q_write_signature(vector_width: int, batch: int = 1) -> wiring.Signature:
    """QUANT's activations to the MATVEC unit, V int8 a write: addr = the element index of lane 0 (a
    multiple of V, below isa.MAX_VL), en per lane, slot = the Q slot (empty when batch is 1)."""
    return wiring.Signature({"addr": Out(range(isa.MAX_VL)), "data": Out(data.ArrayLayout(signed(8), vector_width)),
                             "en": Out(vector_width), "slot": Out(range(batch))})


class QuantState(data.StructLayout):
    def __init__(self):
        super().__init__({"peak": unsigned(PRODUCT_BITS), "inv_sqrt": SFloatLayout(), "norm_exp": signed(8),
                          "length": range(isa.MAX_VL + 1)})


class NormUnit(CheckedComponent):
    """Parameters
    vmem_words: VMEM depth (words, a multiple of V).  max_length: longest vector (the norm-weight
    buffer's depth).  vector_width: V, elements a cycle (hw.vmem).  batch: Q slots (1..isa.MAX_BATCH).

    Ports
    cmd: stream of NormCommand.  weights: stream of V signed 32-bit norm-weight mantissas a beat.
    scale: In(SFloatLayout), the S register.
    read_x, write: VMEM port masters (hw.vmem).  q_write: {addr, data: V x signed(8), en: V} to the
    engine's activations.  quant: Out(ArrayLayout(QuantState, batch)), each slot's state after its QUANT.  done: stream (no payload), one per command.
    starved: pass 2 waits for a norm-weight beat not yet arrived (performance counters).

    Attributes (counted from the registers elaborate makes; the first access elaborates the unit)
    latency: pass-3 cycles from a row's read to its results' write.  peak_drain, sum_drain: cycles from
    the last read of pass 1 / pass 2 to its maxima and sums being complete.
    """

    @classmethod
    def check_parameters(cls, *, vmem_words, max_length, vector_width=1, batch=1, **_):
        check_batch(batch)
        check_vector_width(vector_width)
        check_vmem_words(vmem_words, vector_width)
        if not isinstance(max_length, int) or not 1 <= max_length <= isa.MAX_VL:
            raise ValueError(f"max_length must be in 1..{isa.MAX_VL}, got {max_length!r}")

    def __init__(self, *, vmem_words: int, max_length: int, vector_width: int = 1, batch: int = 1):
        self.vmem_words, self.max_length, self.vector_width = vmem_words, max_length, vector_width
        self.batch = batch
        self.lane_bits = (vector_width - 1).bit_length()
        self.weight_rows = -(-max_length // vector_width)
        self._depths = None
        rows = vmem_words // vector_width
        V = vector_width
        super().__init__({
            "cmd": In(stream.Signature(NormCommand(vmem_words, max_length, batch))),
            "weights": In(stream.Signature(data.ArrayLayout(signed(32), V))),
            "scale": In(SFloatLayout()),
            "read_x": Out(ReadSignature(rows=rows, vector_width=V)),
            "write": Out(WriteSignature(rows=rows, vector_width=V)),
            "q_write": Out(q_write_signature(V, batch)),
            "quant": Out(data.ArrayLayout(QuantState(), batch)),
            "done": Out(stream.Signature(0)),
            "starved": Out(1),
        })

    def _depth(self, key: str) -> int:
        if self._depths is None:
            Fragment.get(self, None)                       # elaborate counts the pipeline's registers
        return self._depths[key]

    @property
    def latency(self) -> int:
        return self._depth("out")

    @property
    def peak_drain(self) -> int:
        return self._depth("peak")

    @property
    def sum_drain(self) -> int:
        return self._depth("sum")

    @property
    def lead_cycles(self) -> int:
        """Cycles from the command taken to pass 2's first row, beyond pass 1's rows: IDLE 1 and PEAK_END
        (peak_drain + 1). The norm weights stream in meanwhile, so a late weight hides them."""
        return 1 + self.peak_drain + 1

    def command_cycles(self, length: int) -> int:
        """Cycles from the command taken to `done` offered (inclusive) when the norm weights arrive in time:
        IDLE 1, three passes of ceil(length / V) rows, the drains (PEAK_END peak_drain + 1, SUM_END
        sum_drain + 1, OUT_END latency), RADICAND and RSQRT 2, the 1/sqrt LATENCY + 1, rho (PRODUCT, the
        normalisation's SF_NORMALIZE_STAGES, SCALE), DONE 1."""
        rows = -(-length // self.vector_width)
        rho = 1 + SF_NORMALIZE_STAGES + 2
        return (self.lead_cycles + 3 * rows + (self.sum_drain + 1) + 2 + ReciprocalSqrt.LATENCY + 1 + rho
                + self.latency + 1)

    def elaborate(self, platform):
        m = Module()
        V, lane_bits = self.vector_width, self.lane_bits
        lanes = range(V)
        m.submodules.rsqrt = rsqrt = ReciprocalSqrt()
        command = Signal.like(self.cmd.payload)
        rows = Signal(range(self.weight_rows + 1))           # the command's rows: ceil(length / V)
        index = Signal(range(self.weight_rows + 1))          # the row being issued
        x_peak = Signal(fmt.ACT_BITS + 1)
        x_shift = Signal(range(fmt.ACT_BITS + 1))
        sum_squares = Signal(fmt.SUM_SQUARES_BITS)
        p_peak = Signal(PRODUCT_BITS)
        p_shift = Signal(range(PRODUCT_BITS + 1))
        inv_sqrt = Signal(SFloatLayout())
        out_shift = Signal(signed(fmt.SFLOAT_EXP_BITS + 2))      # RMSNORM: -(rho.e + t + norm_exp + 16)
        rho_m = Signal(fmt.SFLOAT_MANT_BITS)
        is_quant = command.opcode == NormOp.QUANT

        weight_buffer = memory.Memory(shape=data.ArrayLayout(signed(fmt.MANT_BITS), V), depth=self.weight_rows,
                                      init=[])
        m.submodules.weight_buffer = weight_buffer
        buffer_write, buffer_read = weight_buffer.write_port(), weight_buffer.read_port(domain="sync")
        loaded = Signal(range(self.weight_rows + 1))          # norm-weight rows in the buffer
        peak_issue, sum_issue, out_issue = Signal(), Signal(), Signal()
        m.d.comb += [self.read_x.addr.eq((command.x >> lane_bits) + index),
                     self.read_x.en.eq(peak_issue | sum_issue | out_issue)]

        # What travels beside each row read: its index, its live lanes, which pass issued it.
        index_line = DelayLine(m, index, "row")
        live_line = DelayLine(m, lane_enables(m, count=command.length - (index << lane_bits), vector_width=V,
                                          name="live"), "live")
        peak_line, sum_line, out_line = (DelayLine(m, s, n) for s, n in ((peak_issue, "peak_valid"),
                                                                      (sum_issue, "sum_valid"),
                                                                      (out_issue, "out_valid")))
        x = self.read_x.data                                # the row, READ_LATENCY cycles after its read

        # --- Pass 1: max|x| (lanes past the end count as 0) -----------------------------------------------
        p1 = Pipeline(m, "p1", READ_LATENCY)
        live = live_line.at(p1.depth)
        x_abs = p1.register({"x_abs": ([Mux(live[k], Mux(x[k][-1], -x[k], x[k]), 0) for k in lanes],
                                       unsigned(fmt.ACT_BITS))})["x_abs"]
        x_max = p1.tree("x_max", x_abs, max_of, levels_per_stage=TREE_LEVELS_PER_STAGE)
        with m.If(peak_line.at(p1.depth) & (x_max > x_peak)):
            m.d.sync += x_peak.eq(x_max)

        # --- Passes 2 and 3 share the front: xm, then p = xm * w -----------------------------------------------
        x_control = ShiftControl(m, x_shift, width=fmt.ACT_BITS, max_left=0, name="x_shift")
        front = Pipeline(m, "front", READ_LATENCY)
        x_rounded = front.register({"x_rounded": ([round_shift(m, x[k], x_control, name=f"x_round{k}") for k in lanes],
                                                  signed(fmt.ACT_BITS + 1))})["x_rounded"]
        live = live_line.at(front.depth)
        xm = front.register({"xm": ([Mux(live[k], saturate(x_rounded[k], fmt.MANT_BITS), 0) for k in lanes],
                                    signed(fmt.MANT_BITS))})["xm"]
        # The weight row, due beside xm: a synchronous read port and an output register (no arithmetic
        # straight after a block-RAM read), so its address leaves two cycles earlier.
        weight_row = Signal.like(buffer_read.data)
        m.d.sync += weight_row.eq(buffer_read.data)
        m.d.comb += buffer_read.addr.eq(index_line.at(front.depth - 2))
        s = front.register({"p": ([xm[k] * weight_row[k] for k in lanes], signed(PRODUCT_BITS)),
                            "square": ([xm[k] * xm[k] for k in lanes], unsigned(PRODUCT_BITS))})
        p, square = s["p"], s["square"]

        # --- Pass 2: the sum of squares (exact) and max|p| ----------------------------------------------------
        sums = front.fork("sum")
        square_sum = sums.tree("squares", square, lambda a, b: a + b, levels_per_stage=TREE_LEVELS_PER_STAGE)
        with m.If(sum_line.at(sums.depth)):
            m.d.sync += sum_squares.eq(sum_squares + square_sum)
        magnitudes = front.fork("p_abs")
        s = magnitudes.register({"p_abs": ([Mux(p[k][-1], -p[k], p[k]) for k in lanes], unsigned(PRODUCT_BITS)),
                                 "negative": ([p[k][-1] for k in lanes], 1)})
        p_abs, p_negative = s["p_abs"], s["negative"]
        peaks = magnitudes.fork("peak")
        p_max = peaks.tree("p_max", p_abs, max_of, levels_per_stage=TREE_LEVELS_PER_STAGE)
        with m.If(sum_line.at(peaks.depth) & (p_max > p_peak)):
            m.d.sync += p_peak.eq(p_max)

        # --- Pass 3, RMSNORM: u = sat18(round(p / 2**t)), y = sat32(round(u * rho.m / 2**out_shift)) ----------
        p_control = ShiftControl(m, p_shift, width=PRODUCT_BITS, max_left=0, name="p_shift")
        # out_shift is set in SCALE; its ShiftControl a cycle later, before the first row gets here.
        out_control = ShiftControl(m, out_shift, width=PRODUCT_BITS, max_left=fmt.ACT_BITS, name="rmsnorm_shift")
        rms = front.fork("rms")
        p_rounded = rms.register({"p_rounded": ([round_shift(m, p[k], p_control, name=f"p_round{k}") for k in lanes],
                                                signed(PRODUCT_BITS + 1))})["p_rounded"]
        u = rms.register({"u": ([saturate(p_rounded[k], fmt.MANT_BITS) for k in lanes], signed(fmt.MANT_BITS))})["u"]
        scaled = rms.register({"scaled": ([u[k] * rho_m for k in lanes], signed(PRODUCT_BITS))})["scaled"]
        y_rounded = rms.register({"y_rounded": ([round_shift(m, scaled[k], out_control, name=f"y_round{k}")
                                                 for k in lanes], signed(PRODUCT_BITS + fmt.ACT_BITS + 1))})["y_rounded"]
        y = rms.register({"y": ([saturate(y_rounded[k], fmt.ACT_BITS) for k in lanes], ACT)})["y"]

        # --- Pass 3, QUANT: |q| = floor((254 |p| + peak) / (2 peak)), restoring division --------------------
        quant = magnitudes.fork("quant")
        numerator_shape = unsigned(PRODUCT_BITS + 9)
        assert 2 * fmt.INT8_MAX == (1 << 8) - (1 << 1)       # 254 |p| as shifts (no multiplier)
        s = quant.register({"numerator": ([(p_abs[k] << 8) - (p_abs[k] << 1) + p_peak for k in lanes], numerator_shape),
                            "negative": (p_negative, 1)})
        remainder, negative = s["numerator"], s["negative"]
        divisor = p_peak << 1
        quotient = [0 for _ in lanes]
        for bit in reversed(range(QUOTIENT_BITS)):         # one quotient bit per stage, MSB first
            trial = divisor << bit
            fits = [remainder[k] >= trial for k in lanes]
            s = quant.register({
                "remainder": ([Mux(fits[k], remainder[k] - trial, remainder[k]) for k in lanes], numerator_shape),
                "quotient": ([(quotient[k] << 1) | fits[k] for k in lanes], QUOTIENT_BITS - bit),
                "negative": (negative, 1)})
            remainder, quotient, negative = s["remainder"], s["quotient"], s["negative"]
        q_value = [Mux(p_peak == 0, 0, Mux(negative[k], -quotient[k], quotient[k])) for k in lanes]

        # --- The results: each branch writes in the cycle its last stage is valid -----------------------------
        rms_depth, quant_depth = rms.depth, quant.depth
        m.d.comb += [self.write.addr.eq((command.d >> lane_bits) + index_line.at(rms_depth)),
                     self.write.en.eq(Mux(out_line.at(rms_depth) & ~is_quant, live_line.at(rms_depth), 0)),
                     self.q_write.addr.eq(index_line.at(quant_depth) << lane_bits), self.q_write.slot.eq(command.slot),
                     self.q_write.en.eq(Mux(out_line.at(quant_depth) & is_quant, live_line.at(quant_depth), 0))]
        m.d.comb += [self.write.data[k].eq(y[k]) for k in lanes]
        m.d.comb += [self.q_write.data[k].eq(q_value[k]) for k in lanes]

        # Cycles after a pass's last read until its results are complete (accumulators) or written.
        peak_drain, sum_drain = p1.depth, max(sums.depth, peaks.depth)
        latency = max(rms_depth, quant_depth)
        self._depths = {"peak": peak_drain, "sum": sum_drain, "out": latency}
        drain = Signal(range(max(peak_drain, sum_drain, latency) + 1))

        # Scalars between the passes, computed combinationally from registered values.
        x_shift_next = block_shift(m, x_peak, "x_shift_next")
        p_shift_now = block_shift(m, p_peak, "p_shift_now")
        # The epsilon term round(eps / 2**(2 x_shift)), in registered steps: x_shift is set in PEAK_END and the
        # term is taken in RADICAND, a whole pass and a drain later.
        eps_term = round_shift_unsigned_registered(m, command.eps, x_shift << 1, name="eps_term")
        assert ROUND_SHIFT_UNSIGNED_STAGES <= 1 + sum_drain + 1, "the epsilon term must be ready in RADICAND"
        radicand = Signal(fmt.SUM_SQUARES_BITS)
        # rho = S * 1/sqrt over registered steps (PRODUCT, LEADING_ONE, NORMALISE) ahead of SCALE.
        rho_value = Signal(2 * fmt.SFLOAT_MANT_BITS)
        rho_sum_e = Signal(signed(fmt.SFLOAT_EXP_BITS + 1))
        rho_mantissa_now, rho_exponent_now = sf_normalize_registered(m, rho_value, rho_sum_e, "rho")
        rho_mantissa, rho_exponent = Signal.like(rho_mantissa_now), Signal.like(rho_exponent_now)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [command.eq(self.cmd.payload), index.eq(0), x_peak.eq(0), sum_squares.eq(0),
                                 p_peak.eq(0), loaded.eq(0),
                                 rows.eq((self.cmd.payload.length + (V - 1)) >> lane_bits)]
                    m.next = "PEAK"
            element_pass(m, "PEAK", issue=peak_issue, index=index, length=rows, next_state="PEAK_END")
            with m.State("PEAK_END"):                       # the last |x| reaches x_peak, then the shift
                m.d.sync += drain.eq(drain + 1)
                with m.If(drain == peak_drain):
                    m.d.sync += [x_shift.eq(x_shift_next), drain.eq(0)]
                    m.next = "SUM"
            # Pass 2 runs no faster than the norm weights arrive: a row enters once its weights are in.
            element_pass(m, "SUM", issue=sum_issue, index=index, length=rows, next_state="SUM_END",
                         enable=index < loaded)
            with m.State("SUM_END"):                        # the last row reaches the sums and the peak
                m.d.sync += drain.eq(drain + 1)
                with m.If(drain == sum_drain):
                    m.d.sync += [drain.eq(0), p_shift.eq(p_shift_now)]
                    m.next = "RADICAND"
            with m.State("RADICAND"):
                m.d.sync += radicand.eq(sum_squares + eps_term)
                m.next = "RSQRT"
            with offer(m, "RSQRT", command=rsqrt.request, next_state="RSQRT_WAIT"):
                m.d.comb += rsqrt.request.payload.eq(radicand)
            with on_completion(m, "RSQRT_WAIT", done=rsqrt.response):
                m.d.sync += inv_sqrt.eq(rsqrt.response.payload)
                m.next = "PRODUCT"
            with m.State("PRODUCT"):
                m.d.sync += [rho_value.eq(self.scale.m * inv_sqrt.m), rho_sum_e.eq(self.scale.e + inv_sqrt.e)]
                m.next = "LEADING_ONE"
            # sf_normalize_registered's steps; NORMALISE takes its result
            wait_cycles(m, "LEADING_ONE", counter=drain, cycles=SF_NORMALIZE_STAGES, next_state="NORMALISE")
            with m.State("NORMALISE"):
                m.d.sync += [rho_mantissa.eq(rho_mantissa_now), rho_exponent.eq(rho_exponent_now)]
                m.next = "SCALE"
            with m.State("SCALE"):
                m.d.sync += [rho_m.eq(rho_mantissa),
                             out_shift.eq(-(rho_exponent + p_shift + command.norm_exp + fmt.ACT_FRAC))]
                for k in range(self.batch):
                    with m.If(is_quant & (command.slot == k)):
                        state = self.quant[k]
                        m.d.sync += [state.peak.eq(p_peak), state.inv_sqrt.eq(inv_sqrt),
                                     state.norm_exp.eq(command.norm_exp), state.length.eq(command.length)]
                m.next = "OUT"
            element_pass(m, "OUT", issue=out_issue, index=index, length=rows, next_state="OUT_END")
            wait_cycles(m, "OUT_END", counter=drain, cycles=latency, next_state="DONE")
            offer_done(m, "DONE", done=self.done)

        # The norm weights: into the buffer as they arrive, from pass 1 on (memory latency hides behind it).
        loading = fsm.ongoing("PEAK") | fsm.ongoing("PEAK_END") | fsm.ongoing("SUM")
        taken = self.weights.valid & self.weights.ready
        m.d.comb += [self.weights.ready.eq(loading & (loaded < rows)),
                     buffer_write.addr.eq(loaded), buffer_write.en.eq(taken),
                     self.starved.eq(fsm.ongoing("SUM") & (index >= loaded))]
        m.d.comb += [buffer_write.data[k].eq(self.weights.payload[k]) for k in lanes]
        with m.If(taken):
            m.d.sync += loaded.eq(loaded + 1)
        return m
