"""The accelerator's instruction set: the one definition of opcodes, fields, encodings and semantics.

The assembler, the disassembler, the instruction-level simulator, docs/isa.md (generated) and the
controller RTL all read this module.

Machine state
- VMEM: the vector scratchpad, VMEM_WORDS signed 32-bit ACT (Q15.16) words. A vector operand is a
  word address, a multiple of VMEM_ALIGN (the field holds address / VMEM_ALIGN: 16 bits reach 1 MiB).
  A build of vector width V also needs every operand a multiple of V (VMEM_MISALIGNED otherwise);
  the assembler aligns allocated vectors to VECTOR_ALIGN words, enough for every V.
- The prefetch queue: up to PREFETCH_DEPTH matrix reads (PREFETCH) that the next MATVECs take, in order;
  the image streams into the accelerator while other instructions run.
- VL: the vector length register (1..MAX_VL), the element count of every vector instruction.
- r0..r15: 32-bit signed scalar registers (token ids, counters).
- A[0..B-1]: ARGMAX's running bests, (value, index), one a slot, left by ARGMAX and ARGMAXC (empty when a
  program starts): a vector too long for VMEM (the logits over a 32,000-token vocabulary) is searched in
  chunks, each as its MATVEC writes it; a batched program searches each Q slot's logits in its own A slot.
- S: the scale register, a scalar float (17-bit mantissa, signed 8-bit exponent; golden.fixedpoint.SFloat).
- Q[0..B-1]: the quantiser states left by QUANT for the next MATVEC, one a slot (B: the build's batch,
  1..MAX_BATCH): int8 activations (in the engine's block RAM), their count, peak, 1/sqrt(sum of squares)
  and the norm weight's exponent. A MATVEC over `slots` applies one pass over its matrix to Q[0..slots-1]
  (batched prefill and decode: the weights are read once for several vectors).
- External memory, byte-addressed: the model image from 0, read-only (weights, norm weights, embeddings;
  golden.image), then the work area from the image's end on, which VSTORE writes and VLOAD reads back
  (the recurrent states of a model whose states do not fit VMEM). A work-area word never written reads as
  whatever the memory holds (the ISS: 0).
- Host link: RECV takes one 32-bit word from the host, SEND/SENDV give words to it.

Encoding: every instruction is one 128-bit word, little-endian, in four 32-bit words:

    word 0   [7:0] opcode  [11:8] rd  [15:12] rs  [31:16] a
    word 1   [15:0] b      [31:16] c
    word 2   w0            (unsigned 32: image byte address, jump target, immediate)
    word 3   w1            (32: second image address, packed immediates)

Fields an instruction does not use must be zero; an opcode not in OPCODES is illegal.
"""

from __future__ import annotations

import dataclasses
import enum
import struct

from golden import formats as fmt
from golden.errors import MmfreeError

INSTRUCTION_BYTES = 16
INSTRUCTION = struct.Struct("<IIII")
VMEM_ALIGN = 4                  # words per vector-address unit (the address fields count these)
VECTOR_ALIGN = 64               # words: the assembler starts every allocated vector on a multiple of this,
                                # so a program runs on any build whose vector width V divides it (hw.vmem)
PREFETCH_DEPTH = 2              # PREFETCHes queued ahead of the MATVECs that take them
MAX_BATCH = 16                  # Q slots the widest build has: vectors one MATVEC's weight pass serves
VMEM_WORDS = VMEM_ALIGN << 16   # 16-bit vector address fields
MAX_VL = (1 << 16) - 1
ADDRESS_SPACE = 1 << 32         # external-memory bytes a 32-bit address field (w0, w1) reaches
SCALAR_REGISTERS = 16
SCALAR_BITS = 32


@dataclasses.dataclass(frozen=True)
class Field:
    name: str
    word: int
    low: int
    bits: int
    signed: bool = False

    def extract(self, words: tuple[int, ...]) -> int:
        value = (words[self.word] >> self.low) & ((1 << self.bits) - 1)
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def insert(self, value: int) -> tuple[int, int]:
        return self.word, (value & ((1 << self.bits) - 1)) << self.low

    @property
    def range(self) -> range:
        if self.signed:
            return range(-(1 << (self.bits - 1)), 1 << (self.bits - 1))
        return range(1 << self.bits)


