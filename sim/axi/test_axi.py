"""pytest entry of the AXI4 memory port's cocotb testbench (sim/axi/tb_axi.py): the three memory widths of
the project's presets (SDRAM 2 B, DDR 16 B, wide 64 B), and the DDR width behind hw.memory_crossing."""

import pytest

from hw.axi import AXI4MemoryPort
from hw.memory_crossing import MemoryClockCrossing
from sim.runner import run_cocotb

BEATS_BITS = 9                                     # requests of up to 511 beats: longer than an AXI burst


@pytest.mark.parametrize("data_bytes, write_bytes", [(2, 1), (16, 1), (64, 1), (16, 4)],
                         ids=["2", "16", "64", "16-word-writes"])
def test_axi_port_against_axi_ram(data_bytes, write_bytes):
    run_cocotb(AXI4MemoryPort(data_bytes=data_bytes, beats_bits=BEATS_BITS, write_bytes=write_bytes),
               toplevel="axi_port", test_module="sim.axi.tb_axi",
               build_name=f"axi_{data_bytes}" + (f"_w{write_bytes}" if write_bytes > 1 else ""),
               env={"DATA_BYTES": str(data_bytes), "BEATS_BITS": str(BEATS_BITS), "WRITE_BYTES": str(write_bytes)})


def test_axi_port_behind_the_clock_crossing():
    """The port on its own clock, two thirds of the sync clock's rate, behind hw.memory_crossing."""
    crossing = MemoryClockCrossing(AXI4MemoryPort(data_bytes=16, beats_bits=BEATS_BITS))
    run_cocotb(crossing, toplevel="axi_crossing", test_module="sim.axi.tb_axi", build_name="axi_crossing",
               env={"DATA_BYTES": "16", "BEATS_BITS": str(BEATS_BITS), "MEMORY_PERIOD_NS": "15"})
