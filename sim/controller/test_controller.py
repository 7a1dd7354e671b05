"""pytest entry of the controller's cocotb testbench."""

from sim.controller.harness import ControllerHarness
from sim.runner import run_cocotb


def test_controller_matches_iss():
    program_words, vmem_words = 64, 128
    run_cocotb(ControllerHarness(program_words=program_words, vmem_words=vmem_words), toplevel="controller_harness",
               test_module="sim.controller.tb_controller", build_name="controller_64_128",
               env={"VMEM_WORDS": str(vmem_words), "PROGRAM_WORDS": str(program_words),
                    "VECTOR_PROGRAMS": "30", "RANDOM_WORDS": "300"})
