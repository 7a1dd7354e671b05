"""`SPRAMMemory`: the model image in on-chip single-port RAM (iCE40 UltraPlus SPRAM), for boards without DRAM.

Same accelerator-side ports as hw.sdram.SDRAMController: read_req {addr, beats} answered one beat a cycle
(one cycle of latency), write {addr, byte} with the other byte lane masked. Reads and writes never share
a cycle, so the storage needs one port: with `primitive`, SB_SPRAM256KA blocks (16 K x 16 bits each, four on
an UP5K = 128 KB), instantiated because Yosys does not infer them from an Amaranth memory (Amaranth gives
every memory an initial value, which SPRAM cannot have); without, an Amaranth memory of the same behaviour
(simulation, other FPGAs). sim/spram runs both, the primitive on Yosys's own model of SB_SPRAM256KA.
"""

from __future__ import annotations

from amaranth import Array, ClockSignal, Instance, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .image_reader import ADDRESS_BITS

SPRAM_WORDS = 16384                                  # one SB_SPRAM256KA: 16 K words of 16 bits


class SPRAMMemory(wiring.Component):
    """Parameters: words (16-bit words, a power of two; with `primitive`, 1 to 4 blocks of SPRAM_WORDS),
    beats_bits (width of a request's beat count), primitive (SB_SPRAM256KA blocks, else an Amaranth memory).

    Ports: read_req, read_resp (16-bit beats; never held back for ready), write, ready (always high)."""

    def __init__(self, *, words: int = 65536, beats_bits: int = 8, primitive: bool = False):
        if not isinstance(words, int) or words < 2 or words & (words - 1):
            raise ValueError(f"words must be a power of two >= 2, got {words!r}")
        if primitive and not SPRAM_WORDS <= words <= 4 * SPRAM_WORDS:
            raise ValueError(f"SB_SPRAM256KA blocks hold {SPRAM_WORDS} words each, an UP5K has 4: words must be "
                             f"{SPRAM_WORDS}..{4 * SPRAM_WORDS}, got {words}")
        self.words, self.primitive = words, primitive
        self.size_bytes = 2 * words
        super().__init__({
            "read_req": In(stream.Signature(data.StructLayout({"addr": ADDRESS_BITS - 1, "beats": beats_bits}))),
            "read_resp": Out(stream.Signature(16)),
            "write": In(stream.Signature(data.StructLayout({"addr": ADDRESS_BITS, "data": 8}))),
            "ready": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
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

        writing = self.write.valid & self.write.ready
        address = Signal(address_bits)
        m.d.comb += address.eq(Mux(reading, beat, self.write.payload.addr[1:]))
        high_byte = self.write.payload.addr[0]
        write_data = self.write.payload.data.replicate(2)
        read_data = Signal(16)
        if self.primitive:
            bank = address[(SPRAM_WORDS - 1).bit_length():]                  # which block (empty: one block)
            read_bank = Signal.like(bank)
            m.d.sync += read_bank.eq(bank)
            outputs = Array(Signal(16, name=f"spram{index}_data") for index in range(self.words // SPRAM_WORDS))
            for index, out in enumerate(outputs):
                m.submodules[f"spram{index}"] = Instance(
                    "SB_SPRAM256KA",
                    i_CLOCK=ClockSignal("sync"), i_ADDRESS=address[:14], i_DATAIN=write_data,
                    i_MASKWREN=Mux(high_byte, 0b1100, 0b0011),        # nibble enables: one byte lane
                    i_WREN=writing, i_CHIPSELECT=(reading | writing) & (bank == index),
                    i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=out)
            m.d.comb += read_data.eq(outputs[read_bank])
        else:
            m.submodules.ram = ram = memory.Memory(shape=16, depth=self.words, init=[])
            read, write = ram.read_port(), ram.write_port(granularity=8)
            m.d.comb += [read.addr.eq(address), read.en.eq(reading), read_data.eq(read.data),
                         write.addr.eq(address), write.data.eq(write_data),
                         write.en.eq(Mux(high_byte, 0b10, 0b01) & writing.replicate(2))]
        m.d.comb += [self.read_resp.valid.eq(issued), self.read_resp.payload.eq(read_data)]
        return m
