"""`SPRAMMemory`: the model image in on-chip single-port RAM (iCE40 UltraPlus SPRAM), for boards without DRAM.

Same accelerator-side ports as hw.sdram.SDRAMController: read_req {addr, beats} answered one beat a cycle
(one cycle of latency), write {addr, byte} with the other byte lane masked. Built from an Amaranth
memory of 16-bit words with byte-granular writes, which Yosys maps to SB_SPRAM256KA blocks
(`synth_ice40 -spram`; 16 K words each, four on an UP5K = 128 KB).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .image_reader import ADDRESS_BITS


class SPRAMMemory(wiring.Component):
    """Parameters: words (16-bit words, a power of two), beats_bits (width of a request's beat count).

    Ports: read_req, read_resp (16-bit beats; never held back for ready), write, ready (always high)."""

    def __init__(self, *, words: int = 65536, beats_bits: int = 8):
        if not isinstance(words, int) or words < 2 or words & (words - 1):
            raise ValueError(f"words must be a power of two >= 2, got {words!r}")
        self.words = words
        self.size_bytes = 2 * words
        super().__init__({
            "read_req": In(stream.Signature(data.StructLayout({"addr": ADDRESS_BITS - 1, "beats": beats_bits}))),
            "read_resp": Out(stream.Signature(16)),
            "write": In(stream.Signature(data.StructLayout({"addr": ADDRESS_BITS, "data": 8}))),
            "ready": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = memory.Memory(shape=16, depth=self.words, init=[])
        read = ram.read_port()
        write = ram.write_port(granularity=8)
        address_bits = (self.words - 1).bit_length()

        beat = Signal(address_bits)
        left = Signal.like(self.read_req.payload.beats)
        reading = left != 0
        ending = left == 1
        m.d.comb += [self.ready.eq(1),
                     self.read_req.ready.eq(~reading | ending),
                     self.write.ready.eq(~reading & ~self.read_req.valid)]
        with m.If(reading):
            m.d.sync += [beat.eq(beat + 1), left.eq(left - 1)]
        with m.If(self.read_req.valid & self.read_req.ready):
            m.d.sync += [beat.eq(self.read_req.payload.addr), left.eq(self.read_req.payload.beats)]
        issued = Signal()
        m.d.sync += issued.eq(reading)
        m.d.comb += [read.addr.eq(beat), read.en.eq(reading),
                     self.read_resp.valid.eq(issued), self.read_resp.payload.eq(read.data)]

        writing = self.write.valid & self.write.ready
        m.d.comb += [write.addr.eq(self.write.payload.addr[1:]),
                     write.data.eq(self.write.payload.data.replicate(2)),
                     write.en.eq(Mux(self.write.payload.addr[0], 0b10, 0b01) & writing.replicate(2))]
        return m
