"""pytest entry of the data mover's cocotb testbench."""

import pytest

from sim.data_mover.harness import DataMoverHarness
from sim.runner import run_cocotb


@pytest.mark.parametrize("memory, mem_bytes, lanes", [("sdram", 2, 1), ("ddr", 16, 8)])
def test_data_mover_matches_golden(memory, mem_bytes, lanes):
    words = 128
    run_cocotb(DataMoverHarness(vmem_words=words, mem_bytes=mem_bytes, vector_width=lanes),
               toplevel="data_mover_harness", test_module="sim.data_mover.tb_data_mover",
               build_name=f"data_mover_{memory}_v{lanes}",
               env={"VMEM_WORDS": str(words), "MEMORY": memory, "VECTOR_WIDTH": str(lanes)})
