"""`AcceleratorOnAXI`: the accelerator with its memory channels behind hw.axi's AXI4 manager port, for the
end-to-end bench through cocotbext-axi's AxiRam (MEMORY_PORT=axi).

    accelerator.mem_req ─► AXI4MemoryPort.read_req ─► axi.ar*      ◄─► AxiRam (cocotb)
    accelerator.mem_resp ◄─ AXI4MemoryPort.read_resp ◄─ axi.r*
    accelerator.mem_write ─► AXI4MemoryPort.write ─► axi.aw*, w*, b* (VSTORE's work-area bytes or words)

Every other port of the accelerator is passed through under its own name (the bench preloads the image);
the AXI port's sticky `error` comes out as `axi_error`.
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hw.accelerator import Accelerator
from hw.axi import AXI4MemoryPort
from hw.component import pass_through

MEMORY_CHANNELS = ("mem_req", "mem_resp", "mem_write")


class AcceleratorOnAXI(wiring.Component):
    """accelerator: the hw.accelerator.Accelerator to wrap; addr_width, id_width: of the AXI port. Ports: the accelerator's (less mem_req and mem_resp),
    `axi` (hw.axi.AXI4Signature, manager) and `axi_error` (hw.axi.AXI4MemoryPort's error flag)."""

    def __init__(self, accelerator: Accelerator, *, addr_width: int = 32, id_width: int = 1):
        if not isinstance(accelerator, Accelerator):
            raise TypeError(f"accelerator must be an hw.accelerator.Accelerator, got {accelerator!r}")
        self.accelerator = accelerator
        beats = accelerator.mem_req.payload.beats.shape()
        self.port = AXI4MemoryPort(data_bytes=accelerator.mem_bytes, beats_bits=beats.width, addr_width=addr_width,
                                   id_width=id_width, write_bytes=accelerator.mover.write_bytes)
        members = {name: member for name, member in accelerator.signature.members.items()
                   if name not in MEMORY_CHANNELS}
        super().__init__({**members, "axi": Out(self.port.axi.signature), "axi_error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        acc, port = self.accelerator, self.port
        m.submodules.accelerator, m.submodules.axi_port = acc, port
        pass_through(m, self, acc, [name for name in self.signature.members if name not in ("axi", "axi_error")])
        # The request's fields one by one: the beat count's width differs (the reader's burst, the port's field).
        m.d.comb += [port.read_req.valid.eq(acc.mem_req.valid), acc.mem_req.ready.eq(port.read_req.ready),
                     port.read_req.payload.addr.eq(acc.mem_req.payload.addr),
                     port.read_req.payload.beats.eq(acc.mem_req.payload.beats)]
        wiring.connect(m, port.read_resp, acc.mem_resp)
        wiring.connect(m, acc.mem_write, port.write)
        wiring.connect(m, wiring.flipped(self.axi), port.axi)
        m.d.comb += self.axi_error.eq(port.error)
        return m

