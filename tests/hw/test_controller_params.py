"""Parameter validation and elaboration of the controller (behaviour: sim/controller, against the ISS)."""

import pytest
from amaranth.back import verilog

from assembler import isa
from hw.controller import Controller


@pytest.mark.parametrize("program_words, vmem_words", [(2, 16), (1024, 4096)])
def test_elaborates(program_words, vmem_words):
    controller = Controller(program_words=program_words, vmem_words=vmem_words)
    assert "module controller" in verilog.convert(controller, name="controller")


@pytest.mark.parametrize("kwargs, message", [
    (dict(program_words=1, vmem_words=64), "program_words"),
    (dict(program_words=(1 << 16) + 1, vmem_words=64), "program_words"),
    (dict(program_words=64, vmem_words=8), "vmem_words"),
    (dict(program_words=64, vmem_words=isa.VMEM_WORDS + 1), "vmem_words"),
])
def test_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Controller(**kwargs)


def test_used_bits_cover_exactly_the_operand_fields():
    for op in isa.OPS.values():
        args = tuple(r.stop - 1 if r.stop - 1 else r.start for r in map(isa.operand_range, op.operands))
        word = int.from_bytes(isa.Instruction(op, args).encode(), "little")
        assert word & ~isa.used_bits(op) == 0
