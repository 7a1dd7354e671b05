"""`SDRAMController`: single-data-rate SDRAM (the ULX3S's 16-bit chip) behind the accelerator's memory channels.

    read_req {addr, beats} ─┐                        ┌─► command/address pins (registered)
    write {addr, data byte}─┴─► bank/row FSM ─► ─────┤
    read_resp ◄── CAS-latency pipeline ◄── dq input register ◄── dq pins

Reads are issued one column a cycle (burst length 1), so a stream of consecutive beats runs at one beat a
clock while it stays in a row; crossing a row costs a precharge and an activate, and an auto-refresh
every tREFI closes the row. One row is open at a time (all banks are precharged together): the
accelerator reads the model image front to back, so a row is used to its end before the next.

Timing conventions (what `sim/sdram/` models and what a board must provide): the command, address and
write-data outputs change at the rising clock edge; the chip is clocked by the inverted clock, so it
samples them half a cycle later; read data is captured `cas_latency` rising edges after the READ left the
controller, in an input register here, and offered on `read_resp` the next cycle. That fits clocks up to
about 1 / (tAC + a half-period margin), ~60 MHz for -6 parts at CAS latency 2.

Address map: a beat (one 16-bit word) address is {row, bank, column} from the top, so consecutive beats
fill a row, then the same row of the next bank.
"""

from __future__ import annotations

import dataclasses
import math

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .image_reader import ADDRESS_BITS


@dataclasses.dataclass(frozen=True)
class SDRAMGeometry:
    """data_bytes: width of the data bus in bytes; row_bits, col_bits, bank_bits: address fields."""
    data_bytes: int = 2
    row_bits: int = 13
    col_bits: int = 9
    bank_bits: int = 2

    @property
    def size_bytes(self) -> int:
        return self.data_bytes << (self.row_bits + self.col_bits + self.bank_bits)

    @property
    def address_pins(self) -> int:
        return max(self.row_bits, 11)           # A10 is the auto-precharge/all-banks bit


@dataclasses.dataclass(frozen=True)
class SDRAMTiming:
    """Datasheet times in ns and the CAS latency (clocks). `cycles(clock_hz)` rounds each up."""
    t_rp: float            # precharge to activate
    t_rcd: float           # activate to read/write
    t_ras: float           # activate to precharge (min)
    t_rc: float            # activate to activate, same bank
    t_rfc: float           # refresh to any command
    t_wr: float            # last write data to precharge
    t_refi: float          # average refresh interval (64 ms / rows)
    t_init: float          # power-up wait before the first command
    t_mrd_cycles: int = 2  # mode register set to any command
    cas_latency: int = 2

    def cycles(self, clock_hz: float) -> dict[str, int]:
        period_ns = 1e9 / clock_hz
        up = {name: max(1, math.ceil(getattr(self, name) / period_ns - 1e-9))
              for name in ("t_rp", "t_rcd", "t_ras", "t_rc", "t_rfc", "t_wr", "t_init")}
        # Refresh a little early: a refresh waits for the current command and a precharge.
        up["t_wr"] = max(2, up["t_wr"])      # and at least two clocks
        up["t_refi"] = math.floor(self.t_refi / period_ns) - 16
        up["t_mrd"] = self.t_mrd_cycles
        up["cas_latency"] = self.cas_latency
        return up


# Alliance AS4C16M16SA-6 (the ULX3S v3's 32 MB, 4 banks x 8192 rows x 512 columns x 16 bit), datasheet
# AC characteristics for the -6 grade: tRP 18, tRCD 18, tRAS 42, tRC 60, tRFC 60 ns (= tRC), tWR 2 clocks
# (12 ns at 166 MHz), 8192 refreshes per 64 ms, 200 us power-up, tMRD 2 clocks.
AS4C16M16SA_6 = SDRAMTiming(t_rp=18, t_rcd=18, t_ras=42, t_rc=60, t_rfc=60, t_wr=12, t_refi=64e6 / 8192,
                            t_init=200e3, cas_latency=2)
ULX3S_SDRAM = SDRAMGeometry(data_bytes=2, row_bits=13, col_bits=9, bank_bits=2)

# Command encodings {cs_n, ras_n, cas_n, we_n} (JEDEC SDR SDRAM).
NOP, ACTIVE, READ, WRITE, PRECHARGE, REFRESH, LOAD_MODE = 0b0111, 0b0011, 0b0101, 0b0100, 0b0010, 0b0001, 0b0000


