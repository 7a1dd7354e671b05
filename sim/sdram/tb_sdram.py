"""cocotb testbench of the SDRAM controller against the Python SDRAM chip (sdram_chip.py).

Protocol checked: read_req {addr, beats} is answered on read_resp by exactly those beats in order, each
the memory's content at the time the request was taken (writes taken before it included); write
{addr, byte} changes exactly that byte; read_resp.ready stays high (the controller never waits). The chip
checks every command against the datasheet rules. Streaming: back-to-back 16-beat requests (what
hw.image_reader issues) run at one beat a cycle but for row changes and refresh.
"""

import os
import random
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from sim.clocking import CLOCK_PERIOD_NS, start_and_reset
from sim.coverage import Coverage
from sim.sdram.cases import CASES
from sim.sdram.sdram_chip import SDRAMChip
from sim.xcheck import dont_care


# Functional coverage of a memory's traffic (Bench samples them; each bench declares those its memory can reach).
MEMORY_BINS = {
    "read of one beat": "a read request of a single beat",
    "read of the most beats": "a read request of the most beats the port takes (2**beats_bits - 1)",
    "read across a row": "a read whose beats cross a DRAM row (a multiple of the row's beats)",
    "read after its write": "a read of a beat whose byte was written by the request just before",
    "read waits": "a read request offered while the memory is not ready",
    "write waits": "a byte write offered while the memory is not ready",
    "write run": "bytes to consecutive addresses offered back to back",
    "write 0x00": "a byte of all zeros written",
    "write 0xFF": "a byte of all ones written",
    "refresh": "a refresh while the bench streamed",
}


