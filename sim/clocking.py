"""The clock and reset every cocotb testbench starts with."""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from sim.xcheck import dont_care, drive_dont_care, watch_outputs

CLOCK_PERIOD_NS = 10


async def start_and_reset(dut, *, low: tuple[str, ...] = (), high: tuple[str, ...] = (), cycles: int = 3) -> None:
    """Start `dut.clk`, drive the named inputs low / high (every input payload X under a four-state simulator,
    until the bench offers it), hold `dut.rst` for `cycles` clock edges, then watch the promised outputs
    (sim/xcheck.py)."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start())
    drive_dont_care(dut)
    for name in low:
        getattr(dut, name).value = 0
    for name in high:
        getattr(dut, name).value = 1
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    watch_outputs(dut, dut.clk)


async def start_unit_test(dut, *, low: tuple[str, ...], seed: int) -> tuple:
    """The start of a unit testbench with a VMEM host port: clock, reset (host read port enabled), and
    the test's random generators (numpy for data, `random` for handshake timing), seeded from SEED."""
    import os
    import random

    import numpy as np

    await start_and_reset(dut, low=low + ("host_write__en",), high=("host_read__en",))
    seed = int(os.environ.get("SEED", str(seed)))
    return np.random.default_rng(seed), random.Random(seed + 1)


async def command_until_done(dut, payload: int, rng, *, max_cycles: int, ready_rate: float = 0.5,
                             drive=None, sample=None, cmd: str = "cmd", done: str = "done") -> int:
    """Offer one `cmd` (an idle unit must take it at once), then take `done` with random delays.

    drive(ready) runs each cycle before the clock edge's inputs settle (to drive side streams);
    sample(ready) runs when they have (to observe side streams). Returns the cycles until done."""
    from cocotb.triggers import FallingEdge, ReadOnly

    cmd_payload, cmd_valid, cmd_ready = (getattr(dut, f"{cmd}__{n}") for n in ("payload", "valid", "ready"))
    done_valid, done_ready = getattr(dut, f"{done}__valid"), getattr(dut, f"{done}__ready")
    await FallingEdge(dut.clk)
    cmd_payload.value, cmd_valid.value = payload, 1
    await ReadOnly()
    assert cmd_ready.value == 1, "an idle unit takes a command at once"
    await FallingEdge(dut.clk)
    cmd_valid.value = 0
    dont_care(cmd_payload)
    for cycle in range(max_cycles):
        ready = rng.random() < ready_rate
        done_ready.value = int(ready)
        if drive:
            drive(ready)
        await ReadOnly()
        if sample:
            sample(ready)
        finished = ready and done_valid.value == 1
        await FallingEdge(dut.clk)
        if finished:
            done_ready.value = 0
            return cycle
    raise AssertionError(f"no done within {max_cycles} cycles")
