"""The controller configurations the SDRAM bench runs: the ULX3S chip as built, and a small geometry
with a short refresh interval that crosses rows and refreshes often."""

import dataclasses

from bitstreams.targets import BOARDS
from hw.sdram import AS4C16M16SA_6, ULX3S_SDRAM, SDRAMGeometry

CASES = {
    # ULX3S as built (the board's memory clock, bitstreams/targets.py; CAS 2), power-up shortened to keep the run short.
    "ulx3s": (ULX3S_SDRAM, dataclasses.replace(AS4C16M16SA_6, t_init=20e3), BOARDS["ulx3s-85f"].memory_hz),
    # 16-column rows, a refresh every ~1.2 us, CAS 3 at 100 MHz.
    "small_cl3": (SDRAMGeometry(data_bytes=2, row_bits=11, col_bits=4, bank_bits=2),
                  dataclasses.replace(AS4C16M16SA_6, t_init=2e3, t_refi=1.2e3, cas_latency=3), 100e6),
}
