"""The vector unit on a VMEM, with a host port to fill and inspect the scratchpad while the unit is idle."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.vector_unit import VectorUnit
from sim.vmem import add_vmem, host_ports


class VectorUnitHarness(wiring.Component):
    def __init__(self, vmem_words: int):
        self.unit = VectorUnit(vmem_words=vmem_words)
        self.vmem_words = vmem_words
        super().__init__({
            "cmd": In(self.unit.cmd.signature.flip()),
            "done": Out(self.unit.done.signature),
            **host_ports(vmem_words),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        vmem = add_vmem(m, self.vmem_words, unit.write, self.host_write, self.host_read)
        for name in ("read_x", "read_y", "read_z"):
            wiring.connect(m, vmem.read_port(domain="sync"), getattr(unit, name))
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, unit.done, wiring.flipped(self.done))
        return m
