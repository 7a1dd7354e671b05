"""The controller with a vector unit and a VMEM (plus a host port to fill and read VMEM)."""

from amaranth import Module, Mux
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hw.controller import Controller, StatusLayout
from hw.vector_unit import ACT, VectorUnit


class ControllerHarness(wiring.Component):
    def __init__(self, *, program_words: int, vmem_words: int):
        self.controller = Controller(program_words=program_words, vmem_words=vmem_words)
        self.unit = VectorUnit(vmem_words=vmem_words)
        self.vmem_words = vmem_words
        width = (vmem_words - 1).bit_length()
        c = self.controller
        super().__init__({
            "program_write": Out(c.program_write.signature), "start": In(c.start.signature.flip()),
            "host_in": In(c.host_in.signature.flip()), "host_out": Out(c.host_out.signature),
            "status": Out(StatusLayout(program_words)),
            "vmem_write": Out(memory.WritePort.Signature(addr_width=width, shape=ACT)),
            "vmem_read": Out(memory.ReadPort.Signature(addr_width=width, shape=ACT)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.controller = c = self.controller
        m.submodules.unit = unit = self.unit
        m.submodules.vmem = vmem = memory.Memory(shape=ACT, depth=self.vmem_words, init=[])
        wiring.connect(m, c.vector, unit.cmd)
        wiring.connect(m, unit.done, c.vector_done)
        for name in ("read_x", "read_y", "read_z"):
            wiring.connect(m, vmem.read_port(domain="sync"), getattr(unit, name))
        write, host_read = vmem.write_port(), vmem.read_port(domain="sync")
        m.d.comb += [
            c.program_write.addr.eq(self.program_write.addr), c.program_write.data.eq(self.program_write.data),
            c.program_write.en.eq(self.program_write.en),
            self.status.eq(c.status),
            # The host writes VMEM only while no program runs (the unit's write enable is then low).
            write.addr.eq(Mux(self.vmem_write.en, self.vmem_write.addr, unit.write.addr)),
            write.data.eq(Mux(self.vmem_write.en, self.vmem_write.data, unit.write.data)),
            write.en.eq(unit.write.en | self.vmem_write.en),
            host_read.addr.eq(self.vmem_read.addr), self.vmem_read.data.eq(host_read.data),
        ]
        wiring.connect(m, wiring.flipped(self.start), c.start)
        wiring.connect(m, wiring.flipped(self.host_in), c.host_in)
        wiring.connect(m, c.host_out, wiring.flipped(self.host_out))
        return m
