"""DataMover with a 4·V-byte image reader (external memory modelled in cocotb), its memory write channel
(VSTORE) out to the bench, and a VMEM with host ports."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.data_mover import DataMover
from hw.image_reader import ImageReader
from sim.vmem import add_vmem, host_ports


class DataMoverHarness(wiring.Component):
    def __init__(self, *, vmem_words: int, mem_bytes: int, vector_width: int, write_bytes: int = 1):
        self.unit = DataMover(vmem_words=vmem_words, vector_width=vector_width, write_bytes=write_bytes)
        self.reader = ImageReader(mem_bytes=mem_bytes, out_bytes=4 * vector_width)
        self.vmem_words, self.vector_width = vmem_words, vector_width
        u, r = self.unit, self.reader
        super().__init__({
            "cmd": In(u.cmd.signature.flip()), "done": Out(u.done.signature), "host_out": Out(u.host_out.signature),
            "mem_write": Out(u.mem_write.signature),
            "mem_req": Out(r.mem_req.signature), "mem_resp": In(r.mem_resp.signature.flip()),
            **host_ports(vmem_words),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        m.submodules.reader = reader = self.reader
        add_vmem(m, vmem_words=self.vmem_words, vector_width=self.vector_width, unit_reads=[unit.read_x],
                 unit_write=unit.write, host_write=self.host_write, host_read=self.host_read)
        wiring.connect(m, unit.read, reader.cmd)
        wiring.connect(m, reader.data, unit.words)
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, unit.done, wiring.flipped(self.done))
        wiring.connect(m, unit.host_out, wiring.flipped(self.host_out))
        wiring.connect(m, unit.mem_write, wiring.flipped(self.mem_write))
        wiring.connect(m, reader.mem_req, wiring.flipped(self.mem_req))
        wiring.connect(m, wiring.flipped(self.mem_resp), reader.mem_resp)
        return m
