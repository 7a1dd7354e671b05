"""pytest entry of the image check's cocotb testbench."""

import pytest

from golden.packing import TritFormat
from sim.image_check.harness import ImageCheckHarness
from sim.memory_model import MEMORIES
from sim.runner import run_cocotb


@pytest.mark.parametrize("trit_format, memory", [(TritFormat.TRITS_2BIT, "sdram"), (TritFormat.TRITS_BASE3, "ddr")])
def test_image_check_matches_parse_header(trit_format, memory):
    run_cocotb(ImageCheckHarness(trit_format=trit_format, mem_bytes=MEMORIES[memory].mem_bytes),
               toplevel="image_check_harness", test_module="sim.image_check.tb_image_check",
               build_name=f"image_check_{trit_format.name}_{memory}",
               env={"FORMAT": trit_format.name, "MEMORY": memory})