FIELDS = {f.name: f for f in [
    Field("opcode", 0, 0, 8), Field("rd", 0, 8, 4), Field("rs", 0, 12, 4), Field("a", 0, 16, 16),
    Field("b", 1, 0, 16), Field("c", 1, 16, 16), Field("w0", 2, 0, 32), Field("w1", 3, 0, 32),
    # Packed immediates inside w1 (an operand uses either w1 or these).
    Field("w1_mant", 3, 0, fmt.SFLOAT_MANT_BITS), Field("w1_exp", 3, 24, 8, signed=True),
    Field("w1_signed", 3, 0, 32, signed=True), Field("c_exp", 1, 16, 8, signed=True),
]}


class Kind(enum.Enum):
    """Operand kinds: how the assembler parses and the disassembler prints an operand."""
    VREG = "vector address"          # VMEM word address, written as a number or a constant name
    SREG = "scalar register"         # r0..r15
    WADDR = "image address"          # byte address in the model image
    LABEL = "label"                  # instruction index, written as a label
    IMM = "immediate"                # integer


@dataclasses.dataclass(frozen=True)
class Operand:
    """optional: may be left out at the end of an operand list (it is then 0, and the disassembler leaves it
    out when it is 0); values: the legal values where fewer than the field holds (as stored)."""
    name: str
    kind: Kind
    field: str
    doc: str
    optional: bool = False
    values: range | None = None


@dataclasses.dataclass(frozen=True)
class Op:
    mnemonic: str
    opcode: int
    operands: tuple[Operand, ...]
    semantics: str
    group: str

    @property
    def fields(self) -> set[str]:
        used = {"opcode"} | {operand.field for operand in self.operands}
        return {self._STORAGE.get(name, name) for name in used}

    # Packed fields occupy the whole of their storage field (the rest must be zero).
    _STORAGE = {"w1_mant": "w1", "w1_exp": "w1", "w1_signed": "w1", "c_exp": "c"}


def _v(name, field, doc):
    return Operand(name, Kind.VREG, field, doc)


def _r(name, field, doc):
    return Operand(name, Kind.SREG, field, doc)


def _w(name, field, doc):
    return Operand(name, Kind.WADDR, field, doc)


def _i(name, field, doc, optional=False, values=None):
    return Operand(name, Kind.IMM, field, doc, optional, values)


