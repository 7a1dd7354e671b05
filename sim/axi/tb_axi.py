"""cocotb testbench of hw.axi.AXI4MemoryPort: cocotbext-axi's AxiRam on the `axi` port, and a hand-written
responder for error responses.

Checked: every read_req is answered on read_resp by exactly its beats, in order, each the bench's own
reference memory (a bytearray, changed by the bench's byte writes) at the time the request was taken, and
no beat more (tb_sdram.Bench; read_resp.ready stays high); every AR handshake is a full-width INCR burst of
at most 256 beats inside one 4 KB page, every AW/W a single beat (WSTRB: the bytes gathered into it); a read of
a beat right after a byte of it was written returns the byte; runs of adjacent bytes gathered into fewer
writes than bytes;
`error` stays low with OKAY responses and rises on SLVERR / DECERR and on a response nobody asked for. A write
right after a read of its beat waits for the read's data first (the port does not order a write after a read:
hw/axi.py).

Environment: DATA_BYTES, BEATS_BITS, WRITE_BYTES (the port's), MEMORY_PERIOD_NS (if set: the port runs on
`memory_clk` of that period behind hw.memory_crossing), SEED. WRITE_BYTES=4: every byte write is a word write of that
byte, and runs of word writes with random masks (an unaligned VSTORE's complementary pair to one word among them)
merge into beats byte by byte.
"""

import logging
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotbext.axi import AxiBus, AxiRam, AxiResp

from sim.clocking import start_and_reset
from sim.coverage import Coverage
from sim.sdram.tb_sdram import MEMORY_BINS, Bench, streaming

DATA_BYTES = int(os.environ["DATA_BYTES"])
BEATS_BITS = int(os.environ["BEATS_BITS"])
WRITE_BYTES = int(os.environ.get("WRITE_BYTES", "1"))
PAGE = 4096
REGION_BEATS = 8192                               # the part of the address space the traffic uses
CROSSING = "MEMORY_PERIOD_NS" in os.environ
COVERAGE = {
    **{name: MEMORY_BINS[name] for name in ("read of one beat", "read of the most beats", "read after its write",
                                            "read waits", "write waits", "write run", "write 0x00", "write 0xFF")},
    "AR ends on a 4 KB line": "a burst cut at a page boundary (AXI's 4 KB rule)",
    "AR of the longest burst": "a burst of AXI4's most beats (256) or a whole 4 KB page, the fewer",
    "request split in bursts": "a read request of more beats than one burst takes",
    "W of several bytes": "byte writes gathered into one W beat (several WSTRB bits)",
    "W of every byte": "a whole beat gathered into one W (every WSTRB bit)",
    "AR held": "ARVALID high while the memory holds ARREADY low",
    "R held": "the port's RREADY high while the memory withholds RVALID mid-burst",
    **({"words split": "an unaligned word's two writes (complementary masks) to one word"} if WRITE_BYTES == 4 else {}),
}
# One model for both traffic runs: unpaused, the port keeps up with a byte a cycle (no write ever waits). Behind
# the crossing the bytes reach the port with gaps (its FIFOs'), so a whole beat is gathered only by chance: that
# bin is the direct port's (the gather is the same logic).
TRAFFIC_COVERAGE = Coverage(f"axi {DATA_BYTES}-byte beats{' crossing' if CROSSING else ''}"
                            + (" word writes" if WRITE_BYTES == 4 else ""),
                            {name: doc for name, doc in COVERAGE.items() if not (CROSSING and name == "W of every byte")})
AXI_INPUTS = ("axi__arready", "axi__awready", "axi__wready", "axi__rvalid", "axi__bvalid")   # low till AxiRam runs


async def start(dut):
    """Clocks and resets (both domains behind the crossing)."""
    if CROSSING:
        dut.memory_rst.value = 1
        cocotb.start_soon(Clock(dut.memory_clk, float(os.environ["MEMORY_PERIOD_NS"]), unit="ns").start())
    await start_and_reset(dut, low=("read_req__valid", "write__valid", *AXI_INPUTS), high=("read_resp__ready",))
    if CROSSING:
        for _ in range(3):
            await RisingEdge(dut.memory_clk)
        dut.memory_rst.value = 0
    while dut.ready.value == 0:
        await RisingEdge(dut.clk)
    return (dut.memory_clk, dut.memory_rst) if CROSSING else (dut.clk, dut.rst)


