"""The vector unit on a VMEM, with a host port to fill and inspect the scratchpad while the unit is idle."""

from amaranth import Module, Mux
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hw.vector_unit import ACT, VectorUnit


class VectorUnitHarness(wiring.Component):
    def __init__(self, vmem_words: int):
        self.unit = VectorUnit(vmem_words=vmem_words)
        self.vmem_words = vmem_words
        width = (vmem_words - 1).bit_length()
        super().__init__({
            "cmd": In(self.unit.cmd.signature.flip()),
            "done": Out(self.unit.done.signature),
            "host_write": Out(memory.WritePort.Signature(addr_width=width, shape=ACT)),
            "host_read": Out(memory.ReadPort.Signature(addr_width=width, shape=ACT)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        m.submodules.vmem = vmem = memory.Memory(shape=ACT, depth=self.vmem_words, init=[])
        for name in ("read_x", "read_y", "read_z"):
            wiring.connect(m, vmem.read_port(domain="sync"), getattr(unit, name))
        write = vmem.write_port()
        host_read = vmem.read_port(domain="sync")
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, unit.done, wiring.flipped(self.done))
        m.d.comb += [
            # The host writes only while the unit is idle (its write enable is then low).
            write.addr.eq(Mux(self.host_write.en, self.host_write.addr, unit.write.addr)),
            write.data.eq(Mux(self.host_write.en, self.host_write.data, unit.write.data)),
            write.en.eq(unit.write.en | self.host_write.en),
            host_read.addr.eq(self.host_read.addr), self.host_read.data.eq(host_read.data),
        ]
        return m
