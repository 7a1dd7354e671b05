"""cocotb module: the simulated device (hw.device.Device) served to a host driver over TCP, a Python step
per cycle: the cycle-level reference the fast harness (sim/fast) is held to (sim/link/test_agreement.py;
host.transport.CocotbTransport starts it).

The host process listens on LINK_PORT (localhost) and starts this simulation; the testbench connects
and moves bytes both ways, one byte a cycle on the device's rx / tx streams: the same bytes as on a
board's serial link. External memory is the model of sim.memory_model (MEMORY preset, MEMORY_BYTES),
written through the link (WRITE_IMAGE) and read by the accelerator. The simulation ends when the host
closes the connection. LINK_DEBUG=1 logs every chunk from the host and every idle step. The cycles run are counted
into CYCLE_FILE (sim/link/cycle_clock.py): the host's waits count them.

A device with a control bus (hw.link_csr) has it answered by the LiteDRAM CSR model of board CSR_BOARD, its lanes
good at CSR_GOOD (JSON: per lane a list of [bitslip, delay]), through sim/link/csr_bench.py's TimedCsrSlave (the
DFII read latency checked), ACK in the cycle after the request is seen.
"""

import json
import os
import socket
from collections import deque

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from sim.clocking import start_and_reset
from sim.link.cycle_clock import CycleCounter
from sim.memory_model import MEMORIES, ExternalMemory
from sim.xcheck import dont_care

POLL_CYCLES = 32            # cycles the device runs between socket polls while no byte moves


@cocotb.test()
async def serve(dut):
    await start_and_reset(dut, low=("rx__valid", "tx__ready"))
    memory = ExternalMemory(dut, b"", MEMORIES[os.environ["MEMORY"]], writable=True,
                            size=int(os.environ["MEMORY_BYTES"]))
    memory.start()
    if os.environ.get("CSR_BOARD"):
        cocotb.start_soon(control_bus(dut, os.environ["CSR_BOARD"], json.loads(os.environ["CSR_GOOD"])))
    counter = CycleCounter(os.environ["CYCLE_FILE"])           # the host's waits count these cycles
    connection = socket.create_connection(("127.0.0.1", int(os.environ["LINK_PORT"])))
    connection.setblocking(False)
    incoming, outgoing, sending = deque(), bytearray(), False
    await FallingEdge(dut.clk)                             # every step starts where inputs are driven
    while True:
        if outgoing or len(incoming) <= 1:                 # idle steps are POLL_CYCLES long
            try:
                chunk = connection.recv(65536)
                if not chunk:
                    break                                  # the host hung up
                incoming.extend(chunk)
                if os.environ.get("LINK_DEBUG"):
                    dut._log.info(f"host -> device {chunk.hex()}")
            except BlockingIOError:
                pass
            if outgoing:
                try:
                    sent = connection.send(outgoing)
                    del outgoing[:sent]
                except BlockingIOError:
                    pass
        if not incoming and not sending:
            # Nothing to move: let the device run POLL_CYCLES cycles in one step (tx waits meanwhile).
            dut.rx__valid.value = 0
            dut.tx__ready.value = 0
            await ClockCycles(dut.clk, POLL_CYCLES)
            counter.cycles += POLL_CYCLES
            await ReadOnly()
            sending = dut.tx__valid.value == 1
            if os.environ.get("LINK_DEBUG"):
                dut._log.info(f"idle step; tx valid {sending}")
            await FallingEdge(dut.clk)
            continue
        dut.rx__valid.value = int(bool(incoming))
        if incoming:
            dut.rx__payload.value = incoming[0]
        else:
            dont_care(dut.rx__payload)
        dut.tx__ready.value = 1
        await ReadOnly()
        if incoming and dut.rx__ready.value == 1:
            incoming.popleft()
        sending = dut.tx__valid.value == 1
        if sending:
            outgoing.append(int(dut.tx__payload.value))
        await FallingEdge(dut.clk)
        counter.cycles += 1
    connection.close()


async def control_bus(dut, board: str, good: list):
    """The device's Wishbone control bus answered by the CSR model, a cycle at a time (at the falling edge, where
    the device's outputs are settled and ACK is seen at the next rising edge)."""
    from host.ddr3_description import load_control
    from sim.link.csr_bench import TimedCsrSlave
    from sim.litedram.csr_model import LiteDRAMCsrModel

    slave = TimedCsrSlave(LiteDRAMCsrModel(load_control(board), [{tuple(setting) for setting in lane} for lane in good]))
    dut.control__ack.value = 0
    dut.control__err.value = 0
    cycle = 0
    while True:
        await FallingEdge(dut.clk)
        cycle += 1
        acked = dut.control__ack.value == 1
        dut.control__ack.value = 0
        if not acked and dut.control__cyc.value == 1 and dut.control__stb.value == 1:
            value = slave.access(cycle, int(dut.control__adr.value) << 2, dut.control__we.value == 1,
                                 int(dut.control__dat_w.value))
            dut.control__dat_r.value = value
            dut.control__ack.value = 1
