"""ImageCheck with a 4-byte image reader; external memory is modelled in cocotb."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.packing import TritFormat
from hw.image_check import ImageCheck
from hw.image_reader import ImageReader


class ImageCheckHarness(wiring.Component):
    def __init__(self, *, trit_format: TritFormat, mem_bytes: int):
        self.unit = ImageCheck(trit_format=trit_format)
        self.reader = ImageReader(mem_bytes=mem_bytes, out_bytes=4)
        u, r = self.unit, self.reader
        super().__init__({
            "cmd": In(u.cmd.signature.flip()), "done": Out(u.done.signature),
            "mem_req": Out(r.mem_req.signature), "mem_resp": In(r.mem_resp.signature.flip()),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        m.submodules.reader = reader = self.reader
        wiring.connect(m, unit.read, reader.cmd)
        wiring.connect(m, reader.data, unit.words)
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        wiring.connect(m, unit.done, wiring.flipped(self.done))
        wiring.connect(m, reader.mem_req, wiring.flipped(self.mem_req))
        wiring.connect(m, wiring.flipped(self.mem_resp), reader.mem_resp)
        return m
