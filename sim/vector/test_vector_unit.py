"""pytest entry of the vector unit's cocotb testbench."""

from sim.runner import run_cocotb
from sim.vector.harness import VectorUnitHarness


def test_vector_unit_matches_golden():
    words = 256
    run_cocotb(VectorUnitHarness(words), toplevel="vector_unit_harness", test_module="sim.vector.tb_vector_unit",
               build_name="vector_unit_256", env={"VMEM_WORDS": str(words), "TRIALS": "150"})
