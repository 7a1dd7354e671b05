"""VMEM, the vector scratchpad: `vector_width` (V) ACT words per row, and the port contract of its clients.

    write (row, V words, V lane enables) ─► block RAM rows
    read k addr ─► address register ─► block RAM rows (its own address register) ─► output register ─► read k data

Word address a lives in row a // V, lane a % V. Every vector operand starts on a row (the controller
refuses an operand that is not a multiple of V: assembler.isa.VECTOR_ALIGN makes every allocated
vector V-aligned for any V up to it), so a unit reads and writes V consecutive elements per cycle; the
last row of a vector whose length is not a multiple of V is written with the lanes past its end off.

Read ports are READ_LATENCY cycles deep: the client's address is registered before the block RAM (so
a unit's address arithmetic and the port muxes stay off the address compares Yosys adds to keep a read
of a row being written returning the old row), the block RAM registers it again, and its output is
registered once more (the DP16KD output register) so that no arithmetic follows a block-RAM read in
the same cycle. A client presents `addr` with `en` and finds the row on `data` READ_LATENCY cycles later
(whatever it does in between); it pipelines its own metadata by that constant, imported from here.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from assembler import isa
from golden import formats as fmt

ACT = signed(fmt.ACT_BITS)
READ_LATENCY = 3                # cycles from a read port's addr to its data


def check_vector_width(vector_width) -> None:
    """The build parameter V: a power of two up to isa.VECTOR_ALIGN (every vector then starts on a row)."""
    if (not isinstance(vector_width, int) or vector_width < 1 or vector_width & (vector_width - 1)
            or vector_width > isa.VECTOR_ALIGN):
        raise ValueError(f"vector_width must be a power of two in 1..{isa.VECTOR_ALIGN}, got {vector_width!r}")


def check_vmem_words(vmem_words, vector_width: int) -> None:
    """A VMEM depth: 16..isa.VMEM_WORDS words, whole rows of vector_width."""
    if not isinstance(vmem_words, int) or not 16 <= vmem_words <= isa.VMEM_WORDS or vmem_words % vector_width:
        raise ValueError(f"vmem_words must be in 16..{isa.VMEM_WORDS} and a multiple of vector_width "
                         f"{vector_width}, got {vmem_words!r}")


def row_layout(vector_width: int) -> data.ArrayLayout:
    """One VMEM row: `vector_width` signed 32-bit ACT words, lane 0 at the lowest word address."""
    return data.ArrayLayout(ACT, vector_width)


class ReadSignature(wiring.Signature):
    """A client's read port: {addr: row, en: the client reads this cycle} out, {data: row} in, the row
    at `addr` READ_LATENCY cycles after it was presented with `en`."""

    def __init__(self, *, rows: int, vector_width: int):
        self.rows, self.vector_width = rows, vector_width
        super().__init__({"addr": Out(range(rows)), "en": Out(1), "data": In(row_layout(vector_width))})


class WriteSignature(wiring.Signature):
    """A client's write port: {addr: row, data: row, en: one enable per lane}, all out; written at the
    clock edge (a read of the same row in the same cycle returns the old row)."""

    def __init__(self, *, rows: int, vector_width: int):
        self.rows, self.vector_width = rows, vector_width
        super().__init__({"addr": Out(range(rows)), "data": Out(row_layout(vector_width)),
                          "en": Out(vector_width)})


def lane_enables(m, *, count, vector_width: int, name: str) -> Signal:
    """Lane enables of a row holding `count` elements of its vector (lanes 0 .. count - 1; count >= V:
    all): the last row of a vector whose length is not a multiple of V has fewer."""
    enables = Signal(vector_width, name=name)
    for lane in range(vector_width):
        m.d.comb += enables[lane].eq(lane < count)
    return enables


def word_write(m, word, vector_width: int):
    """A word-addressed write (a memory.WritePort signature: addr, data, en) as a row write: (row, data
    with the word in every lane, the lane enables of that word alone)."""
    lane_bits = (vector_width - 1).bit_length()
    data_ = Signal(row_layout(vector_width), name="word_write_data")
    enables = Signal(vector_width, name="word_write_lanes")
    m.d.comb += [data_[lane].eq(word.data) for lane in range(vector_width)]
    m.d.comb += enables.eq(Mux(word.en, 1 << (word.addr[:lane_bits] if lane_bits else 0), 0))
    return word.addr >> lane_bits, data_, enables


def word_read(m, port, word, vector_width: int) -> None:
    """Serve a word-addressed read (a memory.ReadPort signature: addr in, data out READ_LATENCY cycles
    later) from a row read port `port` (driven here: addr; the caller decides en): the word's lane is
    delayed alongside the row."""
    from .pipeline import DelayLine

    lane_bits = (vector_width - 1).bit_length()
    m.d.comb += port.addr.eq(word.addr >> lane_bits)
    if lane_bits:
        lane = DelayLine(m, word.addr[:lane_bits], "word_read_lane").at(READ_LATENCY)
        m.d.comb += word.data.eq(port.data[lane])
    else:
        m.d.comb += word.data.eq(port.data[0])


class Vmem(wiring.Component):
    """Parameters
    words: depth in ACT words (a multiple of vector_width).  vector_width: V, words per row.
    read_ports: number of read ports.

    Ports
    read[k]: ReadSignature, served (flipped: the clients drive addr and en).  write: WriteSignature.
    """

    def __init__(self, *, words: int, vector_width: int, read_ports: int):
        check_vector_width(vector_width)
        if not isinstance(words, int) or words < vector_width or words % vector_width:
            raise ValueError(f"words must be a positive multiple of vector_width {vector_width}, got {words!r}")
        if not isinstance(read_ports, int) or read_ports < 1:
            raise ValueError(f"read_ports must be at least 1, got {read_ports!r}")
        self.words, self.vector_width, self.rows = words, vector_width, words // vector_width
        super().__init__({
            "read": In(ReadSignature(rows=self.rows, vector_width=vector_width)).array(read_ports),
            "write": In(WriteSignature(rows=self.rows, vector_width=vector_width)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rows = rows = memory.Memory(shape=row_layout(self.vector_width), depth=self.rows, init=[])
        write = rows.write_port(granularity=1)
        m.d.comb += [write.addr.eq(self.write.addr), write.data.eq(self.write.data), write.en.eq(self.write.en)]
        for k, client in enumerate(self.read):
            port = rows.read_port(domain="sync")
            address = Signal.like(client.addr, name=f"read{k}_addr")
            m.d.sync += address.eq(client.addr)             # the address register
            m.d.comb += port.addr.eq(address)
            m.d.sync += client.data.eq(port.data)          # the output register
        return m
