"""pytest entry of the norm unit's cocotb testbench, for V = 1, 8 (and a short V = 32 run)."""

import pytest

from sim.norm.harness import NormUnitHarness
from sim.runner import run_cocotb


@pytest.mark.parametrize("vector_width, max_length, trials", [
    (1, 64, 120), (8, 100, 160), pytest.param(32, 100, 40, marks=pytest.mark.slow)])
def test_norm_unit_matches_golden(vector_width, max_length, trials):
    words = 256
    run_cocotb(NormUnitHarness(vmem_words=words, max_length=max_length, vector_width=vector_width),
               toplevel="norm_unit_harness", test_module="sim.norm.tb_norm_unit",
               build_name=f"norm_unit_{words}_{max_length}_v{vector_width}",
               env={"VMEM_WORDS": str(words), "MAX_LENGTH": str(max_length), "VECTOR_WIDTH": str(vector_width),
                    "TRIALS": str(trials)})
