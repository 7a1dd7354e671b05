"""The host link's image writer (hw.link): a WRITE_IMAGE frame's bytes from the payload buffer to
external memory, a byte a cycle, while the receiver takes the next frame into the buffer's other half.

A frame is handed over once its CRC and checks have passed (so nothing of a damaged frame is written);
the receiver then fills the other half, and waits for the writer before it runs the next command, so
commands still act in order (a START never sees half an image; STATUS reports the bytes written).
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal


class ImageWriter:
    """Built into `m` by `build`. Registers the receiver sets on a hand-over: busy, half (of the buffer),
    index (first payload byte), end (the frame's length), target (its first memory address)."""

    def __init__(self, half_bits: int, address_bits: int, length_bits: int):
        self.half_bits = half_bits
        self.busy, self.half = Signal(name="image_busy"), Signal(name="image_half")
        self.index, self.end = Signal(length_bits, name="image_index"), Signal(length_bits, name="image_end")
        self.target = Signal(address_bits, name="image_target")

    def hand_over(self, m: Module, *, half, first, end, target) -> None:
        m.d.sync += [self.busy.eq(1), self.half.eq(half), self.index.eq(first), self.end.eq(end), self.target.eq(target)]

    def build(self, m: Module, read_port, mem_write, on_write) -> None:
        """read_port: the writer's own read port of the payload buffer; mem_write: the external memory's
        write stream; on_write(byte, next_address): called in the cycle a byte is written (the held image)."""
        holding = Signal(name="image_holding")       # read_port.data is a byte not yet written
        fetch = self.busy & (self.index != self.end) & (~holding | mem_write.ready)
        m.d.comb += [read_port.addr.eq(Cat(self.index[:self.half_bits], self.half)), read_port.en.eq(fetch),
                     mem_write.valid.eq(holding), mem_write.payload.addr.eq(self.target),
                     mem_write.payload.data.eq(read_port.data)]
        with m.If(fetch):
            m.d.sync += [self.index.eq(self.index + 1), holding.eq(1)]
        with m.Elif(mem_write.ready):
            m.d.sync += holding.eq(0)
        with m.If(holding & mem_write.ready):
            m.d.sync += self.target.eq(self.target + 1)
            on_write(read_port.data, self.target + 1)
        with m.If(self.busy & (self.index == self.end) & ~holding):
            m.d.sync += self.busy.eq(0)
