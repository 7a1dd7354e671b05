"""Parameter validation, table contents and elaboration of the vector unit (behaviour: sim/vector)."""

import pytest
from amaranth.back import verilog

from assembler import isa
from golden import formats as fmt
from golden.fixedpoint import SIGMOID_TABLE
from hw.vector_unit import STEP_BITS, VALUE_BITS, VectorOp, VectorUnit, sigmoid_table_words


@pytest.mark.parametrize("words", [16, 4096, isa.VMEM_WORDS])
def test_elaborates_for_vmem_sizes(words):
    unit = VectorUnit(vmem_words=words, vector_width=8)
    assert len(unit.write.addr) == (words // 8 - 1).bit_length() and len(unit.write.en) == 8
    assert "module vector_unit" in verilog.convert(unit, name="vector_unit")


@pytest.mark.parametrize("words", [0, 15, isa.VMEM_WORDS + 1, 100.0])
def test_refuses_bad_sizes(words):
    with pytest.raises(ValueError, match="vmem_words"):
        VectorUnit(vmem_words=words)


@pytest.mark.parametrize("words, width, name", [(256, 3, "vector_width"), (256, 128, "vector_width"),
                                                (256, 0, "vector_width"), (100, 8, "vmem_words")])
def test_refuses_bad_vector_widths(words, width, name):
    with pytest.raises(ValueError, match=name):
        VectorUnit(vmem_words=words, vector_width=width)


def test_opcodes_are_the_isa_opcodes_and_the_table_is_the_golden_one():
    for op in VectorOp:
        assert isa.OPS[op.name].opcode == op.value
    words = sigmoid_table_words()
    assert len(words) == fmt.SIGMOID_SEGMENTS
    for k, word in enumerate(words):
        low, step = word & ((1 << VALUE_BITS) - 1), word >> VALUE_BITS
        assert (low, low + step) == (SIGMOID_TABLE[k], SIGMOID_TABLE[k + 1])
        assert step < 1 << STEP_BITS
