"""pytest entry of the data mover's cocotb testbench."""

import pytest

from sim.data_mover.harness import DataMoverHarness
from sim.runner import run_cocotb


# The third build writes VSTORE's words a write (write_bytes 4), aligned and not.
@pytest.mark.parametrize("memory, mem_bytes, lanes, write_bytes", [("sdram", 2, 1, 1), ("ddr", 16, 8, 1),
                                                                   ("ddr", 16, 4, 4)])
def test_data_mover_matches_golden(memory, mem_bytes, lanes, write_bytes):
    words = 128
    run_cocotb(DataMoverHarness(vmem_words=words, mem_bytes=mem_bytes, vector_width=lanes, write_bytes=write_bytes),
               toplevel="data_mover_harness", test_module="sim.data_mover.tb_data_mover",
               build_name=f"data_mover_{memory}_v{lanes}" + (f"_w{write_bytes}" if write_bytes > 1 else ""),
               env={"VMEM_WORDS": str(words), "MEMORY": memory, "VECTOR_WIDTH": str(lanes),
                    "WRITE_BYTES": str(write_bytes)})
