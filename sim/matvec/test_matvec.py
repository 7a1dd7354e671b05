"""pytest entry of the MATVEC unit's cocotb testbench."""

import pytest

from golden.packing import TritFormat
from sim.matvec.harness import MatVecHarness
from sim.runner import run_cocotb

# The second build has 4 Q slots (tb's slots_share_one_pass; its slot 0 also runs the one-slot trials); the third
# 3 side by side (a negative B: parallel), V 4 < B + 3 so that closing rows wait for the block before them.
CASES = [(8, TritFormat.TRITS_2BIT, "sdram", 1, 1), (20, TritFormat.TRITS_BASE3, "ddr", 4, 4),
         (8, TritFormat.TRITS_2BIT, "ddr", 4, -3)]


@pytest.mark.parametrize("lanes, trit_format, memory, vector_width, batch", CASES,
                         ids=[f"{l}lanes-{f.name}-{m}-v{v}" + (f"-B{abs(b)}" if abs(b) > 1 else "")
                              + ("-parallel" if b < 0 else "") for l, f, m, v, b in CASES])
def test_matvec_matches_golden(lanes, trit_format, memory, vector_width, batch):
    parallel, batch = batch < 0, abs(batch)
    words, max_cols, max_rows = 256, 70, 40
    mem_bytes = {"sdram": 2, "ddr": 16}[memory]
    harness = MatVecHarness(lanes=lanes, trit_format=trit_format, max_cols=max_cols, max_rows=max_rows,
                            vmem_words=words, mem_bytes=mem_bytes, vector_width=vector_width, batch=batch, parallel=parallel)
    run_cocotb(harness, toplevel="matvec_harness", test_module="sim.matvec.tb_matvec",
               build_name=f"matvec_{lanes}_{trit_format.name}_{memory}_v{vector_width}_B{batch}" + ("_parallel" if parallel else ""),
               env={"VMEM_WORDS": str(words), "LANES": str(lanes), "FORMAT": trit_format.name,
                    "VECTOR_WIDTH": str(vector_width), "BATCH": str(batch), "PARALLEL": str(int(parallel)),
                    "MAX_COLS": str(max_cols), "MAX_ROWS": str(max_rows), "MEMORY": memory})
