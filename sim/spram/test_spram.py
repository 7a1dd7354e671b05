"""pytest entry of the SPRAM image memory's cocotb testbench: the Amaranth-memory form, and the
SB_SPRAM256KA form (four blocks, the UP5K's 128 KB) on Yosys's model of the primitive."""

import pytest

from hw.spram import SPRAMMemory
from sim.runner import BUILD_ROOT, run_cocotb
from sim.spram.primitive import spram_model


@pytest.mark.parametrize("words,primitive", [(4096, False), (65536, True)])
def test_spram_memory_reads_what_was_written(words, primitive):
    name = f"spram_{words}" + ("_primitive" if primitive else "")
    sources = (spram_model(BUILD_ROOT / "models"),) if primitive else ()
    run_cocotb(SPRAMMemory(words=words, primitive=primitive), toplevel="spram_memory",
               test_module="sim.spram.tb_spram", build_name=name, env={"WORDS": str(words)},
               extra_sources=sources, unwatched=("read_resp__payload",) if primitive else ())   # the model starts X
