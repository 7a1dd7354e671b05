"""The controller's two registered steps between DECODE and EXECUTE, so that EXECUTE decides from
registers (no adder, multiplier or wide compare in front of its next-state logic but one compare):

    OPERANDS  from the instruction register, VL and the image length: the rs register read (`token`),
              legality, every check that needs no scalar operand, the image room behind w0 / w1
              (image_bytes - address), and the factors of the one multiply.
    PREPARE   from OPERANDS' registers: the checks on the scalar operand, the ADDI sum, the branch
              decision, and the product (EMBED's VL * token, or MATVEC's / PREFETCH's matrix bytes), a DSP
              alone between registers; EXECUTE compares it with its registered room.

The vector unit's and the data mover's command payloads are registered behind them (valid from EXECUTE on).
Each check is registered as "holds"; the controller tests them in the ISS's order. The image checks
`address + nbytes <= image_bytes` are done as `nbytes <= image_bytes - address` (exact: Amaranth's
arithmetic does not wrap), so that each step has at most one or two carry chains before its register.
"""

from amaranth import Cat, Const, Mux, Signal, signed

from assembler import isa

from . import decode
from .arith import ceil_div
from .data_mover import MoveOp
from .vector_unit import VectorOp

# The ISA operands of each vector-unit op -> the unit's d, x, y, z (hw.vector_unit: VMULADD's x is the state vd).
VECTOR_ROLES = {"VADD": dict(d="vd", x="va", y="vb"), "VMUL": dict(d="vd", x="va", y="vb"),
                "VMULADD": dict(d="vd", x="vd", y="va", z="vb"), "ARGMAX": dict(x="vs"), "ARGMAXC": dict(x="vs"),
                "VZERO": dict(d="vd")}
VECTOR_FIELDS = sorted({o.field for op in isa.OPS.values() for o in op.operands if o.kind is isa.Kind.VREG})


