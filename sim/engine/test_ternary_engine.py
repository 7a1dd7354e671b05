"""pytest entry of the engine's cocotb testbench, over engine parameter sets."""

import pytest

from golden.packing import TritFormat
from hw.ternary_engine import TernaryMatVec
from sim.runner import run_cocotb

CONFIGS = [
    (8, TritFormat.TRITS_2BIT, 70),
    (10, TritFormat.TRITS_BASE3, 53),
    (64, TritFormat.TRITS_2BIT, 300),
    (40, TritFormat.TRITS_BASE3, 130),
]


@pytest.mark.parametrize("lanes, trit_format, max_cols", CONFIGS,
                         ids=[f"{l}lanes-{f.name}-{c}cols" for l, f, c in CONFIGS])
def test_ternary_engine_matches_golden(lanes, trit_format, max_cols):
    engine = TernaryMatVec(lanes=lanes, trit_format=trit_format, max_cols=max_cols)
    run_cocotb(engine, toplevel="ternary_matvec", test_module="sim.engine.tb_ternary_engine",
               build_name=f"engine_{lanes}_{trit_format.name}_{max_cols}",
               env={"ENGINE_LANES": str(lanes), "ENGINE_FORMAT": trit_format.name, "ENGINE_MAX_COLS": str(max_cols)})
