"""`NormUnit`: RMSNORM and QUANT (the BitLinear front), in the formats of golden.hwexact.

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

Protocol. `cmd` {opcode (ISA QUANT or RMSNORM), length (<= max_length), d, x, eps, norm_exp}; then
`length` norm-weight words on `weights` (any rate; they are taken from the start of pass 1, and pass 2
runs no faster than they arrive); `done` when
the last result is written. `scale` is the S register (sqrt(n) for RMSNORM). Results: VMEM writes
through `write` (RMSNORM) or `q_write` {addr, data: signed 8, en} (QUANT).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt

from .arith import (ShiftControl, block_shift, round_shift, round_shift_right, saturate, sf_normalize_registered,
                    track_max_abs)
from .rsqrt import ReciprocalSqrt, SFloatLayout
from .sequencing import element_pass, offer, offer_done, on_completion, wait_cycles
from .vector_unit import ACT

PRODUCT_BITS = 2 * fmt.MANT_BITS                    # xm * w: 18 x 18 signed
QUOTIENT_BITS = 7                                   # |q| <= 127


class NormOp(enum.Enum, shape=8):
    QUANT = isa.OPS["QUANT"].opcode
    RMSNORM = isa.OPS["RMSNORM"].opcode


class QuantState(data.StructLayout):
    def __init__(self):
        super().__init__({"peak": unsigned(PRODUCT_BITS), "inv_sqrt": SFloatLayout(), "norm_exp": signed(8),
                          "length": range(isa.MAX_VL + 1)})


class NormUnit(wiring.Component):
    """Parameters
    vmem_words: VMEM depth (words).  max_length: longest vector (the norm-weight buffer's depth).

    Ports
    cmd: stream of {opcode: NormOp, length, d, x (VMEM word addresses), eps: unsigned 32, norm_exp: signed 8}.
    weights: stream of signed 32-bit norm-weight mantissas, one per element.
    scale: In(SFloatLayout), the S register.
    read_x, write: VMEM port masters.  q_write: {addr, data: signed(8), en} to the engine's activations.
    quant: Out(QuantState) after a QUANT.  done: stream (no payload), one per command.
    starved: pass 2 waits for a norm weight not yet arrived (performance counters).
    """

    PIPELINE = 4 + QUOTIENT_BITS                    # pass-3 cycles from read address to write

    def __init__(self, *, vmem_words: int, max_length: int):
        self._MustUse__silence = True
        if not isinstance(vmem_words, int) or not 16 <= vmem_words <= isa.VMEM_WORDS:
            raise ValueError(f"vmem_words must be in 16..{isa.VMEM_WORDS}, got {vmem_words!r}")
        if not isinstance(max_length, int) or not 1 <= max_length <= isa.MAX_VL:
            raise ValueError(f"max_length must be in 1..{isa.MAX_VL}, got {max_length!r}")
        self._MustUse__silence = False
        self.vmem_words, self.max_length = vmem_words, max_length
        addr_width = (vmem_words - 1).bit_length()
        address = unsigned(addr_width)
        super().__init__({
            "cmd": In(stream.Signature(data.StructLayout({
                "opcode": NormOp, "length": range(max_length + 1), "d": address, "x": address,
                "eps": 32, "norm_exp": signed(8)}))),
            "weights": In(stream.Signature(signed(32))),
            "scale": In(SFloatLayout()),
            "read_x": In(memory.ReadPort.Signature(addr_width=addr_width, shape=ACT)),
            "write": In(memory.WritePort.Signature(addr_width=addr_width, shape=ACT)),
            "q_write": Out(wiring.Signature({"addr": Out(range(max_length)), "data": Out(signed(8)), "en": Out(1)})),
            "quant": Out(QuantState()),
            "done": Out(stream.Signature(0)),
            "starved": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rsqrt = rsqrt = ReciprocalSqrt()
        command = Signal.like(self.cmd.payload)
        index = Signal(range(isa.MAX_VL + 1))
        x_peak = Signal(fmt.ACT_BITS + 1)
        x_shift = Signal(range(fmt.ACT_BITS + 1))
        sum_squares = Signal(fmt.SUM_SQUARES_BITS)
        p_peak = Signal(PRODUCT_BITS)
        p_shift = Signal(range(PRODUCT_BITS + 1))
        inv_sqrt = Signal(SFloatLayout())
        out_shift = Signal(signed(fmt.SFLOAT_EXP_BITS + 2))      # RMSNORM: -(rho.e + t + norm_exp + 16)
        rho_m = Signal(fmt.SFLOAT_MANT_BITS)
        drain = Signal(range(self.PIPELINE + 4))

        weight_buffer = memory.Memory(shape=signed(fmt.MANT_BITS), depth=self.max_length, init=[])
        m.submodules.weight_buffer = weight_buffer
        buffer_write, buffer_read = weight_buffer.write_port(), weight_buffer.read_port(domain="sync")

        loaded = Signal(range(isa.MAX_VL + 1))          # norm weights in the buffer
        peak_issue, sum_issue, out_issue = Signal(), Signal(), Signal()
        m.d.comb += [self.read_x.addr.eq(command.x + index), buffer_read.addr.eq(index)]

        # Scalars between the passes, computed combinationally from registered values.
        x_shift_next = block_shift(m, x_peak, "x_shift_next")
        p_shift_now = block_shift(m, p_peak, "p_shift_now")
        # The epsilon term, registered (x_shift is set a whole pass earlier), and the radicand, in RADICAND.
        eps_term = Signal(32)
        m.d.sync += eps_term.eq(Mux(x_shift == 0, command.eps, round_shift_right(command.eps, (x_shift << 1))))
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
                                 p_peak.eq(0), loaded.eq(0)]
                    m.next = "PEAK"
            element_pass(m, "PEAK", issue=peak_issue, index=index, length=command.length, next_state="PEAK_END")
            with m.State("PEAK_END"):                       # the last |x| is folded in, then the shift
                m.d.sync += drain.eq(drain + 1)
                with m.If(drain == 1):
                    m.d.sync += [x_shift.eq(x_shift_next), drain.eq(0)]
                    m.next = "SUM"
            # Pass 2 runs no faster than the norm weights arrive: an element enters once its weight is in.
            element_pass(m, "SUM", issue=sum_issue, index=index, length=command.length, next_state="SUM_END",
                         enable=index < loaded)
            with m.State("SUM_END"):                        # the last product reaches the sums
                m.d.sync += drain.eq(drain + 1)
                with m.If(drain == 4):
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
            with m.State("LEADING_ONE"):                  # sf_normalize_registered's first step
                m.next = "NORMALISE"
            with m.State("NORMALISE"):
                m.d.sync += [rho_mantissa.eq(rho_mantissa_now), rho_exponent.eq(rho_exponent_now)]
                m.next = "SCALE"
            with m.State("SCALE"):
                m.d.sync += [rho_m.eq(rho_mantissa),
                             out_shift.eq(-(rho_exponent + p_shift + command.norm_exp + fmt.ACT_FRAC))]
                with m.If(command.opcode == NormOp.QUANT):
                    m.d.sync += [self.quant.peak.eq(p_peak), self.quant.inv_sqrt.eq(inv_sqrt),
                                 self.quant.norm_exp.eq(command.norm_exp), self.quant.length.eq(command.length)]
                m.next = "OUT"
            element_pass(m, "OUT", issue=out_issue, index=index, length=command.length, next_state="OUT_END")
            wait_cycles(m, "OUT_END", counter=drain, cycles=self.PIPELINE + 1, next_state="DONE")
            offer_done(m, "DONE", done=self.done)

        # The norm weights: into the buffer as they arrive, from pass 1 on (memory latency hides behind it).
        loading = fsm.ongoing("PEAK") | fsm.ongoing("PEAK_END") | fsm.ongoing("SUM")
        m.d.comb += [self.weights.ready.eq(loading & (loaded < command.length)),
                     buffer_write.addr.eq(loaded), buffer_write.data.eq(self.weights.payload),
                     buffer_write.en.eq(self.weights.valid & self.weights.ready),
                     self.starved.eq(fsm.ongoing("SUM") & (index >= loaded))]
        with m.If(self.weights.valid & self.weights.ready):
            m.d.sync += loaded.eq(loaded + 1)
        x = self.read_x.data
        # --- Pass 1: max|x| ------------------------------------------------------------------------
        track_max_abs(m, x, peak_issue, x_peak, "x_peak")

        # --- Passes 2 and 3 share the front: xm, then p = xm * w ---------------------------------------
        valid0, out0, index0 = Signal(), Signal(), Signal.like(index)
        m.d.sync += [valid0.eq(sum_issue | out_issue), out0.eq(out_issue), index0.eq(index)]
        weight = buffer_read.data
        x_rounded = Signal(signed(fmt.ACT_BITS + 1))
        m.d.comb += x_rounded.eq(Mux(x_shift == 0, x, round_shift_right(x, x_shift)))
        valid1, out1, index1 = Signal(), Signal(), Signal.like(index)
        xm1, w1 = Signal(signed(fmt.MANT_BITS)), Signal(signed(fmt.MANT_BITS))
        m.d.sync += [valid1.eq(valid0), out1.eq(out0), index1.eq(index0),
                     xm1.eq(saturate(x_rounded, fmt.MANT_BITS)), w1.eq(weight)]
        valid2, out2, index2 = Signal(), Signal(), Signal.like(index)
        p2, square2 = Signal(signed(PRODUCT_BITS)), Signal(unsigned(PRODUCT_BITS))
        m.d.sync += [valid2.eq(valid1), out2.eq(out1), index2.eq(index1), p2.eq(xm1 * w1), square2.eq(xm1 * xm1)]
        p2_abs = Signal(PRODUCT_BITS)
        m.d.comb += p2_abs.eq(Mux(p2[-1], -p2, p2))
        with m.If(valid2 & ~out2):                         # pass 2: sum of squares, peak of the products
            m.d.sync += sum_squares.eq(sum_squares + square2)
            with m.If(p2_abs > p_peak):
                m.d.sync += p_peak.eq(p2_abs)

        # --- Pass 3, RMSNORM: u = sat18(round(p / 2**t)), y = sat32(round(u * rho.m / 2**out_shift)) ----------
        valid3, index3 = Signal(), Signal.like(index)
        u3 = Signal(signed(fmt.MANT_BITS))
        p_rounded = Signal(signed(PRODUCT_BITS + 1))
        m.d.comb += p_rounded.eq(Mux(p_shift == 0, p2, round_shift_right(p2, p_shift)))
        m.d.sync += [valid3.eq(valid2 & out2), index3.eq(index2), u3.eq(saturate(p_rounded, fmt.MANT_BITS))]
        product4 = Signal(signed(fmt.MANT_BITS + fmt.SFLOAT_MANT_BITS + 1))
        m.d.sync += product4.eq(u3 * rho_m)
        # out_shift is set in SCALE; its ShiftControl a cycle later, before the first element gets here.
        scaled = round_shift(m, product4, ShiftControl(m, out_shift, width=len(product4), max_left=fmt.ACT_BITS,
                                                       name="rmsnorm_shift"), name="rmsnorm_scaled")
        y5 = Signal(ACT)
        m.d.sync += y5.eq(saturate(scaled, fmt.ACT_BITS))

        # --- Pass 3, QUANT: |q| = floor((254 |p| + peak) / (2 peak)), restoring division --------------------
        numerator = Signal(PRODUCT_BITS + 9)
        m.d.sync += numerator.eq(2 * fmt.INT8_MAX * p2_abs + p_peak)
        negative3 = Signal()
        m.d.sync += negative3.eq(p2[-1])
        divisor = p_peak << 1
        negative = negative3
        stage_remainder = numerator
        bits = []
        for k in reversed(range(QUOTIENT_BITS)):       # one quotient bit per stage, MSB first
            trial = divisor << k
            fits = stage_remainder >= trial
            next_remainder = Signal.like(numerator, name=f"div_rem{k}")
            bit = Signal(name=f"div_bit{k}")
            m.d.sync += [next_remainder.eq(Mux(fits, stage_remainder - trial, stage_remainder)), bit.eq(fits)]
            delayed = []
            for earlier in bits:
                later = Signal(name=f"{earlier.name}_d{k}")
                m.d.sync += later.eq(earlier)
                delayed.append(later)
            neg_d = Signal(name=f"div_neg{k}")
            m.d.sync += neg_d.eq(negative)
            bits, stage_remainder, negative = delayed + [bit], next_remainder, neg_d
        magnitude = Signal(QUOTIENT_BITS)
        m.d.comb += magnitude.eq(sum(b << (QUOTIENT_BITS - 1 - i) for i, b in enumerate(bits)))
        q_value = Mux(p_peak == 0, 0, Mux(negative, -magnitude, magnitude))

        # Align the RMSNORM result and the index with the end of the division.
        depth_y = 2                                      # y5 is two registers after valid3
        chain_valid, chain_index = [valid3], [index3]
        for stage in range(QUOTIENT_BITS):               # the division's stages (numerator is beside valid3)
            v, i = Signal(name=f"out_valid{stage}"), Signal.like(index, name=f"out_index{stage}")
            m.d.sync += [v.eq(chain_valid[-1]), i.eq(chain_index[-1])]
            chain_valid.append(v)
            chain_index.append(i)
        y_chain = [y5]
        for stage in range(QUOTIENT_BITS - depth_y):
            y = Signal(ACT, name=f"y_delay{stage}")
            m.d.sync += y.eq(y_chain[-1])
            y_chain.append(y)
        valid_out, index_out, y_out = chain_valid[-1], chain_index[-1], y_chain[-1]

        is_quant = command.opcode == NormOp.QUANT
        m.d.comb += [self.write.addr.eq(command.d + index_out), self.write.data.eq(y_out),
                     self.write.en.eq(valid_out & ~is_quant),
                     self.q_write.addr.eq(index_out), self.q_write.data.eq(q_value),
                     self.q_write.en.eq(valid_out & is_quant)]
        return m
