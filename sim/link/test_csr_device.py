"""The Device's control bus as built: hw.device.Device with a LiteDRAM control bus in cocotb + Verilator
(sim/link/server.py, the bus answered by the CSR model with the DFII read latency checked), the host's bring-up
(host.link_csr.dram_ready) through the link's bytes and the generated Verilog."""

import json

import pytest

from host import protocol as p
from host.driver import Driver
from host.link_csr import dram_ready
from host.transport import CocotbTransport
from hw.device import Device
from sim.link.fuzz import FUZZ_MEMORY, fuzz_target

GOOD = [[(2, delay) for delay in range(2, 6)], [(1, delay) for delay in range(4, 7)]]


@pytest.mark.slow
def test_the_device_brings_the_dram_up():
    """Minutes: a Verilator build of the tiny fuzz device with a control bus, then the whole bring-up."""
    target = fuzz_target()
    device = Device(target.device.accelerator, memory_bytes=target.build.memory_bytes,
                    memory_kind=p.MemoryKind(target.build.memory_kind), timeout_cycles=target.build.frame_timeout_cycles,
                    control_bus=p.ControlBus.LITEDRAM_ECPIX5)
    transport = CocotbTransport(device, memory=FUZZ_MEMORY, build_name="csr_device",
                                env={"CSR_BOARD": "ecpix5", "CSR_GOOD": json.dumps(GOOD)})
    try:
        driver = Driver(transport, timeout=120.0)
        build = driver.hello()
        assert build.control_bus == p.ControlBus.LITEDRAM_ECPIX5
        lines = []
        report = dram_ready(driver, build, log=lines.append)
        assert [(lane.bitslip, lane.delay) for lane in report.lanes] == [(2, 3), (1, 5)]
        print(f"\n{lines[0]}")
        assert dram_ready(driver, build, log=lines.append) is None and "not initialised again" in lines[1]
    finally:
        transport.close()
