"""The norm unit on a V-wide VMEM, with a host port to fill and read VMEM while the unit is idle."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.norm_unit import NormUnit
from sim.vmem import add_vmem, host_ports


class NormUnitHarness(wiring.Component):
    def __init__(self, *, vmem_words: int, max_length: int, vector_width: int, batch: int = 1):
        self.unit = NormUnit(vmem_words=vmem_words, max_length=max_length, vector_width=vector_width, batch=batch)
        self.vmem_words, self.vector_width = vmem_words, vector_width
        u = self.unit
        super().__init__({
            "cmd": In(u.cmd.signature.flip()), "weights": In(u.weights.signature.flip()),
            "scale": In(u.scale.shape()), "done": Out(u.done.signature),
            "q_write": Out(u.q_write.signature), "quant": Out(u.quant.shape()), "starved": Out(1),
            **host_ports(vmem_words),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        add_vmem(m, vmem_words=self.vmem_words, vector_width=self.vector_width, unit_reads=[unit.read_x],
                 unit_write=unit.write, host_write=self.host_write, host_read=self.host_read)
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, wiring.flipped(self.weights), unit.weights)
        wiring.connect(m, unit.done, wiring.flipped(self.done))
        wiring.connect(m, unit.q_write, wiring.flipped(self.q_write))
        m.d.comb += [unit.scale.eq(self.scale), self.quant.eq(unit.quant), self.starved.eq(unit.starved)]
        return m
