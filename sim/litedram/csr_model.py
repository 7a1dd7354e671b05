"""A behavioural model of a LiteDRAM standalone core's control bus (`wb_ctrl`: ddrctrl, the ECP5DDRPHY's CSRs, the
DFII) with a DDR3 behind it, for the host's bring-up tests (host/ddr3_init.py). It is a host.ddr3_dfii.CsrBus.

    host ── read / write ──► LiteDRAMCsrModel ── DFII commands ──► DDR3 (mode registers, open rows)
                                  │                                  │ read burst
                                  └─ per lane: delay, bitslip, burstdet ◄──┘ (the lane's `good` settings)

Modelled as far as the bring-up can see it:
- the CSR map of the board's description (unmapped addresses, writes to read-only CSRs and misaligned accesses
  raise ModelProtocolError); storage CSRs read back what was written; a write to a pulse CSR (rdly_dq_rst,
  rdly_dq_inc, rdly_dq_bitslip_rst, rdly_dq_bitslip, burstdet_clr, command_issue) acts, whatever its value;
- DFII control: resets to hardware control (sel); commands issued in hardware control raise (the core ignores
  them); reset_n low forgets the DRAM's mode;
- the DRAM reads and writes only after reset release, CKE, MR2, MR3, MR1, MR0 (CL, CWL and BL8 as the PHY needs,
  DLL on; decoded per JEDEC DDR3) and a ZQ calibration; before that writes are lost and reads return noise with
  no DQS; ACT to an open bank, RD/WR to a closed one, MRS/REF/ZQ with a bank open raise; reads must be issued
  on the PHY's read phase and writes on its write phase (with the rddata / wrdata bits);
- the PHY's per-lane read delay (3 bits, wraps) and bitslip (mod 4), changed only for lanes selected in
  dly_sel; a lane whose dly_sel bit is set during a read has its DQSBUFM paused: noise, no burst detect;
- each lane's read: at a (bitslip, delay) in the lane's `good` set the burst comes back right and burstdet is
  set; at a delay of the good set with another bitslip the DQS preamble is caught (burstdet set) but the
  lane's beats arrive shifted by the bitslip difference (noise beyond the burst); at any other delay the
  preamble is missed: noise, burstdet not set;
- optional stuck-at-0 address bits (`stuck_address_bits`) in the DRAM's decoding of ACT / PRE / RD / WR, for
  the memory test (mode register writes do not see them).
Not modelled: any timing (tRCD, CL, refresh, retention; the host's accesses are far slower than all of them),
write timing (the ECP5 PHY has no write levelling; writes always land), DQS gating drift, the data mask, more
than one rank, the user (AXI) port beyond whether it is open (init_done & ~init_error).
"""

from __future__ import annotations

import random

from host.ddr3_description import LiteDRAMControl

PULSES = ("ddrphy_rdly_dq_rst", "ddrphy_rdly_dq_inc", "ddrphy_rdly_dq_bitslip_rst", "ddrphy_rdly_dq_bitslip",
          "ddrphy_burstdet_clr")
READ_ONLY = ("ddrphy_burstdet_seen",)
BURST_BEATS = 8                     # DDR3 BL8
ALL_BANKS = 1 << 10                 # A10 in PRE: all banks


class ModelProtocolError(AssertionError):
    """The host did something the real core or DRAM would not do as intended."""


