"""pytest entry of the controller's cocotb testbench."""

import pytest

from sim.controller.harness import ControllerHarness
from sim.runner import run_cocotb


@pytest.mark.parametrize("vector_width", [1, 8])
def test_controller_matches_iss(vector_width):
    """V = 8: operands that are multiples of 4 but not of 8 stop with VMEM_MISALIGNED, as in the ISS."""
    program_words, vmem_words = 64, 128
    run_cocotb(ControllerHarness(program_words=program_words, vmem_words=vmem_words, vector_width=vector_width),
               toplevel="controller_harness", test_module="sim.controller.tb_controller",
               build_name=f"controller_64_128_v{vector_width}",
               env={"VMEM_WORDS": str(vmem_words), "PROGRAM_WORDS": str(program_words), "VECTOR_WIDTH": str(vector_width),
                    "VECTOR_PROGRAMS": "30", "RANDOM_WORDS": "300"})