class Operands:
    """Builds both steps in `m`; `operands_step` / `prepare_step` are the statements the controller's
    OPERANDS / PREPARE states run (m.d.sync); the attributes below are the registers they fill.

    OPERANDS: legal, aligned, token (the rs register), fits[field] (operand + VL within VMEM), short
    (VL <= max_length), matvec_shape / prefetch_shape (within the build's limits), matvec_dest_fits,
    jump_target, external (VLOAD's / VSTORE's address: w0, + rs for the X forms), slot_ok (QUANT's slot below the
    build's batch), argmax_slot_ok (ARGMAX's / ARGMAXC's A slot below it), slots_ok (MATVEC's slots at most the batch), quant_ok (every Q slot a MATVEC serves quantised,
    all of slot 0's length: NO_QUANT), matvec_dest_fits (its last slot's results within VMEM; in PREPARE when the
    batch is over 1, behind the slot offset's multiply).  PREPARE: token_ok (0 <= token < rows),
    exponent_fits (the byte at w1 + token), words_fit (4 * VL image bytes at w0), external_in_image /
    work_fits (4 * VL bytes at `external` in the image / the work area), addi_sum, branch_taken.  product_fits: the product's image
    check (combinational, for EXECUTE: EMBED's row, MATVEC's and PREFETCH's matrix)."""

    def __init__(self, m, *, controller, instruction, field, registers, vector_length, image_bytes, searched,
                 quant_valid):
        c = controller
        opcode, vl = field("opcode"), vector_length
        self.operands_step, self.prepare_step = [], []

        def register(name, value, step, shape=None):
            reg = Signal(shape if shape is not None else value.shape(), name=name)
            step.append(reg.eq(value))
            return reg

        def operand(name, value, shape=None):
            return register(name, value, self.operands_step, shape)

        def prepared(name, value, shape=None):
            return register(name, value, self.prepare_step, shape)

        # --- OPERANDS ------------------------------------------------------------------------------------
        selected = Signal(signed(isa.SCALAR_BITS))
        with m.Switch(field("rs")):
            for index, reg in enumerate(registers):
                with m.Case(index):
                    m.d.comb += selected.eq(reg)
        self.token = operand("token", selected)
        self.legal = operand("legal", decode.legal(m, instruction, opcode, field))
        self.aligned = operand("aligned", decode.aligned(m, opcode, field, c.vector_width))
        self.fits = {name: operand(f"fits_{name}", self.vector_address(field, name) + vl <= c.vmem_words)
                     for name in VECTOR_FIELDS}
        self.short = operand("short", vl <= c.max_length)
        rows, cols = field("c"), c.quant[0].length
        self.matvec_shape = operand("matvec_shape", (rows <= c.max_rows) & (cols <= c.max_cols))
        self.prefetch_shape = operand("prefetch_shape", (rows <= c.max_rows) & (field("b") <= c.max_cols))
        # MATVEC: the Q slots it serves (0..max(slots, 1) - 1) all quantised, all of slot 0's length; its last
        # slot's results (vd + (slots - 1) stride, VMEM_ALIGN words a unit) within VMEM: the offset's multiply
        # here, the sum and compare in PREPARE (a one-slot build compares here, as before batching).
        slots = field("b")
        served = [quant_valid[0]] + [(slots <= k) | (quant_valid[k] & (c.quant[k].length == c.quant[0].length))
                                     for k in range(1, c.batch)]
        self.quant_ok = operand("quant_ok", Cat(served).all())
        align_bits = (isa.VMEM_ALIGN - 1).bit_length()
        if c.batch == 1:
            self.matvec_dest_fits = operand("matvec_dest_fits", (field("a") << align_bits) + rows <= c.vmem_words)
        else:
            last_offset = operand("last_slot_offset", Mux(slots == 0, 0, slots - 1) * field("w1"))
        self.slots_ok = operand("slots_ok", slots <= c.batch)                      # MATVEC's slots (0: one)
        # The external address of a VLOAD / VSTORE: w0, plus the rs register for VLOADX / VSTOREX (mod 2**32).
        indexed = (opcode == isa.OPS["VLOADX"].opcode) | (opcode == isa.OPS["VSTOREX"].opcode)
        self.external = operand("external", (field("w0") + Mux(indexed, selected.as_unsigned(), 0))[:32])
        self.slot_ok = operand("slot_ok", field("rd") < c.batch)                   # QUANT's Q slot
        self.argmax_slot_ok = operand("argmax_slot_ok", field("rs") < c.batch)     # ARGMAX's / ARGMAXC's A slot
        room_w0 = operand("room_w0", image_bytes - field("w0"))          # image bytes from w0 on (may be < 0)
        room_w1 = operand("room_w1", image_bytes - field("w1"))
        # One multiplier, its factors chosen here: EMBED's row offset / 2 (VL * the token's low 16 bits),
        # MATVEC's or PREFETCH's matrix bytes (rows * bytes of a row of cols trits); and the room it must fit
        # in: w0 + 2 * product + 2 * VL <= image_bytes for EMBED (halved: floor), w0 + product otherwise.
        per_byte = c.trit_format.trits_per_byte
        is_embed, is_matvec = opcode == isa.OPS["EMBED"].opcode, opcode == isa.OPS["MATVEC"].opcode
        row_bytes = ceil_div(Mux(is_matvec, cols, field("b")), per_byte)
        multiplier = operand("multiplier", Mux(is_embed, vl, rows))
        multiplicand = operand("multiplicand", Mux(is_embed, selected.as_unsigned()[:16], row_bytes))
        product_room = operand("product_room", Mux(is_embed, (image_bytes - field("w0") - (vl << 1)) >> 1,
                                                   image_bytes - field("w0")))
        program_words = c.program_words
        self.jump_target = operand("jump_target", Mux(field("w0") > program_words, program_words, field("w0")),
                                   shape=range(program_words + 1))

        # --- PREPARE -------------------------------------------------------------------------------------
        token = self.token
        token16 = token.as_unsigned()[:16]
        product = prepared("product", multiplier * multiplicand)    # a DSP multiply alone between registers
        # The one compare EXECUTE makes itself, the product being ready only then: EMBED's row, MATVEC's
        # or PREFETCH's matrix lies within the image.
        self.product_fits = product <= product_room
        self.token_ok = prepared("token_ok", (token >= 0) & (token < rows))
        self.exponent_fits = prepared("exponent_fits", token16 < room_w1)    # the byte at w1 + token
        self.words_fit = prepared("words_fit", (vl << 2) <= room_w0)
        # VLOAD / VSTORE: all VL words in the image, or all in the work area beyond it (from `external`).
        self.external_in_image = prepared("external_in_image", (vl << 2) <= image_bytes - self.external)
        self.work_fits = prepared("work_fits", (self.external >= image_bytes)
                                  & ((vl << 2) <= isa.ADDRESS_SPACE - self.external))
        if c.batch > 1:
            self.matvec_dest_fits = prepared("matvec_dest_fits",
                                             ((field("a") + last_offset) << align_bits) + rows <= c.vmem_words)
        self.addi_sum = prepared("addi_sum", (token + field("w1_signed"))[:isa.SCALAR_BITS])
        self.branch_taken = prepared("branch_taken", (token == 0) == (opcode == isa.OPS["BZ"].opcode))
        self._payloads(m, c, field, opcode, vl, token16, product, searched)

    @staticmethod
    def vector_address(field, name):
        """A vector operand's VMEM word address: the field counts VMEM_ALIGN words."""
        return Cat(Const(0, (isa.VMEM_ALIGN - 1).bit_length()), field(name))

    def _payloads(self, m, controller, field, opcode, vl, token16, product, searched):
        """The vector unit's and the data mover's commands, chosen by the opcode's operand roles and
        registered every cycle, so valid from EXECUTE on, when the product is (the other units' payloads are
        fields of the instruction register as they stand). They count only while offered
        (hw.sequencing.dispatch)."""
        vector = Signal.like(controller.vector.payload, name="vector_command")
        mover = Signal.like(controller.mover.payload, name="mover_command")
        m.d.sync += [controller.vector.payload.eq(vector), controller.mover.payload.eq(mover)]
        m.d.comb += [vector.opcode.eq(opcode), vector.length.eq(vl), vector.base.eq(field("c")),
                     vector.slot.eq(field("rs")),
                     vector.fresh.eq((opcode == isa.OPS["ARGMAX"].opcode) | ~searched.bit_select(field("rs"), 1)),
                     mover.length.eq(vl)]
        with m.Switch(opcode):
            for op in isa.OPS.values():
                if op.mnemonic not in VectorOp.__members__:
                    continue
                fields = {o.name: o.field for o in op.operands if o.kind is isa.Kind.VREG}
                with m.Case(op.opcode):
                    for role, name in VECTOR_ROLES.get(op.mnemonic, dict(d="vd", x="vs")).items():
                        m.d.comb += getattr(vector, role).eq(self.vector_address(field, fields[name]))
            with m.Case(isa.OPS["VLOAD"].opcode, isa.OPS["VLOADX"].opcode):
                m.d.comb += [mover.opcode.eq(MoveOp.VLOAD), mover.d.eq(self.vector_address(field, "a")),
                             mover.src.eq(self.external)]
            with m.Case(isa.OPS["EMBED"].opcode):
                m.d.comb += [mover.opcode.eq(MoveOp.EMBED), mover.d.eq(self.vector_address(field, "a")),
                             mover.src.eq(field("w0") + (product << 1)), mover.exp_addr.eq(field("w1") + token16)]
            with m.Case(isa.OPS["SENDV"].opcode):
                m.d.comb += [mover.opcode.eq(MoveOp.SENDV), mover.d.eq(self.vector_address(field, "b"))]
            with m.Case(isa.OPS["VSTORE"].opcode, isa.OPS["VSTOREX"].opcode):
                m.d.comb += [mover.opcode.eq(MoveOp.VSTORE), mover.d.eq(self.vector_address(field, "b")),
                             mover.src.eq(self.external)]
