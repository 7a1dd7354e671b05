"""pytest entry of the engine's cocotb testbench, over engine parameter sets."""

import pytest

from golden.packing import TritFormat
from hw.ternary_engine import TernaryMatVec
from sim.runner import run_cocotb

CONFIGS = [
    (8, TritFormat.TRITS_2BIT, 70, 1),
    (10, TritFormat.TRITS_BASE3, 53, 1),
    (64, TritFormat.TRITS_2BIT, 300, 1),
    (40, TritFormat.TRITS_BASE3, 130, 1),
    (8, TritFormat.TRITS_2BIT, 70, 3),          # batch: Q slots sharing each beat (tb's slots_share_each_beat)
    (10, TritFormat.TRITS_BASE3, 53, 2),        # the smallest batch (B 2: one slot bit, no Switch of several)
]


@pytest.mark.parametrize("lanes, trit_format, max_cols, batch", CONFIGS,
                         ids=[f"{l}lanes-{f.name}-{c}cols" + (f"-B{b}" if b > 1 else "") for l, f, c, b in CONFIGS])
def test_ternary_engine_matches_golden(lanes, trit_format, max_cols, batch):
    engine = TernaryMatVec(lanes=lanes, trit_format=trit_format, max_cols=max_cols, batch=batch)
    run_cocotb(engine, toplevel="ternary_matvec", test_module="sim.engine.tb_ternary_engine",
               build_name=f"engine_{lanes}_{trit_format.name}_{max_cols}" + (f"_B{batch}" if batch > 1 else ""),
               env={"ENGINE_LANES": str(lanes), "ENGINE_FORMAT": trit_format.name, "ENGINE_MAX_COLS": str(max_cols),
                    "ENGINE_BATCH": str(batch)})
