"""MatVecUnit with an image reader (external memory modelled in cocotb) and a VMEM with a host read port."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.image_reader import ImageReader
from hw.matvec_unit import MatVecUnit
from sim.vmem import add_vmem, host_ports


class MatVecHarness(wiring.Component):
    def __init__(self, *, lanes, trit_format, max_cols, max_rows, vmem_words, mem_bytes, vector_width, batch=1,
                 parallel=False):
        self.unit = MatVecUnit(lanes=lanes, trit_format=trit_format, max_cols=max_cols, max_rows=max_rows,
                               vmem_words=vmem_words, vector_width=vector_width, batch=batch, parallel=parallel)
        self.reader = ImageReader(mem_bytes=mem_bytes, out_bytes=self.unit.engine.beat_bytes)
        self.vmem_words, self.vector_width = vmem_words, vector_width
        u, r = self.unit, self.reader
        super().__init__({
            "cmd": In(u.cmd.signature.flip()), "done": Out(u.done.signature), "error": Out(1),
            "prefetch": In(u.prefetch.signature.flip()), "prefetched": Out(u.prefetched.shape()),
            "mismatch": Out(1), "flush": In(1),
            "q_write": In(u.q_write.signature.flip()), "quant": In(u.quant.shape()), "scale": In(u.scale.shape()),
            "mem_req": Out(r.mem_req.signature), "mem_resp": In(r.mem_resp.signature.flip()),
            **host_ports(vmem_words),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        m.submodules.reader = reader = self.reader
        add_vmem(m, vmem_words=self.vmem_words, vector_width=self.vector_width, unit_reads=[], unit_write=unit.write,
                 host_write=self.host_write, host_read=self.host_read)
        wiring.connect(m, wiring.flipped(self.prefetch), unit.prefetch)
        m.d.comb += [self.prefetched.eq(unit.prefetched), self.mismatch.eq(unit.mismatch),
                     unit.flush.eq(self.flush), reader.flush.eq(self.flush)]
        wiring.connect(m, unit.read, reader.cmd)
        wiring.connect(m, reader.data, unit.weights)
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, unit.done, wiring.flipped(self.done))
        wiring.connect(m, wiring.flipped(self.q_write), unit.q_write)
        wiring.connect(m, reader.mem_req, wiring.flipped(self.mem_req))
        wiring.connect(m, wiring.flipped(self.mem_resp), reader.mem_resp)
        m.d.comb += [unit.quant.eq(self.quant), unit.scale.eq(self.scale), self.error.eq(unit.error)]
        return m
