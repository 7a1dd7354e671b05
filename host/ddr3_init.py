"""DDR3 bring-up of a board's LiteDRAM core (`cpu: None`) from the host: what the LiteX BIOS's sdram_init does
(liblitedram/sdram.c, litex 2024.12), run over a 32-bit CSR bus to the core's `wb_ctrl`.

    bring_up(bus, load_control("ecpix5"))
      1. DFII to software control (CKE, ODT, RESET_N high); init_done = 0, init_error = 0
      2. litedram's DDR3 init sequence (reset release, CKE, MR2, MR3, MR1, MR0, ZQCL; the waits as `pause`)
      3. read levelling of every byte lane (host/ddr3_levelling.py)
      4. a memory test through the DFII (below)
      5. DFII to hardware control; init_done = 1: the core's user (AXI) port opens
    On a failure (DramInitError): hardware control, init_error = 1 and init_done = 1, as the BIOS leaves a core
    whose memory test failed (the user port stays closed: it opens on init_done & ~init_error); the error
    names the lane or address and what was tried. An error of the bus itself (the link) propagates as it is:
    nothing can be restored through a bus that failed.

The memory test. The BIOS tests through the CPU's bus after hardware control; a CPU-less core's only host path
is `wb_ctrl`, so this one writes and reads whole BL8 bursts through the DFII before giving the DRAM back:
- data lines: 0x55.. and 0xaa.. bursts at bank 0, row 0, column 0 (every DQ both ways, neighbours opposite);
- address lines, one group at a time (banks, columns, rows): a distinct pseudo-random burst at the zero address
  and at every address with one bit set (BA0.., column bits 3.. (a burst is 8 columns), A0..), all written
  first and then all read back, so a stuck or shorted line shows as a burst overwritten or missing.
The DFII refreshes nothing: a burst is read back a few hundred CSR accesses after it is written (the row group,
the largest; tests/host/test_ddr3_levelling.py counts it), well inside DDR3's 64 ms retention at link speed.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

from .ddr3_description import DramInitError, LiteDRAMControl, load_control
from .ddr3_dfii import CsrBus, Dfii
from .ddr3_levelling import pattern_burst, read_levelling

__all__ = ["CsrBus", "DramInitError", "DramBringUp", "bring_up", "load_control", "run_init_sequence",
           "memory_test", "Location"]

MEMTEST_SEED = 0x5EED           # the address test's bursts: pattern_burst(MEMTEST_SEED + index)


@dataclasses.dataclass(frozen=True)
class Location:
    """A BL8 burst's place in the DRAM, and the address line it tests ("" for the zero address)."""
    bank: int
    row: int
    column: int
    line: str = ""


@dataclasses.dataclass(frozen=True)
class DramBringUp:
    """What bring_up did: the levelling per lane and the bursts the memory test checked."""
    board: str
    lanes: list                     # of LaneCalibration
    bursts_tested: int

    def summary(self) -> str:
        lanes = ", ".join(f"lane {lane.lane}: bitslip {lane.bitslip} delay {lane.delay} "
                          f"(window {lane.window[0]}-{lane.window[1]})" for lane in self.lanes)
        return f"DDR3 on {self.board} ready: {lanes}; memory test {self.bursts_tested} bursts passed"


def run_init_sequence(dfii: Dfii) -> None:
    """litedram's init sequence as the BIOS's generated init_sequence() runs it: address and bank on phase 0, then
    the control register or a phase-0 command, then the step's wait."""
    for step in dfii.control.init_sequence:
        dfii.write("sdram_dfii_pi0_address", step.address)
        dfii.write("sdram_dfii_pi0_baddress", step.bank)
        if step.control is not None:
            dfii.write("sdram_dfii_control", step.control)
        else:
            dfii.write("sdram_dfii_pi0_command", step.command)
            dfii.write("sdram_dfii_pi0_command_issue", 1)
        dfii.wait_cycles(step.wait_cycles)


def write_location(dfii: Dfii, where: Location, data: list) -> None:
    dfii.activate(where.bank, where.row)
    dfii.write_burst(data, where.bank, where.column)
    dfii.precharge(where.bank)


