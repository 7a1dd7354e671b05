"""The norm unit on a VMEM, with a host port to fill and read VMEM while the unit is idle."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.norm_unit import NormUnit
from sim.vmem import add_vmem, host_ports


class NormUnitHarness(wiring.Component):
    def __init__(self, *, vmem_words: int, max_length: int):
        self.unit = NormUnit(vmem_words=vmem_words, max_length=max_length)
        self.vmem_words = vmem_words
        u = self.unit
        super().__init__({
            "cmd": In(u.cmd.signature.flip()), "weights": In(u.weights.signature.flip()),
            "scale": In(u.scale.shape()), "done": Out(u.done.signature),
            "q_write": Out(u.q_write.signature), "quant": Out(u.quant.shape()),
            **host_ports(vmem_words),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        vmem = add_vmem(m, self.vmem_words, unit.write, self.host_write, self.host_read)
        wiring.connect(m, vmem.read_port(domain="sync"), unit.read_x)
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, wiring.flipped(self.weights), unit.weights)
        wiring.connect(m, unit.done, wiring.flipped(self.done))
        wiring.connect(m, unit.q_write, wiring.flipped(self.q_write))
        m.d.comb += [unit.scale.eq(self.scale), self.quant.eq(unit.quant)]
        return m
