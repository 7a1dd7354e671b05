"""The DRAM bring-up over the host link: host.ddr3_init's CSR bus as CSR batches (host/protocol.py, "Control bus").

    bring_up(LinkCsrBus(driver, control), control, pause=bus.pause)
      write(address, value) ─┐ queued (a batch fills up to MAX_PAYLOAD bytes or CSR_MAX_READS reads)
      pause(seconds) ────────┤ queued as WAIT, in the controller's cycles (control.sys_clk_hz: the device's clock)
      read / read_many ──────┴► the queue and the reads sent as one CSR frame; its CSR_REPLY answers them

A round trip is needed only where the host must see a value: once per pattern test of the read levelling (its
rddata and burst-detect words read together) and per burst of the memory test. `dram_ready` (what `mmfree run`
calls) skips a DRAM already up since power-up (init_done set, init_error clear) and starts a bring-up whose
batch was lost on the way (a LinkError) again from its beginning: a batch is not resent, a whole bring-up may be.
"""

from __future__ import annotations

import math
import time
from typing import Callable

from . import protocol as p
from .ddr3_description import LiteDRAMControl, load_control
from .ddr3_init import DramBringUp, DramInitError, bring_up
from .driver import Driver, IncompatibleError, LinkError

WAIT_MAX = (1 << 32) - 1            # device cycles one WAIT holds


class LinkCsrBus:
    """host.ddr3_dfii.CsrBus over a Driver. Counts `round_trips` (CSR frames answered) and `accesses`."""

    def __init__(self, driver: Driver, control: LiteDRAMControl):
        self.driver, self.clock_hz = driver, control.sys_clk_hz
        self.queue = bytearray()
        self.round_trips = self.accesses = self.cycles_waited = 0

    def write(self, address: int, value: int) -> None:
        self._queue(p.csr_op(p.CsrOp.WRITE, address, value))
        self.accesses += 1

    def pause(self, seconds: float) -> None:
        """Wait `seconds` on the device, between the accesses before and after (whole controller cycles, rounded up)."""
        cycles = math.ceil(seconds * self.clock_hz)
        self.cycles_waited += cycles
        while cycles > 0:
            self._queue(p.csr_op(p.CsrOp.WAIT, min(cycles, WAIT_MAX)))
            cycles -= WAIT_MAX

    def read(self, address: int) -> int:
        return self.read_many([address])[0]

    def read_many(self, addresses: list[int]) -> list[int]:
        """The words at `addresses`, read in order after every queued write and wait."""
        values = []
        for first in range(0, len(addresses), p.CSR_MAX_READS):
            chunk = addresses[first:first + p.CSR_MAX_READS]
            reads = b"".join(p.csr_op(p.CsrOp.READ, address) for address in chunk)
            if len(self.queue) + len(reads) > p.MAX_PAYLOAD:
                self.flush()
            self.queue += reads
            self.accesses += len(chunk)
            values += self.flush()
        return values

    def flush(self) -> list[int]:
        """Send what is queued (if anything); the words it read."""
        if not self.queue:
            return []
        batch, self.queue = bytes(self.queue), bytearray()
        self.round_trips += 1
        return self.driver.csr(batch)

    def _queue(self, operation: bytes) -> None:
        if len(self.queue) + len(operation) > p.MAX_PAYLOAD:
            self.flush()
        self.queue += operation


def dram_ready(driver: Driver, build: p.BuildInfo, *, log: Callable[[str], None] = lambda line: None,
               attempts: int = 2) -> DramBringUp | None:
    """Bring up the DRAM behind the device's control bus unless it is up (init_done & ~init_error); None when
    there was nothing to do. One line to `log` either way. DramInitError (naming the lane or address and what was
    tried) when calibration or the memory test fails: the device stays answerable, its DRAM port closed."""
    if build.control_bus not in p.ControlBus._value2member_map_:
        raise IncompatibleError(f"the device's control bus is of kind {build.control_bus}, unknown to this host: update mmfree")
    bus_kind = p.ControlBus(build.control_bus)
    if bus_kind is p.ControlBus.NONE:
        return None
    control = load_control(bus_kind.board)
    bus = LinkCsrBus(driver, control)
    done, error = bus.read_many([control.address("ddrctrl_init_done"), control.address("ddrctrl_init_error")])
    if done & 1 and not error & 1:
        log(f"DDR3 on {control.board} is up since power-up (init_done): not initialised again")
        return None
    for attempt in range(attempts):
        bus = LinkCsrBus(driver, control)
        started = time.perf_counter()
        try:
            try:
                report = bring_up(bus, control, pause=bus.pause)
            except DramInitError:
                bus.flush()                 # the state it leaves (init_error, hardware control) goes out
                raise
            bus.flush()                     # init_done
        except LinkError:
            if attempt + 1 == attempts:
                raise
            driver._drain()                 # a lost or damaged answer: the bring-up again from its start
            continue
        log(f"{report.summary()} ({bus.accesses:,} CSR accesses in {bus.round_trips} round trips, "
            f"{time.perf_counter() - started:.1f} s)")
        return report
    return None                             # pragma: no cover (the loop returns or raises)
