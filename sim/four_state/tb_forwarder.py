"""cocotb testbench of the test-only PayloadForwarder: a few payloads offered with idle cycles between them,
the payload X while `valid` is low (as every bench drives it). It checks nothing itself: what it shows is
whether sim/xcheck.py's watch of the promised outputs (started by start_and_reset) fails the test."""

import cocotb
from cocotb.triggers import FallingEdge

from sim.clocking import start_and_reset
from sim.xcheck import dont_care


@cocotb.test()
async def forwarder_outputs_stay_known(dut):
    await start_and_reset(dut, low=("request__valid",))
    for payload in (0x5A, 0x00, 0xFF):
        await FallingEdge(dut.clk)
        dut.request__valid.value, dut.request__payload.value = 1, payload
        await FallingEdge(dut.clk)
        dut.request__valid.value = 0
        dont_care(dut.request__payload)
        for _ in range(3):
            await FallingEdge(dut.clk)
