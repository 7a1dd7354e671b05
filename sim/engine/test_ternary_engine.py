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
    (8, TritFormat.TRITS_2BIT, 70, -3),         # parallel (negative B): the slots side by side, B trees
    # The HBM projection's trees: 2,560 lanes (a 2,560-column row in one beat), two side by side.
    pytest.param(2560, TritFormat.TRITS_BASE3, 6912, -2, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("lanes, trit_format, max_cols, batch", CONFIGS,
                         ids=[f"{l}lanes-{f.name}-{c}cols" + (f"-B{abs(b)}" if abs(b) > 1 else "")
                              + ("-parallel" if b < 0 else "")
                              for l, f, c, b in (getattr(case, "values", case) for case in CONFIGS)])
def test_ternary_engine_matches_golden(lanes, trit_format, max_cols, batch):
    parallel, batch = batch < 0, abs(batch)
    engine = TernaryMatVec(lanes=lanes, trit_format=trit_format, max_cols=max_cols, batch=batch, parallel=parallel)
    run_cocotb(engine, toplevel="ternary_matvec", test_module="sim.engine.tb_ternary_engine",
               build_name=f"engine_{lanes}_{trit_format.name}_{max_cols}" + (f"_B{batch}" if batch > 1 else "")
               + ("_parallel" if parallel else ""),
               env={"ENGINE_LANES": str(lanes), "ENGINE_FORMAT": trit_format.name, "ENGINE_MAX_COLS": str(max_cols),
                    "ENGINE_BATCH": str(batch), "ENGINE_PARALLEL": str(int(parallel))})
