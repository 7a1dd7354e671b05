"""pytest entry of the data mover's cocotb testbench."""

import pytest

from sim.data_mover.harness import DataMoverHarness
from sim.runner import run_cocotb


@pytest.mark.parametrize("memory, mem_bytes", [("sdram", 2), ("ddr", 16)])
def test_data_mover_matches_golden(memory, mem_bytes):
    words = 128
    run_cocotb(DataMoverHarness(vmem_words=words, mem_bytes=mem_bytes), toplevel="data_mover_harness",
               test_module="sim.data_mover.tb_data_mover", build_name=f"data_mover_{memory}",
               env={"VMEM_WORDS": str(words), "MEMORY": memory})