class ChannelMonitor:
    """Checks every AR, AW and W handshake (sampled after the clock edge, taken at the next) and counts
    transactions: a burst stays in a 4 KB page. (A read after a write sees it: the interleaved section's data.)"""

    def __init__(self, dut, clock, coverage):
        self.dut, self.clock, self.coverage = dut, clock, coverage
        self.count = dict.fromkeys(("ar", "rlast", "aw", "w", "b"), 0)
        self.page_ends = 0                        # AR bursts that end on a page boundary
        self.longest = 0

    def handshake(self, channel):
        dut = self.dut
        return getattr(dut, f"axi__{channel}valid").value == 1 and getattr(dut, f"axi__{channel}ready").value == 1

    async def run(self):
        dut, count = self.dut, self.count
        while True:
            await RisingEdge(self.clock)
            await ReadOnly()
            ar, aw, w = self.handshake("ar"), self.handshake("aw"), self.handshake("w")
            rlast, b = self.handshake("r") and dut.axi__rlast.value == 1, self.handshake("b")
            if ar:
                address, length = int(dut.axi__araddr.value), int(dut.axi__arlen.value) + 1
                assert int(dut.axi__arsize.value) == DATA_BYTES.bit_length() - 1 and int(dut.axi__arburst.value) == 1
                assert address % DATA_BYTES == 0 and length <= 256, f"AR {address:#x} x {length}"
                assert address % PAGE + length * DATA_BYTES <= PAGE, f"AR {address:#x} x {length} crosses 4 KB"
                self.page_ends += (address + length * DATA_BYTES) % PAGE == 0
                self.longest = max(self.longest, length)
                self.coverage.hit("AR ends on a 4 KB line", (address + length * DATA_BYTES) % PAGE == 0)
                self.coverage.hit("AR of the longest burst", length == min(256, PAGE // DATA_BYTES))
            if aw:
                assert int(dut.axi__awlen.value) == 0 and int(dut.axi__awaddr.value) % DATA_BYTES == 0
            if w:
                assert dut.axi__wlast.value == 1 and int(dut.axi__wstrb.value), "W without a byte"
                strobes = bin(int(dut.axi__wstrb.value)).count("1")
                self.coverage.hit("W of several bytes", strobes > 1)
                if "W of every byte" in self.coverage.bins:
                    self.coverage.hit("W of every byte", strobes == DATA_BYTES)
            self.coverage.hit("AR held", dut.axi__arvalid.value == 1 and dut.axi__arready.value == 0)
            self.coverage.hit("R held", dut.axi__rready.value == 1 and dut.axi__rvalid.value == 0 and
                              self.count["ar"] > self.count["rlast"] + rlast)
            for name, seen in (("ar", ar), ("rlast", rlast), ("aw", aw), ("w", w), ("b", b)):
                count[name] += seen


def pauses(rng, rate):
    while True:
        yield rng.random() < rate


async def traffic(dut, paused: bool):
    rng = random.Random(int(os.environ.get("SEED", "7")) + paused)
    clock, reset = await start(dut)
    logging.getLogger(f"cocotb.{dut._name}.axi_").setLevel(logging.WARNING)    # AxiRam logs every burst
    reference = bytearray(rng.randbytes(REGION_BEATS * DATA_BYTES))
    ram = AxiRam(AxiBus.from_prefix(dut, "axi_"), clock, reset, mem=bytearray(reference))
    if paused:
        for channel in (ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                        ram.read_if.ar_channel, ram.read_if.r_channel):
            channel.set_pause_generator(pauses(random.Random(rng.randrange(1 << 30)), 0.3))
    coverage = TRAFFIC_COVERAGE
    monitor = ChannelMonitor(dut, clock, coverage)
    cocotb.start_soon(monitor.run())
    bench = Bench(dut, reference, DATA_BYTES, BEATS_BITS, coverage=coverage, write_bytes=WRITE_BYTES)
    cocotb.start_soon(bench.collect())
    page_beats, max_beats, size = PAGE // DATA_BYTES, (1 << BEATS_BITS) - 1, len(reference)

    # A long run from a beat's start: whole beats gathered, 0x00 and 0xFF, more bytes than the FIFO holds.
    await bench.write_run(rng.randrange(size // DATA_BYTES - 16) * DATA_BYTES,
                          bytes([0x00, 0xFF]) + rng.randbytes(8 * DATA_BYTES))
    # Byte writes: random ones, the same beat again, runs of adjacent bytes (across beats and pages).
    for _ in range(40):
        address = rng.choice([rng.randrange(size), rng.randrange(1, size // PAGE) * PAGE - rng.randrange(1, 4)])
        await bench.write(address, rng.randrange(256))
        if rng.random() < 0.4:
            await bench.write(address ^ rng.randrange(DATA_BYTES), rng.randrange(256))
        if rng.random() < 0.3:
            for k in range(1, rng.randrange(2, 2 * DATA_BYTES + 3)):
                await bench.write(min(address + k, size - 1), rng.randrange(256))
        if rng.random() < 0.4:                      # back to back: gathered, across beats and pages
            first = min(address, size - 3 * DATA_BYTES)
            await bench.write_run(first, rng.randbytes(rng.randrange(2, 3 * DATA_BYTES)))
    if WRITE_BYTES == 4:                          # VSTORE's words, aligned and not (split in two)
        for _ in range(12):
            address = rng.randrange(size // 4 - 3 * DATA_BYTES) * 4
            offset = rng.randrange(4)
            words = []
            for k in range(rng.randrange(1, 3 * DATA_BYTES // 4)):
                word = rng.getrandbits(32)
                if offset == 0:
                    words.append((address + 4 * k, word, 0b1111))
                else:                               # as hw.data_mover splits a word at an unaligned address
                    shifted = word << 8 * offset
                    words += [(address + 4 * k, shifted & 0xFFFFFFFF, 0b1111 << offset & 0b1111),
                              (address + 4 * k + 4, shifted >> 32, 0b1111 >> 4 - offset)]
                    coverage.hit("words split")
            await bench.write_words(words)
            await bench.read(address // DATA_BYTES, len(words) * 4 // DATA_BYTES + 2)
    # Reads: short and long, many across a 4 KB page, some longer than 256 beats (the longest from just
    # before a page's end: a short burst, then full ones).
    await bench.read(REGION_BEATS // 2 - 3, max_beats)
    for _ in range(60):
        kind = rng.random()
        if kind < 0.35:
            beats = rng.randrange(2, 40)
            address = rng.randrange(1, REGION_BEATS // page_beats) * page_beats - rng.randrange(1, beats)
        else:
            beats = rng.randrange(257, max_beats + 1) if kind < 0.5 else rng.choice([1, 2, 16, rng.randrange(1, 64)])
            address = rng.randrange(REGION_BEATS - beats)
        await bench.read(address, beats)
        coverage.hit("request split in bursts", beats > 256)
    # Interleaved: a beat read right after a byte of it was written, and written right after it was read.
    for _ in range(40):
        address = rng.randrange(size)
        await bench.write(address, rng.randrange(256))
        await bench.read(address // DATA_BYTES, rng.randrange(1, 4))
        await bench.drain(limit=50000)      # a write after a read is not ordered (hw/axi.py's docstring)
        await bench.write(address ^ rng.randrange(DATA_BYTES), rng.randrange(256))
    await bench.drain(limit=50000)
    efficiency, cycles, _ = await streaming(bench, start=rng.randrange(REGION_BEATS // 2), beats=1024)
    dut._log.info(f"{'paused' if paused else 'unpaused'}: {bench.received} beats; AR {monitor.count['ar']} "
                  f"(longest {monitor.longest}, {monitor.page_ends} ending on a 4 KB line), writes "
                  f"{monitor.count['b']}; streaming 16-beat requests: {efficiency:.2f} beats/cycle")
    assert monitor.count["aw"] == monitor.count["w"] == monitor.count["b"] < bench.writes, "no bytes gathered"
    assert monitor.page_ends > 10 and monitor.longest == min(256, page_beats), "the splits were not exercised"
    if not paused and not CROSSING:
        assert efficiency > 0.75, "the port does not stream"
    assert dut.error.value == 0, "error raised with OKAY responses only"
    if CROSSING:
        assert dut.overflow.value == 0, "the clock crossing lost a beat"
    if paused:                                  # the second of the two runs (cocotb runs tests in order)
        coverage.finish()


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def traffic_without_pauses(dut):
    await traffic(dut, paused=False)


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def traffic_with_pauses_on_every_channel(dut):
    await traffic(dut, paused=True)


@cocotb.test(skip=CROSSING, timeout_time=20, timeout_unit="us")
async def error_responses_raise_error(dut):
    """A hand-written responder (AxiRam answers OKAY only): SLVERR on the last R beat, DECERR on a B
    response, and an R beat nobody asked for each raise `error`; OKAY responses do not."""
    await start_and_reset(dut, low=("read_req__valid", "write__valid", "axi__rvalid", "axi__bvalid"),
                          high=("read_resp__ready", "axi__arready", "axi__awready", "axi__wready"))
    bench = Bench(dut, bytearray(REGION_BEATS * DATA_BYTES), DATA_BYTES, BEATS_BITS)

    async def asked(channel):                     # the port's AR / AW valid (AR/AWREADY are high): taken
        while getattr(dut, f"axi__{channel}valid").value == 0:
            await RisingEdge(dut.clk)
            await ReadOnly()
        await RisingEdge(dut.clk)                 # here; a response may follow from the next cycle

    async def respond(channel, resp, last=1):     # one R beat or B response, then the flag it leaves
        await FallingEdge(dut.clk)
        getattr(dut, f"axi__{channel}valid").value, getattr(dut, f"axi__{channel}resp").value = 1, resp
        if channel == "r":
            dut.axi__rlast.value = last
        await FallingEdge(dut.clk)
        getattr(dut, f"axi__{channel}valid").value = 0
        await RisingEdge(dut.clk)
        await ReadOnly()
        return dut.error.value

    async def reset():
        await FallingEdge(dut.clk)
        dut.rst.value = 1
        await FallingEdge(dut.clk)
        dut.rst.value = 0

    await bench.read(5, 2)
    await asked("ar")
    assert await respond("r", AxiResp.OKAY, last=0) == 0
    assert await respond("r", AxiResp.SLVERR) == 1, "SLVERR on R accepted silently"
    await reset()
    for resp in (AxiResp.OKAY, AxiResp.DECERR):
        await bench.write(3, 0x5A)
        await asked("aw")
        assert await respond("b", resp) == (resp != AxiResp.OKAY), f"B {resp!r}"
    await reset()
    assert await respond("r", AxiResp.OKAY) == 1, "an R beat nobody asked for accepted silently"