class LiteDRAMCsrModel:
    """`good[lane]`: the (bitslip, delay) settings that read that lane correctly; `seed`: the noise's;
    `stuck_address_bits`: {"bank" | "row" | "column": bit} address lines stuck at 0."""

    def __init__(self, control: LiteDRAMControl, good, *, seed: int = 1, stuck_address_bits: dict | None = None):
        self.control, self.phy = control, control.phy
        self.lanes = self.phy.databits // 8
        if len(good) != self.lanes:
            raise ValueError(f"good settings for {len(good)} lanes, the PHY has {self.lanes}")
        self.good = [frozenset(settings) for settings in good]
        self.stuck = dict(stuck_address_bits or {})
        self.rng = random.Random(seed)
        self.registers: dict = {}   # byte address -> (CSR name, word index)
        for name, address in control.csr_addresses.items():
            for word in range(control.csr_words[name]):
                self.registers[address + 4 * word] = (name, word)
        self.words = {address: 0 for address in self.registers}
        self.words[control.address("sdram_dfii_control")] = control.control_value("sel")
        self.delay = [0] * self.lanes
        self.bitslip = [0] * self.lanes
        self.burstdet = 0
        self.cells: dict = {}       # (bank, row, column) -> BL8 burst: 8 beats of `lanes` bytes
        self.written_at: dict = {}  # (bank, row, column) -> access count when written
        self.longest_unrefreshed = 0   # most accesses between a burst's write and a read of it
        self.reads = self.writes = 0
        self._forget_mode()

    # the bus -----------------------------------------------------------------------------------------------------
    def read(self, address: int) -> int:
        name, word = self._register(address)
        self.reads += 1
        if name == "ddrphy_burstdet_seen":
            return self.burstdet
        return self.words[address]

    def write(self, address: int, value: int) -> None:
        name, word = self._register(address)
        if not 0 <= value < 1 << 32:
            raise ModelProtocolError(f"write of {value:#x} to {name}: not a 32-bit value")
        if name in READ_ONLY or name.endswith("_rddata"):
            raise ModelProtocolError(f"write to read-only CSR {name}")
        self.writes += 1
        if name in PULSES:
            self._pulse(name)
        elif name.endswith("_command_issue"):
            self._issue(int(name[len("sdram_dfii_pi"):].split("_")[0]))
        else:
            self.words[address] = value
            if name == "sdram_dfii_control" and not value & control_bit(self, "reset_n"):
                self._forget_mode()

    @property
    def accesses(self) -> int:
        return self.reads + self.writes

    @property
    def hardware_control(self) -> bool:
        return bool(self._word("sdram_dfii_control") & control_bit(self, "sel"))

    @property
    def user_port_open(self) -> bool:
        """The core's AXI port takes requests: init_done & ~init_error."""
        return bool(self._word("ddrctrl_init_done") & 1) and not self._word("ddrctrl_init_error") & 1

    # PHY -----------------------------------------------------------------------------------------------------------
    def _pulse(self, name: str) -> None:
        selected = [lane for lane in range(self.lanes) if self._word("ddrphy_dly_sel") >> lane & 1]
        for lane in selected:
            if name == "ddrphy_rdly_dq_rst":
                self.delay[lane] = 0
            elif name == "ddrphy_rdly_dq_inc":
                self.delay[lane] = (self.delay[lane] + 1) % self.phy.delays
            elif name == "ddrphy_rdly_dq_bitslip_rst":
                self.bitslip[lane] = 0
            elif name == "ddrphy_rdly_dq_bitslip":
                self.bitslip[lane] = (self.bitslip[lane] + 1) % self.phy.bitslips
        if name == "ddrphy_burstdet_clr":
            self.burstdet = 0

    def _lane_read(self, lane: int, burst: list) -> list:
        """What lane `lane` delivers of `burst` (its bytes per beat) at its current settings."""
        noise = [self.rng.randrange(256) for _ in range(BURST_BEATS)]
        setting = (self.bitslip[lane], self.delay[lane])
        if self._word("ddrphy_dly_sel") >> lane & 1 or not burst:
            return noise                                    # DQSBUFM paused, or no DQS from the DRAM
        if setting in self.good[lane]:
            self.burstdet |= 1 << lane
            return burst
        slips = [bitslip for bitslip, delay in self.good[lane] if delay == setting[1]]
        if not slips:
            return noise                                    # the read pulse misses the DQS preamble
        self.burstdet |= 1 << lane
        shift = setting[0] - min(slips, key=lambda bitslip: abs(bitslip - setting[0]))
        return [burst[beat + shift] if 0 <= beat + shift < BURST_BEATS else noise[beat] for beat in range(BURST_BEATS)]

    # DFII and DRAM -------------------------------------------------------------------------------------------------
    def _issue(self, phase: int) -> None:
        prefix = f"sdram_dfii_pi{phase}_"
        command, address, bank = (self._word(prefix + field) for field in ("command", "address", "baddress"))
        if self.hardware_control:
            raise ModelProtocolError(f"DFII command {command:#x} issued on phase {phase} in hardware control")
        bit = self.control.dfii_command
        if not command & bit["cs"]:
            return                                          # deselect: a NOP
        ras, cas, we = (bool(command & bit[name]) for name in ("ras", "cas", "we"))
        if ras and cas and we:
            self._need_idle("MRS")
            self._need_cke("MRS")
            self.mode[bank] = address
            self.zq_calibrated = False
        elif ras and cas:
            self._need_idle("REF")
        elif ras and we:
            banks = range(1 << self.control.dram.bankbits) if address & ALL_BANKS else [self._stuck("bank", bank)]
            for closed in banks:
                self.open_rows.pop(closed, None)
        elif ras:
            self._need_cke("ACT")
            bank = self._stuck("bank", bank)
            if bank in self.open_rows:
                raise ModelProtocolError(f"ACT to bank {bank}, whose row {self.open_rows[bank]} is open")
            self.open_rows[bank] = self._stuck("row", address)
        elif cas:
            self._column_access(phase, command, address, self._stuck("bank", bank), write=we)
        elif we:
            self._need_idle("ZQ calibration")
            self.zq_calibrated = all(register in self.mode for register in range(4))

    def _column_access(self, phase: int, command: int, column: int, bank: int, write: bool) -> None:
        kind, flag, want = ("WR", "wrdata", self.phy.wrphase) if write else ("RD", "rddata", self.phy.rdphase)
        if phase != want or not command & self.control.dfii_command[flag]:
            state = "set" if command & self.control.dfii_command[flag] else "clear"
            raise ModelProtocolError(f"{kind} on phase {phase} ({flag} {state}); the ECP5 PHY takes it on phase "
                                     f"{want} with {flag}")
        if bank not in self.open_rows:
            raise ModelProtocolError(f"{kind} to bank {bank} with no row open")
        key = (bank, self.open_rows[bank], self._stuck("column", column))
        if write:
            if self.ready:
                self.cells[key] = self._burst_from_wrdata()
                self.written_at[key] = self.accesses
            return
        if key in self.written_at:
            self.longest_unrefreshed = max(self.longest_unrefreshed, self.accesses - self.written_at[key])
        if not self.ready:
            burst = None
        elif key not in self.cells:     # never written: power-up contents
            self.cells[key] = [bytes(self.rng.randrange(256) for _ in range(self.lanes)) for _ in range(BURST_BEATS)]
            burst = self.cells[key]
        else:
            burst = self.cells[key]
        lanes = [self._lane_read(lane, [beat[lane] for beat in burst] if burst else None)
                 for lane in range(self.lanes)]
        self._rddata_from_beats([bytes(lanes[lane][beat] for lane in range(self.lanes)) for beat in range(BURST_BEATS)])

    @property
    def ready(self) -> bool:
        """The DRAM takes reads and writes: out of reset, CKE high, mode registers right, ZQ calibrated."""
        control = self._word("sdram_dfii_control")
        if not (control & control_bit(self, "reset_n") and control & control_bit(self, "cke") and self.zq_calibrated):
            return False
        mr0, mr1, mr2 = self.mode[0], self.mode[1], self.mode[2]
        return (mr0 & 0b11 == 0 and jedec_cas_latency(mr0) == self.phy.cl and 5 + (mr2 >> 3 & 0b111) == self.phy.cwl
                and not mr1 & 1)

    def _forget_mode(self) -> None:
        self.mode: dict = {}
        self.zq_calibrated = False
        self.open_rows: dict = {}

    def _need_idle(self, what: str) -> None:
        if self.open_rows:
            raise ModelProtocolError(f"{what} with banks {sorted(self.open_rows)} open")

    def _need_cke(self, what: str) -> None:
        control = self._word("sdram_dfii_control")
        if not control & control_bit(self, "cke") or not control & control_bit(self, "reset_n"):
            raise ModelProtocolError(f"{what} with CKE low or the DRAM in reset (control {control:#x})")

    def _stuck(self, kind: str, value: int) -> int:
        return value & ~(1 << self.stuck[kind]) if kind in self.stuck else value

    # data layout: phase p's 64-bit CSR holds beats 4p..4p+3; beat k of a phase, lane m at bits 16k + 8m -----------
    def _beats_per_phase(self) -> int:
        return self.phy.dfi_databits // self.phy.databits

    def _burst_from_wrdata(self) -> list:
        beats = []
        for phase in range(self.phy.nphases):
            value = self._data_value(f"sdram_dfii_pi{phase}_wrdata")
            for beat in range(self._beats_per_phase()):
                beats.append(bytes(value >> (self.phy.databits * beat + 8 * lane) & 0xFF for lane in range(self.lanes)))
        return beats

    def _rddata_from_beats(self, beats: list) -> None:
        per_phase = self._beats_per_phase()
        for phase in range(self.phy.nphases):
            value = 0
            for beat in range(per_phase):
                for lane in range(self.lanes):
                    value |= beats[phase * per_phase + beat][lane] << (self.phy.databits * beat + 8 * lane)
            name = f"sdram_dfii_pi{phase}_rddata"
            words = self.control.csr_words[name]
            for word in range(words):
                self.words[self.control.address(name) + 4 * word] = value >> 32 * (words - 1 - word) & 0xFFFFFFFF

    def _data_value(self, name: str) -> int:
        value = 0
        for word in range(self.control.csr_words[name]):
            value = value << 32 | self.words[self.control.address(name) + 4 * word]
        return value

    def _word(self, name: str) -> int:
        return self.words[self.control.address(name)]

    def _register(self, address: int) -> tuple:
        if address % 4 or address not in self.registers:
            raise ModelProtocolError(f"no CSR word at byte address {address:#x}")
        return self.registers[address]


def control_bit(model: LiteDRAMCsrModel, field: str) -> int:
    return model.control.dfii_control[field]


def jedec_cas_latency(mr0: int) -> int:
    """CL from DDR3 MR0 (JESD79-3 table: A6:A4 with A2 as the high bit; 5..11 when A2 = 0, 12..16 when A2 = 1)."""
    low, high = mr0 >> 4 & 0b111, mr0 >> 2 & 1
    return 4 + low if not high else 12 + low
