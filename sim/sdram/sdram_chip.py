"""A JEDEC single-data-rate SDRAM chip in Python for cocotb: the reference the controller is checked against.

The chip is clocked by the inverted controller clock (it samples on the controller's falling edge) and
checks every command against the datasheet rules it is given (SDRAMTiming, in whole cycles of the
controller clock): the power-up sequence (tINIT of NOPs, PRECHARGE ALL, two REFRESHes, LOAD MODE with
burst length 1 and the expected CAS latency), ACTIVE only on an idle bank (tRP, tRC, tRFC, tMRD),
READ/WRITE only on the open row (tRCD), PRECHARGE after tRAS and tWR, REFRESH only with all banks idle,
no gap between refreshes longer than tREFI, and no bus contention (the controller must not drive dq
while read data is on it).

Read data is driven from the chip edge CAS_LATENCY-1 after the READ (when tAC has passed) to the edge
CAS_LATENCY (tOH); outside that window dq carries noise, so data captured at the wrong edge is wrong.
"""

from __future__ import annotations

import math
import random

import cocotb
from cocotb.triggers import FallingEdge

from hw.sdram import ACTIVE, LOAD_MODE, NOP, PRECHARGE, READ, REFRESH, WRITE, SDRAMGeometry, SDRAMTiming

NAMES = {NOP: "NOP", ACTIVE: "ACTIVE", READ: "READ", WRITE: "WRITE", PRECHARGE: "PRECHARGE", REFRESH: "REFRESH",
         LOAD_MODE: "LOAD_MODE"}
NEVER = -10 ** 9


