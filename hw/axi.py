"""`AXI4MemoryPort`: the accelerator's memory channels as an AXI4 manager (a DDR/HBM controller, an interconnect).

    read_req {addr, beats} ─► split at 4 KB / 256 beats ─► AR (registered) ─────────► axi.ar*
    read_resp ◄── register ◄─────────────────────────────── R (RREADY always 1) ◄─── axi.r*
    write {addr, byte} ─► FIFO ─► stage (same beat?) ─► gather (a beat's bytes) ─► AW + W (registered, one beat, WSTRB) ─► axi.aw*, axi.w*
                          outstanding-write counter ◄── B (BREADY always 1) ◄─────────────── axi.b*
    error ◄── sticky: RRESP / BRESP not OKAY, or an R beat / B response nobody asked for

Same accelerator-side ports as hw.sdram.SDRAMController, so it drops in wherever that one does, also behind
hw.memory_crossing. The manager port `axi` has the flat AXI4 signal names (`AXI4Signature`): the Verilog
ports are `axi__awaddr` etc., which cocotbext-axi binds with `AxiBus.from_prefix(dut, "axi_")`.

Protocol. A read request becomes INCR bursts of full-width beats (ARSIZE = log2(data_bytes), one ID, so
R beats return in order), split where a burst would cross an aligned line of min(4 KB, 256 beats), so no
burst crosses a 4 KB boundary (AXI forbids it) nor exceeds ARLEN 255; a request is taken every other cycle at
most and its (first) burst offered on AR the cycle after, and up to MAX_READ_BURSTS wait for their data at once. Each R beat is offered on read_resp the cycle after it
arrives: RREADY is always high and read_resp never waits (the accelerator takes every beat it asked for,
hw.image_reader's credits guarantee room). Byte writes are gathered: bytes of one beat merge into one AXI
write (AWLEN 0, AWADDR the beat's address, WSTRB their lanes), sent when a byte of another beat comes or the
write channel is idle for a cycle, AW and W offered together and each dropped when taken; so a byte is taken
every cycle (the link's image load, VSTORE's words) and one write a beat goes out. Up to `max_writes`
writes wait for their B responses at once. The bytes enter through a small FIFO (WRITE_FIFO_DEPTH, registered
on both sides) and one more register stage that compares each byte's beat with the previous byte's: the writer's
valid and address never reach the gather logic in the same cycle, and the gather's enables read a registered
"same beat" bit (the data mover sits across the chip from a board's memory controller). Built with
`write_bytes` 4, the writes are words with a byte mask (hw.image_reader.WordWriteLayout, an accelerator's
word VSTORE): a word a cycle, its masked bytes merged into the beat the same way (two writes to one word with
complementary masks, an unaligned VSTORE's, merge byte by byte).

Ordering. AXI orders nothing between its read and write channels, yet the accelerator reads what it and the
link wrote: a read request is not taken while a byte waits in the FIFO, is gathered or any write is outstanding (all B
responses in), so a read returns the memory as it was when the request was taken, every earlier write
included, as hw.sdram does. When both wait, the write goes first (as in hw.sdram). A write is not held back
for earlier reads (a request taken before it may still be sending its bursts): the accelerator never writes what it is still reading (the link writes while no program
runs, its readers flushed at the next start; VSTORE writes the work area, which only VLOAD reads, and a
VLOAD ends before the next instruction), and waiting for the prefetch stream's bursts would stall VSTORE a
burst a beat. Behind hw.memory_crossing, whose read and write FIFOs keep no order between them, a read after
a write still sees it (the write reaches the port first, or with it).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .component import CheckedComponent
from .image_reader import ADDRESS_BITS, write_layout

BURST_INCR = 0b01
CACHE_NORMAL_BUFFERABLE = 0b0011    # AxCACHE: Normal Non-cacheable Bufferable (reads see every write whose B came back)
RESP_OKAY = 0b00


class AXI4Signature(wiring.Signature):
    """An AXI4 manager port (flip it for a subordinate): the five channels as flat members named as in the AXI
    specification (awaddr, wvalid, rresp, ...). AxREGION and the USER signals are left out.

    addr_width: bits of the byte address (12..64); data_width: 8, 16, ... 1024 bits; id_width: 1..32."""

    def __init__(self, addr_width: int, data_width: int, id_width: int):
        if not isinstance(addr_width, int) or not 12 <= addr_width <= 64:
            raise ValueError(f"addr_width must be 12..64 bits, got {addr_width!r}")
        if not isinstance(data_width, int) or data_width not in [8 << k for k in range(8)]:
            raise ValueError(f"data_width must be 8, 16, 32, ... 1024 bits, got {data_width!r}")
        if not isinstance(id_width, int) or not 1 <= id_width <= 32:
            raise ValueError(f"id_width must be 1..32 bits, got {id_width!r}")
        self.addr_width, self.data_width, self.id_width = addr_width, data_width, id_width
        members = {}
        for a in ("aw", "ar"):
            members.update({f"{a}id": Out(id_width), f"{a}addr": Out(addr_width), f"{a}len": Out(8),
                            f"{a}size": Out(3), f"{a}burst": Out(2), f"{a}lock": Out(1), f"{a}cache": Out(4),
                            f"{a}prot": Out(3), f"{a}qos": Out(4), f"{a}valid": Out(1), f"{a}ready": In(1)})
            if a == "aw":
                members.update({"wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
                                "wvalid": Out(1), "wready": In(1),
                                "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1)})
        members.update({"rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
                        "rvalid": In(1), "rready": Out(1)})
        super().__init__(members)

    def __eq__(self, other):
        return (type(other) is type(self) and
                (other.addr_width, other.data_width, other.id_width) == (self.addr_width, self.data_width,
                                                                         self.id_width))

    def __repr__(self):
        return f"AXI4Signature({self.addr_width}, {self.data_width}, {self.id_width})"


class AXI4MemoryPort(CheckedComponent):
    """Parameters
    data_bytes: width of a beat (1, 2, 4, ... 64 bytes; the AXI data bus is 8 * data_bytes bits);
    addr_width: AXI address bits (12..64; byte address bits above it are dropped); id_width: AXI ID bits
    (one ID, 0, is used); beats_bits: width of a request's beat count (1..16); max_writes: writes waiting
    for their B response at once (1..255); write_bytes: bytes a write carries, 1 or 4 (words: data_bytes >= 4).

    Ports (accelerator side, as hw.sdram.SDRAMController has them)
    read_req: stream of {addr: beat address, beats: 1..2**beats_bits - 1} (beats 0 is taken and ignored).
    read_resp: stream of unsigned(8 * data_bytes) beats in request order; valid is never held back for ready.
    write: stream of hw.image_reader.write_layout(write_bytes): {addr: byte address, data: 8-bit byte}, or
    {addr: a multiple of 4, data: 32-bit word, mask: its bytes to write}.
    ready: Out(1), high from the first cycle after reset. error: Out(1), sticky (see the module docstring).

    Port `axi`: AXI4Signature(addr_width, 8 * data_bytes, id_width), the manager side."""

    MAX_READ_BURSTS = 16                # AR bursts whose last R beat is still to come, at most
    WRITE_FIFO_DEPTH = 4                # bytes buffered before the gather logic: a byte a cycle through it
    WRITE_CYCLES = 1                    # cycles per write at best: a write (byte or word) a cycle, gathered into beats

    @classmethod
    def check_parameters(cls, *, data_bytes, addr_width, id_width, beats_bits, max_writes, write_bytes=1) -> None:
        if not isinstance(data_bytes, int) or data_bytes not in [1 << k for k in range(7)]:
            raise ValueError(f"data_bytes must be a power of two 1..64, got {data_bytes!r}")
        if not isinstance(beats_bits, int) or not 1 <= beats_bits <= 16:
            raise ValueError(f"beats_bits must be 1..16, got {beats_bits!r}")
        if not isinstance(max_writes, int) or not 1 <= max_writes <= 255:
            raise ValueError(f"max_writes must be 1..255, got {max_writes!r}")
        AXI4Signature(addr_width, 8 * data_bytes, id_width)             # checks addr_width and id_width
        write_layout(write_bytes)
        if write_bytes > data_bytes:
            raise ValueError(f"write_bytes {write_bytes} is wider than the beat ({data_bytes} bytes)")

    def __init__(self, *, data_bytes: int, addr_width: int = 32, id_width: int = 1, beats_bits: int = 8,
                 max_writes: int = 4, write_bytes: int = 1):
        axi = AXI4Signature(addr_width, 8 * data_bytes, id_width)
        self.data_bytes, self.beats_bits, self.max_writes = data_bytes, beats_bits, max_writes
        self.write_bytes = write_bytes
        self.lane_bits = (data_bytes - 1).bit_length()
        self.line_beats = min(4096 // data_bytes, 256)                   # a burst stays inside an aligned line
        super().__init__({
            "read_req": In(stream.Signature(data.StructLayout({
                "addr": ADDRESS_BITS - self.lane_bits, "beats": beats_bits}))),
            "read_resp": Out(stream.Signature(8 * data_bytes)),
            "write": In(stream.Signature(write_layout(write_bytes))),
            "ready": Out(1),
            "error": Out(1),
            "axi": Out(axi),
        })

    def elaborate(self, platform):
        m = Module()
        axi, lane_bits = self.axi, self.lane_bits
        addr_width = len(axi.araddr)
        m.d.sync += self.ready.eq(1)

        # Constant fields: one ID, full-width INCR bursts, normal unprivileged accesses.
        for a in ("aw", "ar"):
            m.d.comb += [getattr(axi, f"{a}id").eq(0), getattr(axi, f"{a}size").eq(lane_bits),
                         getattr(axi, f"{a}burst").eq(BURST_INCR), getattr(axi, f"{a}lock").eq(0),
                         getattr(axi, f"{a}cache").eq(CACHE_NORMAL_BUFFERABLE), getattr(axi, f"{a}prot").eq(0),
                         getattr(axi, f"{a}qos").eq(0)]
        m.d.comb += [axi.awlen.eq(0), axi.wlast.eq(1), axi.bready.eq(1), axi.rready.eq(1)]

        # The bytes to write, through a FIFO registered on both sides (see the module docstring).
        write_fifo = SyncFIFOBuffered(width=len(self.write.payload.as_value()), depth=self.WRITE_FIFO_DEPTH)
        m.submodules.write_fifo = write_fifo
        wiring.connect(m, wiring.flipped(self.write), write_fifo.w_stream)
        # Then one register stage that decides, as a byte enters it, whether the byte continues the beat of the
        # byte before it (a compare against that byte's beat): bytes reach the gather in order, so while a beat is
        # gathered it is the previous byte's, and the gather's enables read a register, not a compare (the gather
        # registers sit at the memory controller, across the chip from the FIFO: ECPIX-5, 72.8 MHz before).
        write = stream.Signature(self.write.payload.shape()).create(path=("staged_write",))
        continues = Signal()                               # the staged byte's beat is the previous byte's
        last_beat = Signal(ADDRESS_BITS - lane_bits)       # the beat of the byte staged last
        buffered = write_fifo.r_stream
        m.d.comb += buffered.ready.eq(~write.valid | write.ready)
        with m.If(buffered.valid & buffered.ready):
            beat_in = self.write.payload.shape()(buffered.payload).addr >> lane_bits
            m.d.sync += [write.valid.eq(1), write.payload.eq(buffered.payload), last_beat.eq(beat_in),
                         continues.eq(beat_in == last_beat)]
        with m.Elif(write.ready):
            m.d.sync += write.valid.eq(0)

        # Outstanding transactions: writes from acceptance to B, read bursts from AR to the last R beat.
        writes = Signal(range(self.max_writes + 1))
        reads = Signal(range(self.MAX_READ_BURSTS + 1))
        b_in = axi.bvalid                                  # BREADY is always high
        r_last = axi.rvalid & axi.rlast                    # RREADY is always high
        write_taken = write.valid & write.ready
        issued = Signal()                                  # a gathered beat goes to the AW / W registers
        ar_taken = axi.arvalid & axi.arready
        m.d.sync += [writes.eq(writes + issued - b_in), reads.eq(reads + ar_taken - r_last)]
        gathering = Signal()                               # a beat's bytes wait in the gather registers

        # R: registered onto read_resp; responses are checked.
        m.d.sync += [self.read_resp.valid.eq(axi.rvalid), self.read_resp.payload.eq(axi.rdata)]
        with m.If((axi.rvalid & ((axi.rresp != RESP_OKAY) | (reads == 0))) |
                  (b_in & ((axi.bresp != RESP_OKAY) | (writes == 0)))):
            m.d.sync += self.error.eq(1)

        # Reads: a request is cut into bursts that stay inside an aligned line of `line_beats` beats. Its first
        # burst (up to the end of the first beat's line) is sized as the request is taken; every later burst
        # starts on a line boundary, so it is min(rest, line_beats): no adder feeds a compare. Each cycle the AR
        # register is free, the sized burst is loaded into it: a request every other cycle, as fast as
        # hw.image_reader asks.
        line_bits = (self.line_beats - 1).bit_length()
        beats_shape = self.read_req.payload.beats.shape()
        beat = Signal.like(self.read_req.payload.addr)     # the sized burst's first beat
        burst = Signal(line_bits + 1)                      # its beats, 1..line_beats
        rest = Signal(beats_shape)                         # the request's beats after it
        pending = Signal()                                 # a sized burst waits for the AR register
        request = self.read_req.payload
        to_line_end = self.line_beats - request.addr[:line_bits]
        first = Mux(request.beats <= to_line_end, request.beats, to_line_end)
        following = Mux(rest <= self.line_beats, rest, self.line_beats)
        ar_free = ~axi.arvalid | axi.arready
        m.d.comb += self.read_req.ready.eq(~pending & (writes == 0) & ~gathering & ~self.write.valid
                                           & (write_fifo.level == 0) & ~write.valid)
        with m.If(ar_taken):
            m.d.sync += axi.arvalid.eq(0)
        with m.If(pending & ar_free & (reads < self.MAX_READ_BURSTS - 1)):
            m.d.sync += [axi.arvalid.eq(1), axi.araddr.eq((beat << lane_bits)[:addr_width]), axi.arlen.eq(burst - 1),
                         beat.eq(beat + burst), burst.eq(following), rest.eq(rest - following),
                         pending.eq(rest != 0)]
        with m.If(self.read_req.valid & self.read_req.ready):
            m.d.sync += [beat.eq(request.addr), burst.eq(first), rest.eq(request.beats - first),
                         pending.eq(request.beats != 0)]
        # Writes: bytes gathered into a beat, which goes to AW and W (registered together, each dropped when
        # taken) when a byte of another beat comes or no byte is offered.
        gather_beat = Signal(ADDRESS_BITS - lane_bits)
        gather_data, gather_strobe = Signal.like(axi.wdata), Signal.like(axi.wstrb)
        address = write.payload.addr
        same_beat = gathering & continues                  # gathering: the gathered beat is the previous byte's
        issue_free = ~axi.awvalid & ~axi.wvalid & (writes != self.max_writes)
        m.d.comb += [issued.eq(gathering & issue_free & (~write.valid | ~same_beat)),
                     write.ready.eq(~gathering | same_beat | issue_free)]
        with m.If(axi.awready):
            m.d.sync += axi.awvalid.eq(0)
        with m.If(axi.wready):
            m.d.sync += axi.wvalid.eq(0)
        with m.If(issued):
            m.d.sync += [axi.awvalid.eq(1), axi.wvalid.eq(1), axi.awaddr.eq((gather_beat << lane_bits)[:addr_width]),
                         axi.wdata.eq(gather_data), axi.wstrb.eq(gather_strobe), gathering.eq(0)]
        if self.write_bytes == 1:
            lane = address[:lane_bits] if lane_bits else 0
            with m.If(write_taken & same_beat):
                m.d.sync += [gather_data.word_select(lane, 8).eq(write.payload.data),
                             gather_strobe.eq(gather_strobe | (1 << lane))]
            with m.Elif(write_taken):                      # the first byte of a beat
                m.d.sync += [gathering.eq(1), gather_beat.eq(address >> lane_bits),
                             gather_data.eq(write.payload.data.replicate(self.data_bytes)),
                             gather_strobe.eq(1 << lane)]
            return m
        # A word's masked bytes at the word's lanes (only they change: two writes may share a word).
        unit_bits = (self.write_bytes - 1).bit_length()
        slot = address[unit_bits:lane_bits] if lane_bits > unit_bits else 0
        lanes = Signal.like(gather_strobe)                  # the strobes this write sets
        m.d.comb += lanes.eq(write.payload.mask << (slot << unit_bits) if lane_bits > unit_bits else write.payload.mask)
        with m.If(write_taken):
            with m.If(~same_beat):                         # the first write of a beat
                m.d.sync += [gathering.eq(1), gather_beat.eq(address >> lane_bits), gather_strobe.eq(lanes)]
            with m.Else():
                m.d.sync += gather_strobe.eq(gather_strobe | lanes)
            for k in range(self.data_bytes):                 # only the write's own bytes change
                with m.If(lanes[k]):
                    m.d.sync += gather_data.word_select(k, 8).eq(write.payload.data.word_select(k % self.write_bytes, 8))
        return m
