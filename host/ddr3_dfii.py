"""The host's hands on a LiteDRAM core's control bus: DFII commands, burst data and the ECP5 PHY's per-lane read
delay / bitslip, as the LiteX BIOS's liblitedram drives them (sdram.c, accessors.c; litex 2024.12), over any
32-bit CSR bus.

    host ── CsrBus.read / write (byte address, 32-bit value) ──► wb_ctrl of the LiteDRAM core
                                                                 ├ ddrctrl: init_done, init_error
                                                                 ├ ddrphy:  dly_sel, rdly_dq_*, burstdet_*
                                                                 └ sdram:   dfii_control, pi<phase>_*

Data CSRs (a phase's wrdata / rddata, `dfi_databits` = 64 bits) span several 32-bit words, the most significant
word first (LiteX's CSR ordering); the bytes of a phase are handled as the BIOS's `csr_wr_buf_uint8` buffers:
byte 0 is the most significant. Within the 64-bit value beat k (0..3 of the phase) of byte lane m is bits
16k + 8m .. 16k + 8m + 7 (ECP5DDRPHY: `rddata[n % 4 * databits + j]`); phase 0 carries beats 0-3 of a BL8 burst,
phase 1 beats 4-7.

Timing: the BIOS waits `cdelay(n)` loops between some steps (>= n sys-clock cycles); `pause` gets those waits in
seconds (n / sys_clk_hz), so a host that queues accesses can keep them. Over the serial link a CSR access alone
takes far longer than the 15-100 cycles the levelling waits.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

from .ddr3_description import LiteDRAMControl


class CsrBus(Protocol):
    """A 32-bit CSR bus: `wb_ctrl` of the core, reached over the host link (or a model in tests)."""

    def read(self, address: int) -> int:
        """The 32-bit word at byte `address`."""

    def write(self, address: int, value: int) -> None:
        """Write the 32-bit `value` at byte `address`."""


def read_words(bus: CsrBus, addresses: list) -> list:
    """The words at `addresses`, in order: in one go where the bus can (a `read_many` method: the link's bus
    answers them in one round trip), else one read at a time."""
    read_many = getattr(bus, "read_many", None)
    return read_many(list(addresses)) if read_many else [bus.read(address) for address in addresses]


class Dfii:
    """DFII and PHY access for one core. `pause(seconds)` is called where the BIOS waits (default time.sleep)."""

    def __init__(self, bus: CsrBus, control: LiteDRAMControl, pause: Callable[[float], None] = time.sleep):
        self.bus, self.control, self.phy, self._pause = bus, control, control.phy, pause

    # registers ---------------------------------------------------------------------------------------------------
    def write(self, name: str, value: int) -> None:
        self.bus.write(self.control.address(name), value)

    def read(self, name: str) -> int:
        return self.bus.read(self.control.address(name))

    def wait_cycles(self, cycles: int) -> None:
        """The BIOS's cdelay(cycles): at least `cycles` sys-clock cycles."""
        if cycles:
            self._pause(cycles / self.control.sys_clk_hz)

    def write_bytes(self, name: str, data: bytes) -> None:
        """A multi-word CSR from bytes, most significant first (csr_wr_buf_uint8)."""
        words = self.control.csr_words[name]
        if len(data) != 4 * words:
            raise ValueError(f"{name} takes {4 * words} bytes, got {len(data)}")
        base = self.control.address(name)
        for word in range(words):
            self.bus.write(base + 4 * word, int.from_bytes(data[4 * word:4 * word + 4], "big"))

    def read_bytes(self, name: str) -> bytes:
        return self._read_csrs([name])[0]

    def _read_csrs(self, names: list, extra: list = ()) -> list:
        """Multi-word CSRs as bytes (csr_rd_buf_uint8), then the words of the `extra` CSRs, all read in one go."""
        addresses = [self.control.address(name) + 4 * word for name in names for word in range(self.control.csr_words[name])]
        words = read_words(self.bus, addresses + [self.control.address(name) for name in extra])
        values, at = [], 0
        for name in names:
            count = self.control.csr_words[name]
            values.append(b"".join(word.to_bytes(4, "big") for word in words[at:at + count]))
            at += count
        return values + words[at:]

    # control -------------------------------------------------------------------------------------------------------
    def software_control(self) -> None:
        """The DFII drives the DRAM (sdram_software_control_on): CKE, ODT and RESET_N held high."""
        self.write("sdram_dfii_control", self.control.control_value("cke", "odt", "reset_n"))

    def hardware_control(self) -> None:
        """The controller drives the DRAM again (sdram_software_control_off)."""
        self.write("sdram_dfii_control", self.control.control_value("sel"))

    def command(self, phase: int, command: int, address: int = 0, bank: int = 0) -> None:
        """Issue DFII `command` bits on `phase` with `address` / `bank` (address, baddress, command, issue)."""
        self.write(f"sdram_dfii_pi{phase}_address", address)
        self.write(f"sdram_dfii_pi{phase}_baddress", bank)
        self.write(f"sdram_dfii_pi{phase}_command", command)
        self.write(f"sdram_dfii_pi{phase}_command_issue", 1)

    def activate(self, bank: int = 0, row: int = 0) -> None:
        self.command(0, self.control.command_value("ras", "cs"), row, bank)
        self.wait_cycles(15)

    def precharge(self, bank: int = 0) -> None:
        self.command(0, self.control.command_value("ras", "we", "cs"), 0, bank)
        self.wait_cycles(15)

    def write_burst(self, phase_data: list, bank: int = 0, column: int = 0) -> None:
        """A BL8 write into the open row of `bank`: `phase_data[p]` the bytes of phase p (wrdata of every phase,
        the command on the write phase)."""
        for phase, data in enumerate(phase_data):
            self.write_bytes(f"sdram_dfii_pi{phase}_wrdata", data)
        self.command(self.phy.wrphase, self.control.command_value("cas", "we", "cs", "wrdata"), column, bank)
        self.wait_cycles(15)

    def read_command(self, bank: int = 0, column: int = 0) -> None:
        """A BL8 read from the open row of `bank` on the read phase; its data lands in every phase's rddata."""
        self.command(self.phy.rdphase, self.control.command_value("cas", "cs", "rddata"), column, bank)
        self.wait_cycles(15)

    def read_data(self) -> list:
        """The last read's bytes, a list of one `bytes` per phase."""
        return self._read_csrs(self._rddata_names())

    def read_data_and_burst_detect(self) -> tuple:
        """read_data() and then the burst-detect word (a bit per lane), in one go: one round trip over the link."""
        *data, seen = self._read_csrs(self._rddata_names(), ["ddrphy_burstdet_seen"])
        return data, seen

    def _rddata_names(self) -> list:
        return [f"sdram_dfii_pi{phase}_rddata" for phase in range(self.phy.nphases)]

    # PHY read calibration (one byte lane at a time) -------------------------------------------------------------------
    def lane_action(self, lane: int, register: str) -> None:
        """Pulse PHY `register` for byte `lane` (sdram_leveling_action): select the lane, pulse, deselect, then
        pause every lane's DQSBUFM once (dly_sel all ones, then zero) to resynchronise them, as the BIOS does."""
        self.write("ddrphy_dly_sel", 1 << lane)
        self.write(register, 1)
        self.write("ddrphy_dly_sel", 0)
        self.write("ddrphy_dly_sel", 0xFF)
        self.write("ddrphy_dly_sel", 0)

    def reset_delay(self, lane: int) -> None:
        self.lane_action(lane, "ddrphy_rdly_dq_rst")

    def increment_delay(self, lane: int) -> None:
        self.lane_action(lane, "ddrphy_rdly_dq_inc")

    def reset_bitslip(self, lane: int) -> None:
        self.lane_action(lane, "ddrphy_rdly_dq_bitslip_rst")

    def increment_bitslip(self, lane: int) -> None:
        self.lane_action(lane, "ddrphy_rdly_dq_bitslip")

    def clear_burst_detect(self) -> None:
        self.write("ddrphy_burstdet_clr", 1)

    def burst_detected(self, lane: int) -> bool:
        """Whether a read since the last clear saw lane `lane`'s DQS preamble (DQSBUFM BURSTDET, sticky)."""
        return bool((self.read("ddrphy_burstdet_seen") >> lane) & 1)
