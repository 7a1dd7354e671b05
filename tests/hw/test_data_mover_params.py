"""Parameter validation and elaboration of the data mover (behaviour: sim/data_mover)."""

import pytest
from amaranth.back import verilog

from assembler import isa
from hw.data_mover import DataMover, MoveOp


def test_elaborates_and_uses_the_isa_opcodes():
    assert "module data_mover" in verilog.convert(DataMover(vmem_words=4096), name="data_mover")
    assert {op.name: op.value for op in MoveOp} == {n: isa.OPS[n].opcode for n in ("VLOAD", "EMBED", "SENDV", "VSTORE")}


@pytest.mark.parametrize("words", [8, isa.VMEM_WORDS + 1])
def test_refuses_bad_sizes(words):
    with pytest.raises(ValueError, match="vmem_words"):
        DataMover(vmem_words=words)
