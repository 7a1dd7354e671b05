"""pytest entry of the MATVEC unit's cocotb testbench."""

import pytest

from golden.packing import TritFormat
from sim.matvec.harness import MatVecHarness
from sim.runner import run_cocotb

CASES = [(8, TritFormat.TRITS_2BIT, "sdram", 1), (20, TritFormat.TRITS_BASE3, "ddr", 4)]


@pytest.mark.parametrize("lanes, trit_format, memory, vector_width", CASES,
                         ids=[f"{l}lanes-{f.name}-{m}-v{v}" for l, f, m, v in CASES])
def test_matvec_matches_golden(lanes, trit_format, memory, vector_width):
    words, max_cols, max_rows = 256, 70, 40
    mem_bytes = {"sdram": 2, "ddr": 16}[memory]
    harness = MatVecHarness(lanes=lanes, trit_format=trit_format, max_cols=max_cols, max_rows=max_rows,
                            vmem_words=words, mem_bytes=mem_bytes, vector_width=vector_width)
    run_cocotb(harness, toplevel="matvec_harness", test_module="sim.matvec.tb_matvec",
               build_name=f"matvec_{lanes}_{trit_format.name}_{memory}_v{vector_width}",
               env={"VMEM_WORDS": str(words), "LANES": str(lanes), "FORMAT": trit_format.name,
                    "VECTOR_WIDTH": str(vector_width),
                    "MAX_COLS": str(max_cols), "MAX_ROWS": str(max_rows), "MEMORY": memory})
