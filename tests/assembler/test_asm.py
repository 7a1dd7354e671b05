"""Assembler, disassembler and the ISA encoding: round trips, located errors, generated docs."""


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assembler import isa
from assembler.asm import AsmError, assemble, assemble_file
from assembler.disasm import disassemble
from assembler.docgen import DOC_PATH, isa_markdown


def _value(operand: isa.Operand, draw_int):
    valid = isa.operand_range(operand)
    return draw_int(valid.start, valid.stop - 1)


@st.composite
def instructions(draw):
    op = draw(st.sampled_from(list(isa.OPS.values())))
    ints = lambda lo, hi: draw(st.integers(lo, hi))
    args = []
    for operand in op.operands:
        if op.mnemonic == "SETLEN":
            args.append(ints(1, isa.MAX_VL))
        elif op.mnemonic == "SETSCALE" and operand.name == "mantissa":
            args.append(draw(st.one_of(st.just(0), st.integers(1 << 16, (1 << 17) - 1))))
        elif operand.name in ("rows", "cols"):
            args.append(ints(1, 0xFFFF))
        else:
            args.append(_value(operand, ints))
    return isa.Instruction(op, tuple(args))


@given(st.lists(instructions(), min_size=1, max_size=40))
@settings(max_examples=300, deadline=None)
def test_disassembly_reassembles_to_identical_bytes(program):
    binary = b"".join(ins.encode() for ins in program)
    text = disassemble(binary)
    assert assemble(text).to_bytes() == binary
    assert isa.decode_program(binary) == program


def test_every_opcode_round_trips_and_is_documented():
    doc = isa_markdown()
    for op in isa.OPS.values():
        args = tuple(max(isa.operand_range(o).start, 1) for o in op.operands)
        if op.mnemonic == "SETSCALE":
            args = (1 << 16, -3)
        ins = isa.Instruction(op, args)
        assert isa.decode(ins.encode()) == ins
        assert f"0x{op.opcode:02x} | `{op.mnemonic}" in doc


def test_docs_isa_md_is_current():
    assert DOC_PATH.read_text(encoding="utf-8") == isa_markdown(), "run: python -m assembler.docgen"


def test_labels_constants_vectors_and_expressions():
    program = assemble("""
        .const D 64            ; a constant
        .vector h D
        .vector x D + 1        # rounded up to the alignment (isa.VECTOR_ALIGN = 64)
        .vector y 4
        start:  SETLEN D
        loop:   ADDI r1, r1, -1
                BNZ r1, loop
                VADD y, x, h + 4
                JMP start
    """)
    assert (program.symbols["h"], program.symbols["x"], program.symbols["y"]) == (0, 64, 192)
    assert [ins.op.mnemonic for ins in program.instructions] == ["SETLEN", "ADDI", "BNZ", "VADD", "JMP"]
    assert program.instructions[2].args == (1, 1)                     # BNZ r1, loop (index 1)
    assert program.instructions[3].args == (192 // 4, 64 // 4, 4 // 4)  # vector operands stored / VMEM_ALIGN
    assert program.vmem_words == 256


def test_include_is_relative_to_the_including_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "consts.s").write_text(".const N 8\n")
    (tmp_path / "main.s").write_text('.include "lib/consts.s"\nSETLEN N\nHALT\n')
    program = assemble_file(tmp_path / "main.s")
    assert program.instructions[0].args == (8,)
    (tmp_path / "loop.s").write_text('.include "loop.s"\n')
    with pytest.raises(AsmError, match="nested deeper"):
        assemble_file(tmp_path / "loop.s")
    (tmp_path / "bad.s").write_text('NOP\n.include "missing.s"\n')
    with pytest.raises(AsmError, match=r"bad\.s:2:10: error: cannot read included file"):
        assemble_file(tmp_path / "bad.s")


ERRORS = [
    ("FROB r1", 1, 1, "unknown mnemonic 'FROB'"),
    ("  VADD 0, 4", 1, 3, "VADD takes 3 operand(s)"),
    ("  NOP 1", 1, 7, "NOP takes 0 operand(s)"),
    ("SEND r16", 1, 6, "must be a register r0..r15"),
    ("SEND 5", 1, 6, "must be a register"),
    ("VZERO r2", 1, 7, "is a vector address, not a register"),
    ("VZERO 6", 1, 7, "not a multiple of 4"),
    ("VZERO 262144", 1, 7, "out of range 0..262140"),
    ("LI r1, 2147483648", 1, 8, "out of range -2147483648..2147483647"),
    ("SETLEN 0", 1, 1, "vector length 0 outside 1..65535"),
    ("SETSCALE 5, 0", 1, 1, "neither 0 nor in [2**16, 2**17)"),
    ("SETSCALE 65536, 200", 1, 17, "out of range -128..127"),
    ("MATVEC 0, 0, 0", 1, 1, "rows must be at least 1"),
    ("PREFETCH 0, 1, 0", 1, 1, "cols must be at least 1"),
    ("JMP nowhere", 1, 5, "label 'nowhere' is undefined"),
    (".const K 3\nJMP K", 2, 5, "label 'K' is a constant, not a label"),
    ("a: NOP\na: NOP", 2, 1, "duplicate label 'a'"),
    (".const a 1\na: NOP", 2, 1, "duplicate label 'a' (already a constant)"),
    ("r3: NOP", 1, 1, "reserved"),
    ("SETLEN 4 +", 1, 11, "incomplete expression"),
    ("SETLEN 4 + foo", 1, 12, "undefined name 'foo'"),
    ("SETLEN 4$%", 1, 8, "is not a number or a name"),
    ("VADD 0, , 4", 1, 9, "empty operand"),
    (".bogus 1", 1, 1, "unknown directive '.bogus'"),
    (".const", 1, 7, ".const takes a name and a value"),
    (".vector v 0", 1, 9, ".vector length must be positive"),
    (".vector v 300000", 1, 9, "VMEM exhausted"),
    (".include missing.s", 1, 10, ".include takes one quoted path"),
]


@pytest.mark.parametrize("source, line, col, message", ERRORS, ids=[e[3][:30] for e in ERRORS])
def test_errors_are_located_with_a_caret(source, line, col, message):
    with pytest.raises(AsmError) as info:
        assemble(source, "prog.s")
    error = info.value
    assert (error.source, error.line, error.col) == ("prog.s", line, col), str(error)
    assert message in error.message, str(error)
    text = str(error).splitlines()
    assert text[0].startswith(f"prog.s:{line}:{col}: error: ")
    assert text[2].index("^") - 4 == col - 1                       # the caret sits under the column
    assert text[1][4:] == source.splitlines()[line - 1]


def _valid_word():
    return isa.Instruction(isa.OPS["VADD"], (1, 2, 3)).encode()


@pytest.mark.parametrize("mutate, offset, message", [
    (lambda b: b[:16] + b"\xff" + b[17:], 16, "illegal opcode 0xff"),
    (lambda b: b[:16] + bytes([0x01, 0x05]) + b[18:], 16, "HALT with nonzero bits in unused fields"),
    (lambda b: b[:-3], 16, "not a multiple of 16 bytes"),
    (lambda b: b[:16] + bytes([0x09]) + bytes(15), 16, "SETLEN: vector length 0"),
])
def test_illegal_encodings_report_their_offset(mutate, offset, message):
    binary = mutate(_valid_word() + _valid_word())
    with pytest.raises(isa.DecodeError) as info:
        disassemble(binary)
    assert info.value.offset == offset and message in str(info.value)
