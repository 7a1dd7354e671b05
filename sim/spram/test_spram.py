"""pytest entry of the SPRAM image memory's cocotb testbench."""

from hw.spram import SPRAMMemory
from sim.runner import run_cocotb


def test_spram_memory_reads_what_was_written():
    words = 4096
    run_cocotb(SPRAMMemory(words=words), toplevel="spram_memory", test_module="sim.spram.tb_spram",
               build_name="spram_4096", env={"WORDS": str(words)})
