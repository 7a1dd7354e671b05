"""Parameter validation and elaboration of the MATVEC unit (behaviour: sim/matvec)."""

import pytest
from amaranth.back import verilog

from golden.packing import TritFormat
from hw.matvec_unit import MatVecUnit


@pytest.mark.parametrize("lanes, trit_format", [(8, TritFormat.TRITS_2BIT), (20, TritFormat.TRITS_BASE3)])
def test_elaborates(lanes, trit_format):
    unit = MatVecUnit(lanes=lanes, trit_format=trit_format, max_cols=512, max_rows=512, vmem_words=1024)
    assert len(unit.weights.payload) == 8 * unit.engine.beat_bytes
    assert "module matvec_unit" in verilog.convert(unit, name="matvec_unit")


@pytest.mark.parametrize("kwargs, message", [
    (dict(lanes=8, trit_format=TritFormat.TRITS_2BIT, max_cols=64, max_rows=64, vmem_words=8), "vmem_words"),
    (dict(lanes=7, trit_format=TritFormat.TRITS_2BIT, max_cols=64, max_rows=64, vmem_words=64), "lanes"),
])
def test_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MatVecUnit(**kwargs)
