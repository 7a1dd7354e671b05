"""The cocotb device's cycle count, shared with the host process: the clock of a CocotbTransport's waits.

A host waiting on a simulated device counts the device's cycles, not wall-clock seconds: the same wait is the
same stretch of device time whatever the simulator's pace (Icarus runs the link bench several times slower
than Verilator: a session took 83 s and met a 60 s wall-clock timeout). The bench (sim/link/server.py) writes
its cycle count into an 8-byte file both processes map; the host reads it as seconds of a nominal pace,
CYCLES_PER_SECOND, so that the driver's timeouts keep their meaning (about a Verilator bench's pace: a 60 s
timeout is 3 million device cycles).
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

CYCLES_PER_SECOND = 50_000
_COUNT = struct.Struct("<Q")


class CycleCounter:
    """An 8-byte cycle count in the file at `path` (created, 0, when `create`), mapped into this process."""

    def __init__(self, path: Path, *, create: bool = False):
        if create:
            Path(path).write_bytes(bytes(_COUNT.size))
        with open(path, "r+b") as file:
            self.shared = mmap.mmap(file.fileno(), _COUNT.size)

    @property
    def cycles(self) -> int:
        return _COUNT.unpack_from(self.shared)[0]

    @cycles.setter
    def cycles(self, value: int) -> None:
        _COUNT.pack_into(self.shared, 0, value)

    def seconds(self) -> float:
        """The device's time at the nominal pace: what a CocotbTransport's waits count."""
        return self.cycles / CYCLES_PER_SECOND