_OPS = [
    # --- control and host link ---
    Op("NOP", 0x00, (), "no operation", "control"),
    Op("HALT", 0x01, (), "stop; the status register reads `halted`", "control"),
    Op("JMP", 0x02, (Operand("target", Kind.LABEL, "w0", "instruction index"),), "pc = target", "control"),
    Op("BZ", 0x03, (_r("rs", "rs", "tested register"), Operand("target", Kind.LABEL, "w0", "instruction index")),
       "if rs == 0: pc = target", "control"),
    Op("BNZ", 0x04, (_r("rs", "rs", "tested register"), Operand("target", Kind.LABEL, "w0", "instruction index")),
       "if rs != 0: pc = target", "control"),
    Op("LI", 0x05, (_r("rd", "rd", "destination"), _i("imm", "w1_signed", "signed 32-bit value")),
       "rd = imm", "control"),
    Op("ADDI", 0x06, (_r("rd", "rd", "destination"), _r("rs", "rs", "source"), _i("imm", "w1_signed", "signed 32-bit value")),
       "rd = rs + imm (wraps at 32 bits)", "control"),
    Op("RECV", 0x07, (_r("rd", "rd", "destination"),), "wait for a word from the host; rd = that word", "control"),
    Op("SEND", 0x08, (_r("rs", "rs", "source"),), "give rs to the host (a generated token)", "control"),
    Op("SETLEN", 0x09, (_i("n", "w0", f"vector length, 1..{MAX_VL}"),), "VL = n", "control"),
    Op("SETSCALE", 0x0A, (_i("mantissa", "w1_mant", "17-bit unsigned, 0 or in [2**16, 2**17)"),
                          _i("exponent", "w1_exp", "signed 8-bit")),
       "S = mantissa * 2**exponent (SFloat)", "control"),
    # --- data movement ---
    Op("EMBED", 0x10, (_v("vd", "a", "destination vector"), _r("rs", "rs", "token id"),
                       _i("rows", "c", "rows of the table (vocabulary size)"),
                       _w("mantissas", "w0", "int16 [rows, VL] table"), _w("exponents", "w1", "int8 [rows] table")),
       "if not 0 <= rs < rows: stop with error BAD_TOKEN; "
       "VMEM[vd + j] = sat32(round(mantissas[rs, j] * 2**(exponents[rs] + 16)))", "data"),
    Op("VLOAD", 0x11, (_v("vd", "a", "destination vector"), _w("src", "w0", "int32 [VL] in the image or the work area")),
       "VMEM[vd + j] = external memory int32 at src + 4 j (the VL words all in the image or all in the work area)",
       "data"),
    Op("VSTORE", 0x17, (_v("vs", "b", "source vector"), _w("dst", "w0", "int32 [VL] in the work area")),
       "external memory int32 at dst + 4 j = VMEM[vs + j] (dst at or beyond the image's end, else "
       "IMAGE_OUT_OF_RANGE); later reads see the words", "data"),
    Op("VLOADX", 0x18, (_v("vd", "a", "destination vector"), _w("src", "w0", "base byte address"),
                        _r("rs", "rs", "byte offset, added to src (e.g. a request slot's state)")),
       "VLOAD from external memory at src + rs (wraps at 32 bits; the same range rules as VLOAD)", "data"),
    Op("VSTOREX", 0x19, (_v("vs", "b", "source vector"), _w("dst", "w0", "base byte address"),
                         _r("rs", "rs", "byte offset, added to dst")),
       "VSTORE to external memory at dst + rs (wraps at 32 bits; the same range rules as VSTORE)", "data"),
    Op("VZERO", 0x12, (_v("vd", "a", "destination vector"),), "VMEM[vd + j] = 0", "data"),
    Op("VCOPY", 0x13, (_v("vd", "a", "destination vector"), _v("vs", "b", "source vector")),
       "VMEM[vd + j] = VMEM[vs + j]", "data"),
    Op("SENDV", 0x14, (_v("vs", "b", "source vector"),), "give VMEM[vs .. vs + VL - 1] to the host (logits)", "data"),
    Op("ARGMAX", 0x15, (_r("rd", "rd", "destination"), _v("vs", "b", "source vector"),
                        _i("slot", "rs", "A slot, 0..B-1 (default 0)", optional=True, values=range(MAX_BATCH))),
       "A[slot] = (VMEM[vs + j], j) for the lowest j with VMEM[vs + j] maximal; rd = A[slot].index", "data"),
    Op("ARGMAXC", 0x16, (_r("rd", "rd", "destination"), _v("vs", "b", "source vector: the next chunk"),
                         _i("base", "c", "index of the chunk's first element, 0..65535"),
                         _i("slot", "rs", "A slot, 0..B-1 (default 0)", optional=True, values=range(MAX_BATCH))),
       "ARGMAX continued over a chunk whose element j has index base + j: A[slot] = (VMEM[vs + j], base + j) "
       "for the lowest j with VMEM[vs + j] maximal if A[slot] is empty or that value exceeds A[slot].value (ties "
       "keep A[slot]: the lowest index wins when the chunks come in index order); rd = A[slot].index", "data"),
    # --- BitLinear: quantise, ternary product, rescale ---
    Op("QUANT", 0x20, (_v("vs", "b", "input vector x (ACT)"), _w("norm", "w0", "int32 [VL] norm mantissas"),
                       _i("norm_exp", "c_exp", "norm weight exponent, signed 8-bit"),
                       _i("eps", "w1", "RMSNorm epsilon as a sum-of-squares term: round(VL eps 2**32)"),
                       _i("slot", "rd", "Q slot written, 0..B-1 (default 0)", optional=True,
                          values=range(MAX_BATCH))),
       "Q[slot] = int8 quantisation of RMSNorm(x) * w (golden.hwexact.bitlinear front): x block-normalised "
       "to 18 bits, q = round(127 u / max|u|) of u = x_mant * w_mant, 1/sqrt(sum x_mant**2 + eps)", "bitlinear"),
    Op("MATVEC", 0x21, (_v("vd", "a", "destination vector [rows]"), _w("trits", "w0", "packed ternary matrix [rows, Q.cols]"),
                        _i("rows", "c", "rows of the matrix, 1..65535"),
                        _i("slots", "b", "Q slots served, 0..slots-1, at most B (0 or 1: slot 0 alone)",
                           optional=True, values=range(MAX_BATCH + 1)),
                        Operand("stride", Kind.VREG, "w1", "VMEM words from one slot's result to the next's (a "
                                "vector operand: a multiple of VMEM_ALIGN, and of V)", optional=True)),
       "for each slot k: acc = trits . Q[k].q (ternary engine, one pass over the matrix for every slot); "
       "VMEM[vd + k stride + i] = sat32(round(acc_i * scale * 2**16)) with "
       "scale = S * Q[k].peak * 2**Q[k].norm_exp / sqrt(Q[k].sum_sq) (the BitLinear rescale, fused); "
       "every slot's Q of the same length (else NO_QUANT)", "bitlinear"),
    Op("PREFETCH", 0x22, (_w("trits", "w0", "packed ternary matrix [rows, cols]"), _i("rows", "c", "rows, 1..65535"),
                          _i("cols", "b", "columns: the Q length of the MATVEC that takes it, 1..65535")),
       "queue the read of the matrix (at most PREFETCH_DEPTH queued, else stop with BAD_PREFETCH); the next "
       "MATVEC takes the oldest entry, which must name its trits, rows and Q.cols (else BAD_PREFETCH); "
       "a MATVEC with the queue empty reads its matrix itself", "bitlinear"),
    # --- vector unit ---
    Op("RMSNORM", 0x30, (_v("vd", "a", "destination"), _v("vs", "b", "source"),
                         _w("norm", "w0", "int32 [VL] norm mantissas"), _i("norm_exp", "c_exp", "norm exponent, signed 8-bit"),
                         _i("eps", "w1", "round(VL eps 2**32)")),
       "VMEM[vd..] = RMSNorm(VMEM[vs..]) * w, with S = sqrt(VL) (golden.hwexact.rms_norm)", "vector"),
    Op("VADD", 0x31, (_v("vd", "a", "destination"), _v("va", "b", "operand"), _v("vb", "c", "operand")),
       "vd = sat32(va + vb) (residual add)", "vector"),
    Op("VMUL", 0x32, (_v("vd", "a", "destination"), _v("va", "b", "operand"), _v("vb", "c", "operand")),
       "vd = va * vb in Q15.16 (vb block-normalised to 18 bits; golden.fixedpoint.vmul)", "vector"),
    Op("VMULADD", 0x33, (_v("vd", "a", "state, updated in place"), _v("va", "b", "gate"), _v("vb", "c", "addend")),
       "vd = sat32(vmul(vd, va) + vb) (the MLGRU state update h = h * f + i)", "vector"),
    Op("VSIGMOID", 0x34, (_v("vd", "a", "destination"), _v("vs", "b", "source")),
       "vd = sigmoid(vs) (513-entry table, linear interpolation)", "vector"),
    Op("VSILU", 0x35, (_v("vd", "a", "destination"), _v("vs", "b", "source")),
       "vd = vs * sigmoid(vs) (SiLU / swish gate)", "vector"),
    Op("VONEMINUS", 0x36, (_v("vd", "a", "destination"), _v("vs", "b", "source")),
       "vd = sat32(1.0 - vs) (gate complement)", "vector"),
]