class Bench:
    """Drives read_req and write, checks read_resp against `reference` (what the memory holds, as the bench
    wrote it). Shared with the SPRAM and AXI benches (sim/spram/, sim/axi/), whose memories have the same ports.
    written_only: the memory holds nothing known until written (the SPRAM's model starts X): a byte the bench
    never wrote may read as anything, X included; every byte it wrote must read back exactly.
    coverage: a sim.coverage.Coverage declaring some of MEMORY_BINS (those of others are not sampled);
    row_beats: the DRAM row's beats, for "read across a row"; write_bytes: the write port's (hw.image_reader.
    write_layout): 4, words with a byte mask, each byte write then a word write of that one byte."""

    def __init__(self, dut, reference: bytearray, data_bytes: int, beats_bits: int = 8, *, written_only=False,
                 coverage: Coverage | None = None, row_beats: int = 0, write_bytes: int = 1):
        self.dut, self.reference, self.data_bytes, self.beats_bits = dut, reference, data_bytes, beats_bits
        self.write_bytes = write_bytes
        self.coverage, self.row_beats, self.last_written = coverage, row_beats, None
        self.known = bytearray(len(reference)) if written_only else bytearray(b"\1" * len(reference))
        self.expected: deque[tuple[int, bytes]] = deque()          # (beat, which of its bytes are known)
        self.received = 0
        self.writes = 0                 # bytes written
        self.last_beat_cycle = 0
        self.cycle = 0

    def hit(self, name: str, condition) -> None:
        if self.coverage is not None and name in self.coverage.bins:
            self.coverage.hit(name, condition)

    def beat(self, address) -> tuple[int, bytes]:
        start = address * self.data_bytes
        return (int.from_bytes(self.reference[start:start + self.data_bytes], "little"),
                bytes(self.known[start:start + self.data_bytes]))

    def check_beat(self, value, want: int, known: bytes) -> None:
        """`value` (the read_resp payload) against `want` in the bytes `known` marks."""
        bits = str(value)[::-1]                                       # bit 0 first
        for index, byte_known in enumerate(known):
            if byte_known:
                byte = bits[8 * index:8 * index + 8][::-1]
                wanted = want >> 8 * index & 0xFF
                assert byte == f"{wanted:08b}", (f"beat {self.received}, byte {index}: read {byte}, memory holds "
                                                 f"{wanted:08b}")

    async def collect(self):
        while True:
            await RisingEdge(self.dut.clk)
            await ReadOnly()
            self.cycle += 1
            if self.dut.read_resp__valid.value == 1:
                assert self.expected, "a beat nobody asked for"
                want, known = self.expected.popleft()
                self.check_beat(self.dut.read_resp__payload.value, want, known)
                self.received += 1
                self.last_beat_cycle = self.cycle

    async def read(self, address, beats):
        dut = self.dut
        await FallingEdge(dut.clk)
        dut.read_req__valid.value = 1
        dut.read_req__payload.value = (beats << len(dut.read_req__payload.value) - self.beats_bits) | address
        while True:
            await ReadOnly()
            if dut.read_req__ready.value == 1:
                break
            self.hit("read waits", True)
            await FallingEdge(dut.clk)
        self.expected.extend(self.beat(address + k) for k in range(beats))
        self.hit("read of one beat", beats == 1)
        self.hit("read of the most beats", beats == (1 << self.beats_bits) - 1)
        self.hit("read across a row", self.row_beats and address // self.row_beats != (address + beats - 1) // self.row_beats)
        self.hit("read after its write", self.last_written is not None and
                 address <= self.last_written // self.data_bytes < address + beats)
        self.last_written = None
        await FallingEdge(dut.clk)
        dut.read_req__valid.value = 0
        dont_care(dut.read_req__payload)

    async def write(self, address, byte):
        await self.write_run(address, bytes([byte]))

    async def write_run(self, address, data: bytes):
        """Bytes to consecutive addresses, offered back to back (write.valid stays high between them)."""
        self.hit("write run", len(data) > 1)
        for byte in data:
            self.hit("write 0x00", byte == 0x00)
            self.hit("write 0xFF", byte == 0xFF)
        if self.write_bytes == 1:
            await self._offer([((byte << 32) | (address + k), {address + k: byte}) for k, byte in enumerate(data)])
        else:
            await self.write_words([(address + k & ~3, byte << 8 * (address + k & 3), 1 << (address + k & 3))
                                    for k, byte in enumerate(data)])

    async def write_words(self, words):
        """Word writes (write_bytes 4) offered back to back: (aligned address, 32-bit word, 4-bit byte mask)."""
        await self._offer([((mask << 64) | (word << 32) | address,
                            {address + k: word >> 8 * k & 0xFF for k in range(4) if mask >> k & 1})
                           for address, word, mask in words])

    async def _offer(self, writes):
        """(payload, {byte address: byte} it writes) each offered until taken, back to back."""
        dut = self.dut
        await FallingEdge(dut.clk)
        for payload, changes in writes:
            dut.write__valid.value = 1
            dut.write__payload.value = payload
            while True:
                await ReadOnly()
                if dut.write__ready.value == 1:
                    break
                self.hit("write waits", True)
                await FallingEdge(dut.clk)
            for byte_address, byte in changes.items():
                self.last_written = byte_address
                self.reference[byte_address] = byte
                self.known[byte_address] = 1
            self.writes += 1
            await FallingEdge(dut.clk)
        dut.write__valid.value = 0
        dont_care(dut.write__payload)

    async def drain(self, limit=2000):
        for _ in range(limit):
            if not self.expected:
                return
            await RisingEdge(self.dut.clk)
        raise AssertionError(f"{len(self.expected)} beats never came")


@cocotb.test()
async def controller_matches_the_chip(dut):
    """CASE names the controller; MEMORY_PERIOD_NS (if set): it runs on its own clock `memory_clk` of that
    period behind hw.memory_crossing (the bench's clock and cycle counts are the sync domain's)."""
    geometry, timing, clock_hz = CASES[os.environ["CASE"]]
    rng = random.Random(int(os.environ.get("SEED", "5")))
    crossing = "MEMORY_PERIOD_NS" in os.environ
    if crossing:
        dut.memory_rst.value = 1
        cocotb.start_soon(Clock(dut.memory_clk, float(os.environ["MEMORY_PERIOD_NS"]), unit="ns").start())
    await start_and_reset(dut, low=("read_req__valid", "write__valid"), high=("read_resp__ready",))
    if crossing:
        for _ in range(3):
            await RisingEdge(dut.memory_clk)
        dut.memory_rst.value = 0
    chip = SDRAMChip(dut, geometry, timing, clock_hz, seed=rng.randrange(1 << 30),
                     **({"clock": "memory_clk", "reset": "memory_rst"} if crossing else {}))
    chip.memory[:] = rng.randbytes(len(chip.memory))
    row_beats = 1 << geometry.col_bits
    coverage = Coverage(f"sdram {os.environ['CASE']}{' crossing' if crossing else ''}",
                        MEMORY_BINS)
    bench = Bench(dut, bytearray(chip.memory), geometry.data_bytes, coverage=coverage, row_beats=row_beats)
    chip.start()
    cocotb.start_soon(bench.collect())
    while dut.ready.value == 0:
        await RisingEdge(dut.clk)
    await random_traffic(bench, rng, row_beats)
    efficiency, cycles, refreshes = await streaming(bench, start=3 * row_beats - 5, count=lambda: chip.commands["REFRESH"])
    dut._log.info(f"streaming: {efficiency:.3f} beats/cycle ({refreshes} refreshes, rows of {row_beats} beats) "
                  f"(measured); commands {chip.commands}")
    # beats per sync cycle: the memory's rate scaled by its clock's (behind the crossing)
    rate = CLOCK_PERIOD_NS / float(os.environ["MEMORY_PERIOD_NS"]) if crossing else 1.0
    assert efficiency > (0.9 if row_beats >= 256 else 0.5) * rate, "the controller does not stream"
    assert refreshes >= cycles * rate // (chip.t["t_refi"] + 1), "too few refreshes"
    if crossing:
        assert dut.overflow.value == 0, "the clock crossing lost a beat"
    coverage.hit("refresh", refreshes)
    coverage.finish()


async def random_traffic(bench, rng, row_beats: int):
    beats_total = len(bench.reference) // bench.data_bytes

    # Random reads and byte writes, many across row and bank ends, some writes read straight back.
    for _ in range(250):
        kind = rng.random()
        if kind < 0.45:
            if rng.random() < 0.4:
                address = rng.randrange(1, beats_total // row_beats) * row_beats - rng.randrange(1, 8)
            else:
                address = rng.randrange(beats_total - 300)
            await bench.read(address, rng.choice([1, 2, 3, rng.randrange(1, 256), 255]))
        elif kind < 0.8:
            await bench.write(rng.randrange(len(bench.reference)), rng.randrange(256))
        else:
            base = rng.randrange(len(bench.reference) - 64)
            data = bytes(rng.choice([0x00, 0xFF, rng.randrange(256)]) for _ in range(rng.randrange(1, 20)))
            if rng.random() < 0.5:
                await bench.write_run(base, data)           # back to back, as the link's image load writes
            else:
                for k, byte in enumerate(data):
                    await bench.write(base + k, byte)
            await bench.read(base // bench.data_bytes, 12)
    await bench.drain()


async def streaming(bench, *, start: int, count=lambda: 0, beats: int = 4096):
    """Sequential 16-beat requests offered back to back: (beats per cycle, cycles, count() difference)."""
    first_cycle, before, offered = bench.cycle, count(), 0
    while offered < beats:
        await bench.read(start + offered, 16)
        offered += 16
    await bench.drain()
    cycles = bench.last_beat_cycle - first_cycle
    return beats / cycles, cycles, count() - before
