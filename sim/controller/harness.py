"""The controller with a vector unit and a VMEM (plus a host port to fill and read VMEM).

There is no image here: the start-time image check (hw.image_check, tested in sim/image_check and
sim/accelerator) answers NONE at once."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.controller import Controller, StatusLayout
from hw.vector_unit import VectorUnit
from sim.vmem import add_vmem, host_ports


class ControllerHarness(wiring.Component):
    def __init__(self, *, program_words: int, vmem_words: int, vector_width: int = 1):
        self.controller = Controller(program_words=program_words, vmem_words=vmem_words, vector_width=vector_width)
        self.unit = VectorUnit(vmem_words=vmem_words, vector_width=vector_width)
        self.vmem_words, self.vector_width = vmem_words, vector_width
        c = self.controller
        super().__init__({
            "program_write": Out(c.program_write.signature), "start": In(c.start.signature.flip()),
            "host_in": In(c.host_in.signature.flip()), "host_out": Out(c.host_out.signature),
            "status": Out(StatusLayout(program_words)),
            **host_ports(vmem_words, prefix="vmem_"),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.controller = c = self.controller
        m.submodules.unit = unit = self.unit
        add_vmem(m, vmem_words=self.vmem_words, vector_width=self.vector_width,
                 unit_reads=[unit.read_x, unit.read_y, unit.read_z], unit_write=unit.write,
                 host_write=self.vmem_write, host_read=self.vmem_read)
        wiring.connect(m, c.vector, unit.cmd)
        wiring.connect(m, unit.done, c.vector_done)
        m.d.comb += c.prefetch.ready.eq(1)          # no MATVEC unit: PREFETCH stops on the (empty) image
        m.d.comb += [
            c.program_write.addr.eq(self.program_write.addr), c.program_write.data.eq(self.program_write.data),
            c.program_write.en.eq(self.program_write.en),
            self.status.eq(c.status),
        ]
        m.d.comb += [c.check.ready.eq(1), c.check_done.valid.eq(1)]
        wiring.connect(m, wiring.flipped(self.start), c.start)
        wiring.connect(m, wiring.flipped(self.host_in), c.host_in)
        wiring.connect(m, c.host_out, wiring.flipped(self.host_out))
        return m
