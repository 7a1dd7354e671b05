"""Parameter validation and elaboration of the norm unit and its arithmetic (behaviour: sim/norm)."""

import pytest
from amaranth.back import verilog

from assembler import isa
from hw.norm_unit import NormOp, NormUnit


def test_elaborates_and_uses_the_isa_opcodes():
    unit = NormUnit(vmem_words=1024, max_length=512)
    assert "module norm_unit" in verilog.convert(unit, name="norm_unit")
    assert {op.name: op.value for op in NormOp} == {name: isa.OPS[name].opcode for name in ("QUANT", "RMSNORM")}


@pytest.mark.parametrize("kwargs, message", [
    (dict(vmem_words=8, max_length=4), "vmem_words"), (dict(vmem_words=64, max_length=0), "max_length"),
    (dict(vmem_words=64, max_length=isa.MAX_VL + 1), "max_length"),
])
def test_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NormUnit(**kwargs)