def read_location(dfii: Dfii, where: Location) -> list:
    dfii.activate(where.bank, where.row)
    dfii.read_command(where.bank, where.column)
    dfii.precharge(where.bank)
    return dfii.read_data()


def address_groups(control: LiteDRAMControl) -> list:
    """The address test's groups: the zero address and each one-bit address of banks, columns, rows."""
    geometry, zero = control.dram, Location(0, 0, 0)
    burst_columns = 8                    # BL8: column bits 0-2 order the beats within a burst
    return [
        [zero] + [Location(1 << bit, 0, 0, f"BA{bit}") for bit in range(geometry.bankbits)],
        [zero] + [Location(0, 0, 1 << bit, f"column bit {bit} (A{bit})")
                  for bit in range(burst_columns.bit_length() - 1, geometry.colbits)],
        [zero] + [Location(0, 1 << bit, 0, f"row bit {bit} (A{bit})") for bit in range(geometry.rowbits)],
    ]


def memory_test(dfii: Dfii) -> int:
    """The DFII memory test (module docstring); the number of bursts checked. DramInitError on a mismatch."""
    checked = 0
    phase_bytes, nphases = dfii.phy.phase_bytes, dfii.phy.nphases
    zero = Location(0, 0, 0)
    for fill in (0x55, 0xAA):
        data = [bytes([fill]) * phase_bytes] * nphases
        write_location(dfii, zero, data)
        check_burst(dfii, zero, data, read_location(dfii, zero), f"the data-line pattern 0x{fill:02x}")
        checked += 1
    index = 0
    for group in address_groups(dfii.control):
        expected = []
        for where in group:
            expected.append(pattern_burst(MEMTEST_SEED + index, dfii.phy))
            index += 1
            write_location(dfii, where, expected[-1])
        for where, data in zip(group, expected):
            got = read_location(dfii, where)
            # A burst written to another address of the group here: the two addresses alias.
            source = next((other for other, written in zip(group, expected) if written == got and other != where),
                          None)
            check_burst(dfii, where, data, got, "the address test of " + (where.line or "the zero address"), source)
            checked += 1
    return checked


def check_burst(dfii: Dfii, where: Location, expected: list, got: list, test: str,
                source: Location | None = None) -> None:
    if expected == got:
        return
    phy = dfii.phy
    lanes = sorted({(phy.phase_bytes - 1 - offset) % phy.strobes for want, have in zip(expected, got)
                    for offset, (a, b) in enumerate(zip(want, have)) if a != b})
    if source is not None:
        suspect = source.line or where.line
        cause = (f"it holds the burst written to bank {source.bank}, row {source.row}, column {source.column}: "
                 f"address line {suspect} is stuck or shorted (check the board's A/BA pins)")
    else:
        cause = ("in the data test check the lanes' DQ lines; in the address test a stuck or shorted address "
                 "line, or data lines")
    raise DramInitError(
        f"DDR3 memory test failed after read levelling: {test} read back wrong data at bank {where.bank}, row "
        f"{where.row}, column {where.column} (byte lanes {', '.join(map(str, lanes))}): expected "
        f"{b''.join(expected).hex()}, got {b''.join(got).hex()}; {cause}.")


def give_up(dfii: Dfii) -> None:
    """The state the BIOS leaves after a failed memory test: the controller drives the DRAM, init_error and
    init_done set (the user port stays closed)."""
    dfii.hardware_control()
    dfii.write("ddrctrl_init_error", 1)
    dfii.write("ddrctrl_init_done", 1)


def bring_up(bus: CsrBus, control: LiteDRAMControl, pause: Callable[[float], None] = time.sleep) -> DramBringUp:
    """Power-up to usable DRAM (module docstring). `pause(seconds)` is called where the BIOS waits."""
    dfii = Dfii(bus, control, pause)
    dfii.software_control()
    dfii.write("ddrctrl_init_done", 0)
    dfii.write("ddrctrl_init_error", 0)
    try:
        run_init_sequence(dfii)
        lanes = read_levelling(dfii)
        bursts = memory_test(dfii)
    except DramInitError:
        give_up(dfii)
        raise
    dfii.hardware_control()
    dfii.write("ddrctrl_init_done", 1)
    return DramBringUp(control.board, lanes, bursts)
