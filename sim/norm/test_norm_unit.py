"""pytest entry of the norm unit's cocotb testbench, for V = 1, 8 (3 Q slots: QUANTs into random slots) and a
short V = 32 run."""

import pytest

from sim.norm.harness import NormUnitHarness
from sim.runner import run_cocotb


@pytest.mark.parametrize("vector_width, max_length, trials, batch", [
    (1, 64, 120, 1), (8, 100, 160, 3), pytest.param(32, 100, 40, 1, marks=pytest.mark.slow)])
def test_norm_unit_matches_golden(vector_width, max_length, trials, batch):
    words = 256
    run_cocotb(NormUnitHarness(vmem_words=words, max_length=max_length, vector_width=vector_width, batch=batch),
               toplevel="norm_unit_harness", test_module="sim.norm.tb_norm_unit",
               build_name=f"norm_unit_{words}_{max_length}_v{vector_width}" + (f"_B{batch}" if batch > 1 else ""),
               env={"VMEM_WORDS": str(words), "MAX_LENGTH": str(max_length), "VECTOR_WIDTH": str(vector_width),
                    "TRIALS": str(trials), "BATCH": str(batch)})