OPS = {op.mnemonic: op for op in _OPS}
OPCODES = {op.opcode: op for op in _OPS}
assert len(OPS) == len(OPCODES) == len(_OPS), "duplicate mnemonic or opcode"


class ErrorCode(enum.IntEnum):
    """What the controller (and the ISS) report when a program stops on an error."""
    NONE = 0
    ILLEGAL_INSTRUCTION = 1
    PC_OUT_OF_RANGE = 2
    VMEM_OUT_OF_RANGE = 3
    IMAGE_OUT_OF_RANGE = 4
    BAD_TOKEN = 5
    BAD_TRITS = 6
    NO_QUANT = 7            # MATVEC without a QUANT of the right length before it
    IMAGE_FORMAT = 8        # the image header is not one this build runs (hw.image_check, at start)
    IMAGE_CRC = 9           # the image header's CRC-32 does not match
    VMEM_MISALIGNED = 10    # a vector operand not a multiple of the build's vector width
    BAD_PREFETCH = 11       # PREFETCH beyond PREFETCH_DEPTH, or a MATVEC unlike the PREFETCH it takes
    BAD_SLOT = 12           # a QUANT / ARGMAX slot or MATVEC slots beyond the build's batch (isa.MAX_BATCH at most)


@dataclasses.dataclass(frozen=True)
class Instruction:
    op: Op
    args: tuple[int, ...]           # one value per operand, in operand order

    def encode(self) -> bytes:
        words = [0, 0, 0, 0]
        for field, value in [("opcode", self.op.opcode)] + [(o.field, v) for o, v in zip(self.op.operands, self.args)]:
            spec = FIELDS[field]
            if value not in spec.range:
                raise ValueError(f"{self.op.mnemonic}: {field} value {value} outside {spec.range.start}..{spec.range.stop - 1}")
            word, bits = spec.insert(value)
            words[word] |= bits
        return INSTRUCTION.pack(*words)


