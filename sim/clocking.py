"""The clock and reset every cocotb testbench starts with."""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

CLOCK_PERIOD_NS = 10


async def start_and_reset(dut, *, low: tuple[str, ...] = (), high: tuple[str, ...] = (), cycles: int = 3) -> None:
    """Start `dut.clk`, drive the named inputs low / high, and hold `dut.rst` for `cycles` clock edges."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start())
    for name in low:
        getattr(dut, name).value = 0
    for name in high:
        getattr(dut, name).value = 1
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
