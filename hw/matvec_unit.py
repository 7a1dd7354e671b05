"""`MatVecUnit`: MATVEC — the ternary engine fed from the image, its sums rescaled into VMEM.

    q (from the norm unit's QUANT) ─► packer ─► engine activation memory
    image matrix (one read; the reader starts each row on a fresh engine beat) ─► TernaryMatVec ─► acc_i
    acc_i ─► rescale: sat32(round(acc_i * sigma.m * 2**(sigma.e + 16))) ─► VMEM[d + i]
        sigma = sf_mul(sf_mul(S, sf_normalize(peak)), 1/sqrt) * 2**norm_exp    (golden.hwexact.bitlinear)

Protocol. The int8 activations arrive on `q_write` {addr, data, en} (any order, one element per
write) while no MATVEC runs; `quant` holds the QUANT state (peak, 1/sqrt, norm_exp, length = cols).
`cmd` {d, trits (image byte address), rows} starts a product: the unit sends one `read` command for
the whole matrix (rows of ceil(cols / trits per byte) bytes) to the image reader and takes its words on
`weights` (beat_bytes wide, each row from a fresh word; the engine masks the padding past `cols`); `done` when the last row is in VMEM; `error` when the engine saw an illegal
packed code (sticky until the next command).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt
from golden.packing import TritFormat

from .arith import ShiftControl, round_shift, saturate, sf_normalize_registered
from .image_reader import ADDRESS_BITS, ReadLayout
from .norm_unit import QuantState
from .rsqrt import SFloatLayout
from .sequencing import offer_done
from .ternary_engine import TernaryMatVec
from .vector_unit import ACT


# Cycles from a command to its rescale factor (the pipeline below: normalise (2), multiply, normalise (2),
# multiply, normalise (2), exponent, shift control), during which the engine's results wait.
RESCALE_STAGES = 11


class MatVecUnit(wiring.Component):
    """Parameters
    lanes, trit_format, max_cols, max_rows: the engine's (hw.ternary_engine.TernaryMatVec).
    vmem_words: VMEM depth (words).

    Ports
    cmd: stream of {d: VMEM word address, trits: image byte address, rows}.
    read: stream of image reads {addr, length} (to hw.image_reader.ImageReader).
    weights: stream of beat_bytes-wide words (from the reader).
    q_write: {addr, data: signed 8, en}.  quant: In(QuantState).  scale: In(SFloatLayout), the S register.
    write: VMEM write-port master.  done: stream, one per command.  error: illegal packed code seen.
    """

    def __init__(self, *, lanes: int, trit_format: TritFormat, max_cols: int, max_rows: int, vmem_words: int):
        self._MustUse__silence = True        # a refused parameter set is not an unused design
        self.engine = TernaryMatVec(lanes=lanes, trit_format=trit_format, max_cols=max_cols, max_rows=max_rows)
        if not isinstance(vmem_words, int) or not 16 <= vmem_words <= isa.VMEM_WORDS:
            self.engine._MustUse__silence = True
            raise ValueError(f"vmem_words must be in 16..{isa.VMEM_WORDS}, got {vmem_words!r}")
        self._MustUse__silence = False
        self.vmem_words = vmem_words
        self.lanes, self.trit_format = lanes, trit_format
        self.max_cols, self.max_rows = max_cols, max_rows
        addr_width = (vmem_words - 1).bit_length()
        super().__init__({
            "cmd": In(stream.Signature(data.StructLayout({"d": addr_width, "trits": ADDRESS_BITS,
                                                          "rows": range(max_rows + 1)}))),
            "read": Out(stream.Signature(ReadLayout())),
            "weights": In(stream.Signature(8 * self.engine.beat_bytes)),
            "q_write": In(wiring.Signature({"addr": Out(range(isa.MAX_VL)), "data": Out(signed(8)),
                                            "en": Out(1)})),
            "quant": In(QuantState()),
            "scale": In(SFloatLayout()),
            "write": In(memory.WritePort.Signature(addr_width=addr_width, shape=ACT)),
            "done": Out(stream.Signature(0)),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self.engine
        lanes = self.lanes

        # --- q -> engine activation words ------------------------------------------------------------
        # The norm unit writes q in index order (0 starts a vector); a word goes to the engine when its
        # last lane, or the vector's last element, arrives. Lanes past `cols` keep stale bytes: the
        # engine masks them.
        word = Signal(8 * lanes)
        lane_reg, word_reg = Signal(range(lanes)), Signal(range(isa.MAX_VL // lanes + 2))
        starts = self.q_write.addr == 0
        lane = Mux(starts, 0, lane_reg)
        word_index = Mux(starts, 0, word_reg)
        filled = Signal(8 * lanes)
        m.d.comb += filled.eq(word)
        for l in range(lanes):
            with m.If(self.q_write.en & (lane == l)):
                m.d.comb += filled[8 * l:8 * l + 8].eq(self.q_write.data)
        with m.If(self.q_write.en):
            m.d.sync += [word.eq(filled), lane_reg.eq(Mux(lane == lanes - 1, 0, lane + 1)),
                         word_reg.eq(Mux(lane == lanes - 1, word_index + 1, word_index))]
        closes = (lane == lanes - 1) | (self.q_write.addr + 1 == self.quant.length)
        m.d.comb += [engine.act_write.addr.eq(word_index), engine.act_write.data.eq(filled),
                     engine.act_write.en.eq(self.q_write.en & closes)]

        # --- The rescale factor, once per command: a free-running pipeline of one operation a stage. Its
        # inputs (the QUANT state, S) hold still while a MATVEC runs, so RESCALE_STAGES cycles after the
        # command is taken its output is this command's factor; results wait for it (`settling`).
        peak_m, peak_e = sf_normalize_registered(m, self.quant.peak, 0, "peak")
        peak_m1, peak_e1 = Signal.like(peak_m), Signal.like(peak_e)
        first = Signal(2 * fmt.SFLOAT_MANT_BITS)
        first_e = Signal(signed(fmt.SFLOAT_EXP_BITS + 2))
        m.d.sync += [peak_m1.eq(peak_m), peak_e1.eq(peak_e),
                     first.eq(self.scale.m * peak_m1), first_e.eq(self.scale.e + peak_e1)]
        first_m, first_e2 = sf_normalize_registered(m, first, first_e, "scale_peak")
        first_m1, first_e3 = Signal.like(first_m), Signal.like(first_e2)
        second = Signal(2 * fmt.SFLOAT_MANT_BITS)
        second_e = Signal(signed(fmt.SFLOAT_EXP_BITS + 2))
        m.d.sync += [first_m1.eq(first_m), first_e3.eq(first_e2),
                     second.eq(first_m1 * self.quant.inv_sqrt.m), second_e.eq(first_e3 + self.quant.inv_sqrt.e)]
        sigma_m, sigma_e = sf_normalize_registered(m, second, second_e, "sigma")
        sigma_mantissa, sigma_exponent = Signal(fmt.SFLOAT_MANT_BITS), Signal.like(sigma_e)
        out_shift = Signal(signed(fmt.SFLOAT_EXP_BITS + 2))    # -(sigma.e + norm_exp + 16)
        m.d.sync += [sigma_mantissa.eq(sigma_m), sigma_exponent.eq(sigma_e),
                     out_shift.eq(-(sigma_exponent + self.quant.norm_exp + fmt.ACT_FRAC))]
        rescale_shift = ShiftControl(m, out_shift, width=engine.acc_bits + fmt.SFLOAT_MANT_BITS + 1,
                                     max_left=fmt.ACT_BITS, name="rescale_shift")
        settling = Signal(range(RESCALE_STAGES + 1))
        with m.If(settling != 0):
            m.d.sync += settling.eq(settling - 1)

        # --- Sequencing: one reader command for the matrix; the engine consumes the words -------------------
        command = Signal.like(self.cmd.payload)
        per_byte = self.trit_format.trits_per_byte
        written = Signal(range(self.max_rows + 1))
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(engine.cmd.ready)
                with m.If(self.cmd.valid & engine.cmd.ready):
                    m.d.sync += [command.eq(self.cmd.payload), written.eq(0), settling.eq(RESCALE_STAGES)]
                    m.next = "START"
            with m.State("START"):
                m.d.comb += [engine.cmd.valid.eq(1), engine.cmd.payload.rows.eq(command.rows),
                             engine.cmd.payload.cols.eq(self.quant.length)]
                with m.If(engine.cmd.ready):
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += [self.read.valid.eq(1), self.read.payload.addr.eq(command.trits),
                             self.read.payload.length.eq((self.quant.length + per_byte - 1) // per_byte),
                             self.read.payload.rows.eq(command.rows)]
                with m.If(self.read.ready):
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(written == command.rows):
                    m.next = "DONE"
            offer_done(m, "DONE", done=self.done)
        wiring.connect(m, wiring.flipped(self.weights), engine.weights)
        m.d.comb += self.error.eq(engine.error)

        # --- Rescale each row sum into VMEM (two stages; the engine's result FIFO absorbs nothing else) ---
        m.d.comb += engine.result.ready.eq(settling == 0)
        taken = engine.result.valid & engine.result.ready
        valid1, index1 = Signal(), Signal.like(written)
        product1 = Signal(signed(engine.acc_bits + fmt.SFLOAT_MANT_BITS + 1))
        m.d.sync += [valid1.eq(taken), product1.eq(engine.result.payload * sigma_mantissa)]
        arrived = Signal.like(written)
        with m.If(taken):
            m.d.sync += arrived.eq(arrived + 1)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += arrived.eq(0)
        m.d.sync += index1.eq(arrived)
        scaled = round_shift(m, product1, rescale_shift, name="rescaled")
        m.d.comb += [self.write.addr.eq(command.d + index1), self.write.data.eq(saturate(scaled, fmt.ACT_BITS)),
                     self.write.en.eq(valid1)]
        with m.If(valid1):
            m.d.sync += written.eq(written + 1)
        return m
