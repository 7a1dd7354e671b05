"""Read levelling of the ECP5 DDR PHY, ported from the LiteX BIOS (litex 2024.12, liblitedram/sdram.c:
sdram_leveling, sdram_read_leveling, sdram_read_leveling_scan_module, sdram_leveling_center_module,
sdram_write_read_check_test_pattern) to run on the host over the CSR bus.

For each byte lane the PHY has a read delay (DQSBUFM READCLKSEL, 0..7: where the read pulse sits against the
returning DQS) and a bitslip (0..3: which 4 of the DDR beats make a sys-clock word). For each lane:
1. reset delay and bitslip; for each bitslip 0..3 score the 8 delays: at each delay run the pattern test with
   seeds 42, 84, 36 (write an LFSR burst to bank 0 row 0 column 0, clear burstdet, read it back, count the
   lane's wrong bits in the bytes the BIOS checks, one more error when the lane's DQS preamble was not seen);
   score = sum over delays of (8 x max_errors if the delay passed) + (max_errors - errors), max_errors = 3 x 64;
2. keep the best-scoring bitslip (the first on ties), then centre the delay: scan again, take the longest run
   of passing delays that starts with two passes in a row (a lone pass at an edge can be spotty), set
   (first + last) // 2 and check it, up to 8 tries.
Each PHY change is wrapped in dly_sel = 1 << lane ... 0, 0xff, 0 (host/ddr3_dfii.py, Dfii.lane_action).

Differences from the BIOS, none in the settings it picks where it succeeds:
- it also centres after every bitslip's scan, only to print the window (the next scan resets the delay):
  not done here (this saves 4 x 9 pattern tests a lane);
- a window of one delay (no two passes in a row anywhere) leaves the BIOS at delay 7 unchecked, failing
  later in the memory test: here that delay is set and checked;
- where it carries on with a lane that never passed (the memory test then fails), this raises DramInitError
  naming the lane and what was tried (`LaneScan` rows: errors per delay for each bitslip).
"""

from __future__ import annotations

import dataclasses

from .ddr3_description import DramInitError, PhyGeometry
from .ddr3_dfii import Dfii

SEEDS = (42, 84, 36)                # the BIOS's _seed_array
LFSR32_TAPS = 0x80200003            # libbase/lfsr.h, a Galois LFSR of 32 bits
CENTRE_TRIES = 8                    # sdram_leveling_center_module's retries


def lfsr32(value: int) -> int:
    lsb = value & 1
    value >>= 1
    return value ^ LFSR32_TAPS if lsb else value


def pattern_burst(seed: int, phy: PhyGeometry) -> list:
    """The BIOS's pseudo-random burst for `seed`: one `bytes` a phase, each byte from 8 LFSR steps (bit 0 first)."""
    state, phases = seed, []
    for _ in range(phy.nphases):
        data = bytearray()
        for _ in range(phy.phase_bytes):
            value = 0
            for bit in range(8):
                state = lfsr32(state)
                value |= (state & 1) << bit
            data.append(value)
        phases.append(bytes(data))
    return phases