class SDRAMController(wiring.Component):
    """Parameters
    geometry: SDRAMGeometry; timing: SDRAMTiming; clock_hz: the controller's clock (for the cycle counts).

    Ports (accelerator side, as hw.image_reader and hw.link expect them)
    read_req: stream of {addr: beat address, beats: 1..2**beats_bits - 1}.
    read_resp: stream of unsigned(8 * data_bytes) beats in request order; valid is never held back for
        ready (the reader must take each beat the cycle it is offered, as hw.image_reader does).
    write: stream of {addr: byte address, data: 8-bit byte}; the other byte lane is masked.

    Ports (pins; the board adds the I/O buffers and the inverted clock)
    cke, cs_n, ras_n, cas_n, we_n: Out(1); ba: Out(bank_bits); a: Out(address_pins);
    dqm: Out(data_bytes), high masks a byte; dq_o, dq_oe: Out; dq_i: In(8 * data_bytes).
    ready: Out(1), high once the power-up sequence is done.
    """

    def __init__(self, *, geometry: SDRAMGeometry = ULX3S_SDRAM, timing: SDRAMTiming = AS4C16M16SA_6,
                 clock_hz: float, beats_bits: int = 8):
        if geometry.data_bytes not in (1, 2, 4):
            raise ValueError(f"data_bytes must be 1, 2 or 4, got {geometry.data_bytes!r}")
        if geometry.col_bits > 10 or geometry.row_bits < 11:
            raise ValueError("columns are addressed on A0..A9 and rows need A10: col_bits <= 10, row_bits >= 11")
        if not 2 <= timing.cas_latency <= 3:
            raise ValueError(f"cas_latency must be 2 or 3, got {timing.cas_latency!r}")
        if not 1e6 <= clock_hz <= 200e6:
            raise ValueError(f"clock_hz must be 1..200 MHz, got {clock_hz!r}")
        self.geometry, self.timing, self.clock_hz = geometry, timing, clock_hz
        self.cycles = timing.cycles(clock_hz)
        if self.cycles["t_refi"] < 64:
            raise ValueError(f"a refresh interval of {self.cycles['t_refi']} cycles leaves no time for data")
        width = 8 * geometry.data_bytes
        self.beat_bits = geometry.row_bits + geometry.bank_bits + geometry.col_bits
        super().__init__({
            "read_req": In(stream.Signature(data.StructLayout({
                "addr": ADDRESS_BITS - (geometry.data_bytes - 1).bit_length(), "beats": beats_bits}))),
            "read_resp": Out(stream.Signature(width)),
            "write": In(stream.Signature(data.StructLayout({"addr": ADDRESS_BITS, "data": 8}))),
            "ready": Out(1),
            "cke": Out(1), "cs_n": Out(1, init=1), "ras_n": Out(1, init=1), "cas_n": Out(1, init=1),
            "we_n": Out(1, init=1), "ba": Out(geometry.bank_bits), "a": Out(geometry.address_pins),
            "dqm": Out(geometry.data_bytes, init=(1 << geometry.data_bytes) - 1),
            "dq_o": Out(width), "dq_oe": Out(1), "dq_i": In(width),
        })

    def elaborate(self, platform):
        m = Module()
        g, cyc = self.geometry, self.cycles
        lane_bits = (g.data_bytes - 1).bit_length()

        command = Signal(4, init=NOP)
        m.d.comb += Cat(self.we_n, self.cas_n, self.ras_n, self.cs_n).eq(command)
        m.d.sync += command.eq(NOP)                      # every command lasts one cycle

        # Wait counters: `wait` before the FSM's next command; the others are per-row constraints.
        wait = Signal(range(max(cyc.values()) + 1))
        with m.If(wait != 0):
            m.d.sync += wait.eq(wait - 1)
        longest = max(cyc["t_ras"], cyc["t_rc"], cyc["t_wr"], cyc["cas_latency"] + 2)
        since_activate = Signal(range(longest + 1), init=longest)
        since_write = Signal(range(longest + 1), init=longest)
        since_read = Signal(range(longest + 1), init=longest)
        for counter in (since_activate, since_write, since_read):
            with m.If(counter != longest):
                m.d.sync += counter.eq(counter + 1)

        refresh_timer = Signal(range(cyc["t_refi"] + 1))
        refresh_due = Signal()
        m.d.sync += refresh_timer.eq(refresh_timer + 1)
        with m.If(refresh_timer == cyc["t_refi"]):
            m.d.sync += [refresh_timer.eq(0), refresh_due.eq(1)]

        # Read data: a READ leaves the controller, the chip answers cas_latency edges later into dq_in,
        # which read_resp offers the cycle after.
        cl = cyc["cas_latency"]
        in_flight = Signal(cl + 1)
        issue_read = Signal()
        dq_in = Signal.like(self.dq_i)
        m.d.sync += [in_flight.eq(Cat(issue_read, in_flight[:-1])), dq_in.eq(self.dq_i)]
        m.d.comb += [self.read_resp.valid.eq(in_flight[cl]), self.read_resp.payload.eq(dq_in)]

        # The current job: a read of `read_left` beats from `read_beat`, or one pending byte write.
        read_beat = Signal(self.beat_bits)
        read_left = Signal.like(self.read_req.payload.beats)
        write_pending = Signal()
        write_beat = Signal(self.beat_bits)
        write_lane = Signal(max(1, lane_bits))
        write_byte = Signal(8)
        idle = (read_left == 0) & ~write_pending
        # The next read may be taken as the last READ of this one issues: back-to-back requests stream.
        read_ending = issue_read & (read_left == 1)
        m.d.comb += [self.write.ready.eq(idle & self.ready),
                     self.read_req.ready.eq((idle | read_ending) & self.ready & ~self.write.valid)]

        target = Mux(write_pending, write_beat, read_beat)
        target_col = target[:g.col_bits]
        target_bank = target[g.col_bits:g.col_bits + g.bank_bits]
        target_row = target[g.col_bits + g.bank_bits:]
        row_open = Signal()
        open_bank = Signal(g.bank_bits)
        open_row = Signal(g.row_bits)
        row_hit = row_open & (open_bank == target_bank) & (open_row == target_row)
        may_precharge = (since_activate >= cyc["t_ras"]) & (since_write >= cyc["t_wr"])

        def issue(cmd, wait_cycles, *, a=0, ba=0):
            m.d.sync += [command.eq(cmd), self.a.eq(a), self.ba.eq(ba), wait.eq(wait_cycles - 1)]

        def precharge_all():
            issue(PRECHARGE, cyc["t_rp"], a=1 << 10)
            m.d.sync += row_open.eq(0)

        m.d.sync += [self.dq_oe.eq(0), self.dqm.eq(0)]
        init_wait = Signal(range(cyc["t_init"] + 1), init=cyc["t_init"])
        with m.FSM():
            with m.State("POWER_UP"):                    # CKE high, NOPs for tINIT
                m.d.sync += self.cke.eq(1)
                with m.If(init_wait != 0):
                    m.d.sync += init_wait.eq(init_wait - 1)
                with m.Else():
                    precharge_all()
                    m.next = "INIT_REFRESH_1"
            with m.State("INIT_REFRESH_1"):
                with m.If(wait == 0):
                    issue(REFRESH, cyc["t_rfc"])
                    m.next = "INIT_REFRESH_2"
            with m.State("INIT_REFRESH_2"):
                with m.If(wait == 0):
                    issue(REFRESH, cyc["t_rfc"])
                    m.next = "INIT_MODE"
            with m.State("INIT_MODE"):
                with m.If(wait == 0):
                    # Burst length 1, sequential, CAS latency cl, burst writes as programmed (single).
                    issue(LOAD_MODE, cyc["t_mrd"], a=cl << 4)
                    m.d.sync += refresh_timer.eq(0)
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.ready.eq(1)
                with m.If(wait == 0):
                    with m.If(refresh_due):
                        with m.If(row_open):
                            with m.If(may_precharge):
                                precharge_all()
                        with m.Else():
                            issue(REFRESH, cyc["t_rfc"])
                            m.d.sync += refresh_due.eq(0)
                    with m.Elif(~idle & ~row_hit & row_open):
                        with m.If(may_precharge):
                            precharge_all()
                    with m.Elif(~idle & ~row_open):
                        with m.If(since_activate >= cyc["t_rc"]):
                            issue(ACTIVE, cyc["t_rcd"], a=target_row, ba=target_bank)
                            m.d.sync += [row_open.eq(1), open_bank.eq(target_bank), open_row.eq(target_row),
                                         since_activate.eq(0)]
                    with m.Elif(write_pending):
                        # The bus is the chip's until the last read's data has gone by.
                        with m.If(since_read > cl):
                            issue(WRITE, 1, a=target_col, ba=target_bank)
                            mask = ~(Const(1, g.data_bytes) << write_lane) if lane_bits else 0
                            m.d.sync += [self.dq_o.eq(Cat(*[write_byte] * g.data_bytes)), self.dq_oe.eq(1),
                                         self.dqm.eq(mask), write_pending.eq(0), since_write.eq(0)]
                    with m.Elif(read_left != 0):
                        issue(READ, 1, a=target_col, ba=target_bank)
                        m.d.comb += issue_read.eq(1)
                        m.d.sync += [read_beat.eq(read_beat + 1), read_left.eq(read_left - 1), since_read.eq(0)]

        with m.If(self.write.valid & self.write.ready):
            m.d.sync += [write_pending.eq(1), write_beat.eq(self.write.payload.addr[lane_bits:]),
                         write_byte.eq(self.write.payload.data)]
            if lane_bits:
                m.d.sync += write_lane.eq(self.write.payload.addr[:lane_bits])
        with m.If(self.read_req.valid & self.read_req.ready):
            m.d.sync += [read_beat.eq(self.read_req.payload.addr), read_left.eq(self.read_req.payload.beats)]
        return m
