"""`Device`: the accelerator behind the host link — what a board (or the simulation) holds.

    rx/tx bytes ─► LinkFrontEnd (host/protocol.py) ─┬► program memory, start, RECV FIFO, stop ─► Accelerator
                                                    └► mem_write (image loading) ─► external memory
    Accelerator ◄─ mem_req / mem_resp ─► external memory (reads)

The external memory's read channel is hw.image_reader's; its write channel takes one byte a transfer
{addr, data} (the link's rate; a board's memory controller packs them).
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from assembler import isa
from host.protocol import PROTOCOL_VERSION, BuildInfo

from .accelerator import Accelerator
from .link import LinkFrontEnd


class Device(wiring.Component):
    """Parameters: an Accelerator (its build), memory_bytes (external memory size for the image),
    timeout_cycles (the link's inter-byte frame timeout).

    Ports: rx / tx byte streams; mem_req / mem_resp / mem_write (external memory)."""

    def __init__(self, accelerator: Accelerator, *, memory_bytes: int, timeout_cycles: int | None = None):
        if not isinstance(memory_bytes, int) or not 1 <= memory_bytes <= 1 << 32:
            raise ValueError(f"memory_bytes must be in 1..2**32, got {memory_bytes!r}")
        self.accelerator = accelerator
        self.build = build_info(accelerator, memory_bytes)
        self.link = LinkFrontEnd(build=self.build, **({} if timeout_cycles is None else {"timeout_cycles": timeout_cycles}))
        super().__init__({
            "rx": In(self.link.rx.signature.flip()), "tx": Out(self.link.tx.signature),
            "mem_req": Out(accelerator.mem_req.signature), "mem_resp": In(accelerator.mem_resp.signature.flip()),
            "mem_write": Out(self.link.mem_write.signature),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.accelerator = acc = self.accelerator
        m.submodules.link = link = self.link
        wiring.connect(m, wiring.flipped(self.rx), link.rx)
        wiring.connect(m, link.tx, wiring.flipped(self.tx))
        wiring.connect(m, link.mem_write, wiring.flipped(self.mem_write))
        wiring.connect(m, acc.mem_req, wiring.flipped(self.mem_req))
        wiring.connect(m, wiring.flipped(self.mem_resp), acc.mem_resp)
        wiring.connect(m, link.start, acc.start)
        wiring.connect(m, link.host_in, acc.host_in)
        wiring.connect(m, acc.host_out, link.host_out)
        m.d.comb += [acc.program_write.addr.eq(link.program_write.addr), acc.program_write.data.eq(link.program_write.data),
                     acc.program_write.en.eq(link.program_write.en), acc.stop.eq(link.stop),
                     link.status.eq(acc.status), link.counters.eq(acc.counters),
                     acc.vmem_write.en.eq(0), acc.vmem_read.en.eq(0)]
        return m


def build_info(accelerator: Accelerator, memory_bytes: int) -> BuildInfo:
    engine = accelerator.matvec.engine
    return BuildInfo(protocol=PROTOCOL_VERSION, isa_opcodes=len(isa.OPS), lanes=engine.lanes,
                     trit_format=engine.trit_format.value, mem_bytes=accelerator.mem_bytes,
                     program_words=accelerator.program_words, vmem_words=accelerator.vmem_words,
                     max_length=accelerator.norm.max_length, max_cols=engine.max_cols,
                     max_rows=accelerator.matvec.max_rows, memory_bytes=memory_bytes)
