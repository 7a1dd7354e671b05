"""pytest entry of the SDRAM controller's cocotb testbench."""

import pytest

from hw.memory_crossing import MemoryClockCrossing
from hw.sdram import SDRAMController
from sim.runner import run_cocotb
from sim.sdram.cases import CASES


@pytest.mark.parametrize("case", sorted(CASES))
def test_sdram_controller_matches_the_chip(case):
    geometry, timing, clock_hz = CASES[case]
    run_cocotb(SDRAMController(geometry=geometry, timing=timing, clock_hz=clock_hz), toplevel="sdram_controller",
               test_module="sim.sdram.tb_sdram", build_name=f"sdram_{case}", env={"CASE": case})


def test_sdram_behind_the_clock_crossing_matches_the_chip():
    """The ULX3S controller on its own clock, two thirds of the sync clock's rate (the board's 50 / 75 MHz),
    behind hw.memory_crossing: same traffic, same checks, no beat lost."""
    geometry, timing, clock_hz = CASES["ulx3s"]
    crossing = MemoryClockCrossing(SDRAMController(geometry=geometry, timing=timing, clock_hz=clock_hz))
    run_cocotb(crossing, toplevel="sdram_crossing", test_module="sim.sdram.tb_sdram", build_name="sdram_crossing",
               env={"CASE": "ulx3s", "MEMORY_PERIOD_NS": "15"})