def checked_bytes(lane: int, phy: PhyGeometry) -> tuple:
    """The byte offsets (in a phase's buffer, most significant first) the BIOS compares for `lane`: its
    "positive and negative edge" bytes, beats 0 and 2 of the phase on the ECP5 (beats 1 and 3 are not checked)."""
    half = phy.phase_bytes // 2
    negative = half - 1 - lane * (phy.databits // phy.strobes) // 8
    return negative + half, negative


def max_pattern_errors(phy: PhyGeometry) -> int:
    """READ_CHECK_TEST_PATTERN_MAX_ERRORS: 8 x phases x phase bytes / lanes (64 on the ECP5)."""
    return 8 * phy.nphases * phy.phase_bytes // phy.strobes


def pattern_errors(dfii: Dfii, lane: int, seed: int) -> int:
    """sdram_write_read_check_test_pattern: wrong bits of `lane` after a write and read-back of one burst, plus one
    if the lane's burst detector stayed low. Leaves bank 0 precharged."""
    expected = pattern_burst(seed, dfii.phy)
    dfii.activate()
    dfii.write_burst(expected)
    dfii.clear_burst_detect()
    dfii.read_command()
    dfii.precharge()
    errors = 0
    data, burst_detect = dfii.read_data_and_burst_detect()
    for want, got in zip(expected, data):
        errors += sum(bin(want[offset] ^ got[offset]).count("1") for offset in checked_bytes(lane, dfii.phy))
    if not burst_detect >> lane & 1:        # the lane's DQS preamble was not seen (Dfii.burst_detected)
        errors += 1
    return errors


def run_test_pattern(dfii: Dfii, lane: int) -> int:
    return sum(pattern_errors(dfii, lane, seed) for seed in SEEDS)


@dataclasses.dataclass(frozen=True)
class LaneScan:
    """One bitslip's scan of a lane: errors at each delay (0 = passed) and the BIOS's score."""
    bitslip: int
    errors: tuple
    score: int


@dataclasses.dataclass(frozen=True)
class LaneCalibration:
    """What read levelling chose for a byte lane, and why."""
    lane: int
    bitslip: int
    delay: int                      # the delay set: the window's centre
    window: tuple                   # (first, last) passing delay of the window centred on
    scans: tuple                    # a LaneScan per bitslip, in order


def scan_bitslip(dfii: Dfii, lane: int, bitslip: int) -> LaneScan:
    """sdram_read_leveling_scan_module: the pattern test at every delay (ends with the delay wrapped to 0)."""
    max_errors = len(SEEDS) * max_pattern_errors(dfii.phy)
    errors, score = [], 0
    dfii.reset_delay(lane)
    for _ in range(dfii.phy.delays):
        errors.append(run_test_pattern(dfii, lane))
        score += (errors[-1] == 0) * max_errors * dfii.phy.delays + (max_errors - errors[-1])
        dfii.increment_delay(lane)
    return LaneScan(bitslip, tuple(errors), score)


def find_window(dfii: Dfii, lane: int) -> tuple | None:
    """The scan of sdram_leveling_center_module: (first, last) of the longest run of passing delays that starts
    with two passes (the first such on ties), else (d, d) for the first lone passing delay d, else None.
    Leaves the delay at the last one (7)."""
    delays = dfii.phy.delays
    dfii.reset_delay(lane)
    passed = []
    delay, working, delay_min = 0, False, -1
    while True:                     # the smallest delay that passes twice in a row
        last_working, working = working, run_test_pattern(dfii, lane) == 0
        passed.append(working)
        if working and last_working:
            delay_min = delay - 1
            break
        delay += 1
        if delay >= delays:
            break
        dfii.increment_delay(lane)
    if delay_min < 0:
        lone = [d for d in range(delays) if passed[d]]
        # The BIOS tests the last delay once more here, then gives up without setting a delay.
        run_test_pattern(dfii, lane)
        return (lone[0], lone[0]) if lone else None
    delay_max = cur_delay_min = delay_min
    while True:                     # the longest passing run from there on
        if run_test_pattern(dfii, lane) == 0:
            if delay - cur_delay_min > delay_max - delay_min:
                delay_min, delay_max = cur_delay_min, delay
        else:
            cur_delay_min = delay + 1
        delay += 1
        if delay >= delays:
            break
        dfii.increment_delay(lane)
    return delay_min, delay_max


def set_delay(dfii: Dfii, lane: int, delay: int) -> None:
    dfii.reset_delay(lane)
    dfii.wait_cycles(100)
    for _ in range(delay):
        dfii.increment_delay(lane)
        dfii.wait_cycles(100)


def set_bitslip(dfii: Dfii, lane: int, bitslip: int) -> None:
    dfii.reset_bitslip(lane)
    for _ in range(bitslip):
        dfii.increment_bitslip(lane)


def calibrate_lane(dfii: Dfii, lane: int) -> LaneCalibration:
    """sdram_read_leveling for one lane (delay and bitslip already reset)."""
    phy = dfii.phy
    scans = []
    dfii.reset_bitslip(lane)
    for bitslip in range(phy.bitslips):
        scans.append(scan_bitslip(dfii, lane, bitslip))
        if bitslip < phy.bitslips - 1:
            dfii.increment_bitslip(lane)
    scans = tuple(scans)
    if not any(error == 0 for scan in scans for error in scan.errors):
        raise DramInitError(failure_message(lane, phy, "no bitslip/delay setting read the test patterns back", scans))
    best = max(scans, key=lambda scan: (scan.score, -scan.bitslip))
    set_bitslip(dfii, lane, best.bitslip)
    window = find_window(dfii, lane)
    if window is None:
        raise DramInitError(failure_message(
            lane, phy, f"bitslip {best.bitslip} passed in its scan but no delay passed when centring", scans))
    centre = (window[0] + window[1]) // 2
    for _ in range(CENTRE_TRIES):
        set_delay(dfii, lane, centre)
        if run_test_pattern(dfii, lane) == 0:
            return LaneCalibration(lane, best.bitslip, centre, window, scans)
    raise DramInitError(failure_message(
        lane, phy, f"bitslip {best.bitslip}, delay {centre} (centre of passing delays {window[0]}-{window[1]}) "
                   f"failed {CENTRE_TRIES} checks in a row", scans))


def read_levelling(dfii: Dfii) -> list:
    """Level every byte lane (sdram_leveling's resets, then sdram_read_leveling); the DFII must be in software
    control with the DRAM initialised. A LaneCalibration per lane; DramInitError when a lane cannot be levelled."""
    for lane in range(dfii.phy.strobes):
        dfii.reset_delay(lane)
        dfii.reset_bitslip(lane)
    return [calibrate_lane(dfii, lane) for lane in range(dfii.phy.strobes)]


def failure_message(lane: int, phy: PhyGeometry, what: str, scans: tuple) -> str:
    first = lane * phy.databits // phy.strobes
    checked = len(SEEDS) * (phy.nphases * len(checked_bytes(lane, phy)) * 8 + 1)
    table = "; ".join(f"bitslip {scan.bitslip}: " + " ".join(str(error) for error in scan.errors) for scan in scans)
    return (f"DDR3 read levelling failed on byte lane {lane} (DQ{first}-{first + phy.databits // phy.strobes - 1}, "
            f"DQS{lane}): {what}. Tried bitslips 0-{phy.bitslips - 1} x delays 0-{phy.delays - 1}; wrong bits per "
            f"delay (of {checked}: {len(SEEDS)} patterns, one more each when the lane's DQS was not seen): {table}. "
            f"Check this lane's DQ/DQS/DM pins and I/O standard in the board's constraints, its termination, and "
            f"that the DRAM was initialised (reset, CKE, mode registers) before levelling.")