class SDRAMChip:
    def __init__(self, dut, geometry: SDRAMGeometry, timing: SDRAMTiming, clock_hz: float, *, seed: int = 0,
                 clock: str = "clk", reset: str = "rst"):
        """`clock`, `reset`: the controller's clock and reset (the chip samples on the clock's falling edge)."""
        self.dut, self.geometry, self.timing = dut, geometry, timing
        self.clock, self.reset = getattr(dut, clock), getattr(dut, reset)
        period = 1e9 / clock_hz
        # The rules in cycles, from the datasheet times (rounded up), independent of the controller's arithmetic.
        self.t = {name: math.ceil(getattr(timing, name) / period - 1e-9)
                  for name in ("t_rp", "t_rcd", "t_ras", "t_rc", "t_rfc", "t_init")}
        self.t["t_wr"] = max(2, math.ceil(timing.t_wr / period - 1e-9))
        self.t["t_refi"] = math.floor(timing.t_refi / period)
        self.memory = bytearray(geometry.size_bytes)
        self.rng = random.Random(seed)
        self.open_row = [None] * (1 << geometry.bank_bits)
        self.last_activate = [NEVER] * (1 << geometry.bank_bits)
        self.last_precharge = [NEVER] * (1 << geometry.bank_bits)
        self.last_write = [NEVER] * (1 << geometry.bank_bits)
        self.last_refresh = self.last_mode = NEVER
        self.init_refreshes, self.mode_set, self.first_command = 0, False, None
        self.driving: dict[int, int] = {}       # chip edge -> word on dq during the half cycle after it
        self.commands = {name: 0 for name in NAMES.values()}
        self.cycle, self.was_driving = 0, False

    def start(self):
        cocotb.start_soon(self._run())

    def _fail(self, message):
        raise AssertionError(f"SDRAM cycle {self.cycle}: {message}")

    def _require(self, condition, message):
        if not condition:
            self._fail(message)

    async def _run(self):
        dut, g = self.dut, self.geometry
        width = 8 * g.data_bytes
        while True:
            await FallingEdge(self.clock)
            self.cycle += 1
            n = self.cycle
            if self.reset.value == 1:
                self.cycle = 0
                continue
            word = self.driving.pop(n, None)
            if word is not None or self.was_driving:
                self._require(dut.dq_oe.value == 0, "the controller drives dq while read data is on it")
            self.was_driving = word is not None
            dut.dq_i.value = word if word is not None else self.rng.getrandbits(width)
            command = (int(dut.cs_n.value) << 3) | (int(dut.ras_n.value) << 2) | (int(dut.cas_n.value) << 1) \
                | int(dut.we_n.value)
            if command & 0b1000:
                command = NOP                    # deselected
            self.commands[NAMES.get(command, "?")] = self.commands.get(NAMES.get(command, "?"), 0) + 1
            if command == NOP:
                continue
            self._require(dut.cke.value == 1, "a command with CKE low")
            if self.first_command is None:
                self.first_command = n
                self._require(n >= self.t["t_init"], f"first command after {n} cycles, before tINIT")
            a, bank = int(dut.a.value), int(dut.ba.value)
            self._require(n - self.last_mode >= self.timing.t_mrd_cycles, "a command within tMRD of LOAD_MODE")
            self._require(n - self.last_refresh >= self.t["t_rfc"], f"{NAMES.get(command)} within tRFC of REFRESH")
            if command == PRECHARGE:
                banks = range(len(self.open_row)) if a & (1 << 10) else [bank]
                for b in banks:
                    if self.open_row[b] is not None:
                        self._require(n - self.last_activate[b] >= self.t["t_ras"], "PRECHARGE before tRAS")
                        self._require(n - self.last_write[b] >= self.t["t_wr"], "PRECHARGE before tWR")
                        self.open_row[b] = None
                        self.last_precharge[b] = n
            elif command == REFRESH:
                for b in range(len(self.open_row)):
                    self._require(self.open_row[b] is None, "REFRESH with a bank open")
                    self._require(n - self.last_precharge[b] >= self.t["t_rp"], "REFRESH before tRP")
                if self.mode_set:
                    self._require(n - self.last_refresh <= self.t["t_refi"],
                                  f"{n - self.last_refresh} cycles between refreshes, more than tREFI")
                else:
                    self.init_refreshes += 1
                self.last_refresh = n
            elif command == LOAD_MODE:
                self._require(all(r is None for r in self.open_row), "LOAD_MODE with a bank open")
                self._require(self.init_refreshes >= 2, "LOAD_MODE before two REFRESHes")
                self._require(a & 0b111 == 0 and (a >> 3) & 1 == 0, f"mode {a:#x}: burst length 1, sequential")
                self._require((a >> 4) & 0b111 == self.timing.cas_latency, f"mode {a:#x}: CAS latency")
                self.mode_set, self.last_mode = True, n
            else:
                self._require(self.mode_set, f"{NAMES.get(command)} before the mode register is set")
                if command == ACTIVE:
                    self._require(self.open_row[bank] is None, "ACTIVE on an open bank")
                    self._require(n - self.last_precharge[bank] >= self.t["t_rp"], "ACTIVE before tRP")
                    self._require(n - self.last_activate[bank] >= self.t["t_rc"], "ACTIVE before tRC")
                    self._require(a < 1 << g.row_bits, "row out of range")
                    self.open_row[bank], self.last_activate[bank] = a, n
                elif command in (READ, WRITE):
                    row = self.open_row[bank]
                    self._require(row is not None, f"{NAMES[command]} on a closed bank")
                    self._require(n - self.last_activate[bank] >= self.t["t_rcd"], f"{NAMES[command]} before tRCD")
                    self._require(a & (1 << 10) == 0, "auto-precharge is not expected")
                    column = a & ((1 << g.col_bits) - 1)
                    start = (((row << g.bank_bits) | bank) << g.col_bits | column) * g.data_bytes
                    if command == READ:
                        edge = n + self.timing.cas_latency - 1
                        self._require(edge not in self.driving, "two reads answer at one edge")
                        self.driving[edge] = int.from_bytes(self.memory[start:start + g.data_bytes], "little")
                    else:
                        self._require(dut.dq_oe.value == 1, "WRITE without data driven")
                        value, mask = int(dut.dq_o.value), int(dut.dqm.value)
                        for k in range(g.data_bytes):
                            if not mask >> k & 1:
                                self.memory[start + k] = (value >> 8 * k) & 0xFF
                        self.last_write[bank] = n
                else:
                    self._fail(f"unknown command {command:#06b}")