class DecodeError(MmfreeError, ValueError):
    """An illegal program binary; `offset` is the byte offset of the offending instruction."""

    def __init__(self, offset: int, message: str):
        super().__init__(f"byte offset {offset}: {message}")
        self.offset = offset


def operand_range(operand: Operand) -> range:
    """Encodable values of an operand (vector operands: in VMEM_ALIGN units, as stored)."""
    if operand.kind is Kind.SREG:
        return range(SCALAR_REGISTERS)
    return operand.values if operand.values is not None else FIELDS[operand.field].range


def used_bits(op: Op) -> int:
    """Mask of the instruction bits `op` defines (opcode and operand fields); all others must be 0."""
    mask = 0
    for name in ["opcode"] + [operand.field for operand in op.operands]:
        field = FIELDS[name]
        mask |= ((1 << field.bits) - 1) << (32 * field.word + field.low)
    return mask


def semantic_error(op: Op, args: tuple[int, ...]) -> str | None:
    """Why an encodable instruction is still illegal, or None: the rules beyond field widths."""
    values = {operand.name: value for operand, value in zip(op.operands, args)}
    if op.mnemonic == "SETLEN" and not 1 <= values["n"] <= MAX_VL:
        return f"vector length {values['n']} outside 1..{MAX_VL}"
    if op.mnemonic == "SETSCALE" and values["mantissa"] and values["mantissa"] < 1 << (fmt.SFLOAT_MANT_BITS - 1):
        return f"scale mantissa {values['mantissa']} is neither 0 nor in [2**16, 2**17)"
    if "rows" in values and values["rows"] == 0:
        return "rows must be at least 1"
    if "cols" in values and values["cols"] == 0:
        return "cols must be at least 1"
    for operand, value in zip(op.operands, args):
        if operand.values is not None and value not in operand.values:
            return f"{operand.name} {value} outside {operand.values.start}..{operand.values.stop - 1}"
    return None


def required_operands(op: Op) -> int:
    """How many of op's operands an assembly line must give (the optional ones come last)."""
    count = len(op.operands)
    while count and op.operands[count - 1].optional:
        count -= 1
    return count


def decode(data: bytes, offset: int = 0) -> Instruction:
    """One instruction from 16 bytes; DecodeError (with the byte offset) for any illegal encoding."""
    if len(data) != INSTRUCTION_BYTES:
        raise DecodeError(offset, f"truncated instruction ({len(data)} of {INSTRUCTION_BYTES} bytes)")
    words = INSTRUCTION.unpack(data)
    opcode = FIELDS["opcode"].extract(words)
    op = OPCODES.get(opcode)
    if op is None:
        raise DecodeError(offset, f"illegal opcode 0x{opcode:02x}")
    args = tuple(FIELDS[o.field].extract(words) for o in op.operands)
    canonical = Instruction(op, args).encode()
    if canonical != data:
        unused = sorted({"rd", "rs", "a", "b", "c", "w0", "w1"} - op.fields)
        raise DecodeError(offset, f"{op.mnemonic} with nonzero bits in unused fields ({', '.join(unused)})")
    problem = semantic_error(op, args)
    if problem:
        raise DecodeError(offset, f"{op.mnemonic}: {problem}")
    return Instruction(op, args)


def vector_alignment(instructions: list[Instruction]) -> int:
    """The widest vector width V the program runs on: the largest power of two up to VECTOR_ALIGN that
    divides every vector operand's word address."""
    alignment = VECTOR_ALIGN
    for ins in instructions:
        for operand, value in zip(ins.op.operands, ins.args):
            if operand.kind is Kind.VREG:
                while (value * VMEM_ALIGN) % alignment:
                    alignment //= 2
    return alignment


def decode_program(data: bytes) -> list[Instruction]:
    if len(data) % INSTRUCTION_BYTES:
        raise DecodeError(len(data) - len(data) % INSTRUCTION_BYTES,
                          f"program length {len(data)} is not a multiple of {INSTRUCTION_BYTES} bytes")
    return [decode(data[i:i + INSTRUCTION_BYTES], i) for i in range(0, len(data), INSTRUCTION_BYTES)]
