"""The vector unit on a V-wide VMEM (sim.vmem.add_vmem), with a word-wide host port to fill and inspect
the scratchpad while the unit is idle.

Between VMEM and the unit, a read port's data is poisoned (ACT_MAX in every lane) unless the unit drove
that port's `en` READ_LATENCY cycles before, so a unit that uses a row it did not enable fails; `read_en`
shows the three enables (x, y, z) so the bench can count the rows read.
"""

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden import formats as fmt
from hw.vector_unit import VectorUnit
from hw.vmem import READ_LATENCY, ReadSignature
from sim.vmem import add_vmem, host_ports

POISON = fmt.ACT_MAX


class VectorUnitHarness(wiring.Component):
    def __init__(self, vmem_words: int, vector_width: int, batch: int = 1):
        self.unit = VectorUnit(vmem_words=vmem_words, vector_width=vector_width, batch=batch)
        self.vmem_words, self.vector_width = vmem_words, vector_width
        super().__init__({
            "cmd": In(self.unit.cmd.signature.flip()),
            "done": Out(self.unit.done.signature),
            "read_en": Out(3),
            **host_ports(vmem_words),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        V = self.vector_width
        ports = [unit.read_x, unit.read_y, unit.read_z]
        proxies = [ReadSignature(rows=unit.rows, vector_width=V).create(path=(f"vmem_{name}",))
                   for name in ("x", "y", "z")]
        add_vmem(m, vmem_words=self.vmem_words, vector_width=V, unit_reads=proxies, unit_write=unit.write,
                 host_write=self.host_write, host_read=self.host_read)
        poison = Const(sum((POISON & 0xFFFFFFFF) << (32 * lane) for lane in range(V)), 32 * V)
        for k, (port, proxy) in enumerate(zip(ports, proxies)):
            enabled = [port.en]
            for cycle in range(READ_LATENCY):
                later = Signal(name=f"read_en{k}_d{cycle + 1}")
                m.d.sync += later.eq(enabled[-1])
                enabled.append(later)
            m.d.comb += [proxy.addr.eq(port.addr), proxy.en.eq(port.en), self.read_en[k].eq(port.en),
                         port.data.as_value().eq(Mux(enabled[-1], proxy.data.as_value(), poison))]
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, unit.done, wiring.flipped(self.done))
        return m
