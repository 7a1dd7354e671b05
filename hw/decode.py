"""The controller's instruction checks, from assembler.isa (the one definition): combinational, on the
instruction register; the controller registers their results in OPERANDS (hw.operands)."""

from amaranth import Cat, Signal

from assembler import isa
from golden import formats as fmt

INSTRUCTION_BITS = 8 * isa.INSTRUCTION_BYTES


def legal(m, instruction, opcode, field) -> Signal:
    """High when the instruction is legal by the rules of assembler.isa.decode: a known opcode, no bits
    outside its operand fields, SETLEN 1..MAX_VL, a normalised SETSCALE, rows and cols >= 1."""
    ok_now = Signal()
    for op in isa.OPS.values():
        with m.If(opcode == op.opcode):
            ok = (instruction & (~isa.used_bits(op) & ((1 << INSTRUCTION_BITS) - 1))) == 0
            if op.mnemonic == "SETLEN":
                ok &= (field("w0") >= 1) & (field("w0") <= isa.MAX_VL)
            if op.mnemonic == "SETSCALE":
                mantissa = field("w1_mant")
                ok &= (mantissa == 0) | mantissa[fmt.SFLOAT_MANT_BITS - 1]
            if any(o.name == "rows" for o in op.operands):
                ok &= field("c") != 0
            if any(o.name == "cols" for o in op.operands):
                ok &= field("b") != 0
            m.d.comb += ok_now.eq(ok)
    return ok_now


def aligned(m, opcode, field, vector_width: int) -> Signal:
    """High unless a vector operand is not a multiple of `vector_width` words (VMEM_MISALIGNED, which the
    controller checks before every other error, as the ISS does)."""
    ok_now = Signal(init=1)
    unit_bits = (vector_width // isa.VMEM_ALIGN - 1).bit_length() if vector_width > isa.VMEM_ALIGN else 0
    m.d.comb += ok_now.eq(1)
    if unit_bits:                                   # fields count VMEM_ALIGN words: their low bits must be 0
        for op in isa.OPS.values():
            names = [o.field for o in op.operands if o.kind is isa.Kind.VREG]
            if names:
                with m.If(opcode == op.opcode):
                    m.d.comb += ok_now.eq(Cat(field(name)[:unit_bits] for name in names) == 0)
    return ok_now
