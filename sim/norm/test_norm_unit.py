"""pytest entry of the norm unit's cocotb testbench."""

from sim.norm.harness import NormUnitHarness
from sim.runner import run_cocotb


def test_norm_unit_matches_golden():
    words, max_length = 256, 64
    run_cocotb(NormUnitHarness(vmem_words=words, max_length=max_length), toplevel="norm_unit_harness",
               test_module="sim.norm.tb_norm_unit", build_name="norm_unit_256_64",
               env={"VMEM_WORDS": str(words), "MAX_LENGTH": str(max_length), "TRIALS": "30"})
