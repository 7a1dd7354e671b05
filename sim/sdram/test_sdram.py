"""pytest entry of the SDRAM controller's cocotb testbench."""

import pytest

from hw.sdram import SDRAMController
from sim.runner import run_cocotb
from sim.sdram.cases import CASES


@pytest.mark.parametrize("case", sorted(CASES))
def test_sdram_controller_matches_the_chip(case):
    geometry, timing, clock_hz = CASES[case]
    run_cocotb(SDRAMController(geometry=geometry, timing=timing, clock_hz=clock_hz), toplevel="sdram_controller",
               test_module="sim.sdram.tb_sdram", build_name=f"sdram_{case}", env={"CASE": case})
