"""`MemoryClockCrossing`: an external-memory controller on its own clock, behind asynchronous FIFOs.

    sync domain                              memory domain
    read_req  ─► AsyncFIFO ───────────────► controller.read_req
    write     ─► AsyncFIFO ───────────────► controller.write        ─► pins (the controller's, passed out)
    read_resp ◄─ AsyncFIFO ◄─────────────── controller.read_resp

A memory controller's clock is bounded by the board (hw/sdram.py: ~60 MHz for the ULX3S's SDRAM, whose
chip samples on the inverted clock), the accelerator's by its logic: each runs at its own rate.

The controller never waits on `read_resp` and neither does the accelerator (hw.image_reader: its credits
guarantee room for every beat asked for), so the response FIFO is drained a beat per sync cycle and can
only fill if beats arrive faster than that: the sync clock must be at least the memory clock (the board
top checks it), and then RESPONSE_DEPTH covers the synchronisers' delay with room to spare. `overflow` is
a sticky flag that a lost beat would raise (sync domain; the benches assert it stays low).
"""

from __future__ import annotations

from amaranth import DomainRenamer, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.fifo import AsyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .component import pass_through


class MemoryClockCrossing(wiring.Component):
    """Parameters
    memory: the controller (read_req, read_resp, write streams as hw.sdram.SDRAMController has them, and
    its pins), elaborated in clock domain `domain`.

    Ports: read_req, read_resp, write (the controller's, in the sync domain); ready and, where the
    controller has one, error (its flags, synchronised); overflow (see above); every other port of the
    controller passed through (its pins or bus interfaces such as hw.axi's `axi`, in the memory domain)."""

    REQUEST_DEPTH = 4
    RESPONSE_DEPTH = 16

    def __init__(self, memory: wiring.Component, *, domain: str = "memory"):
        if domain == "sync":
            raise ValueError("the memory domain must not be the sync domain")
        self.memory, self.domain = memory, domain
        members = dict(memory.signature.members)
        self._flags = [name for name in ("ready", "error") if name in members]
        self._pins = [name for name in members if name not in ("read_req", "read_resp", "write", *self._flags)]
        super().__init__({**{name: members[name] for name in members if name not in self._flags},
                          **{name: Out(1) for name in self._flags}, "overflow": Out(1)})

    def elaborate(self, platform):
        m = Module()
        memory = DomainRenamer(self.domain)(self.memory)
        m.submodules.memory = memory
        inner = self.memory
        requests = AsyncFIFOBuffered(width=len(self.read_req.payload.as_value()), depth=self.REQUEST_DEPTH,
                                     w_domain="sync", r_domain=self.domain)
        writes = AsyncFIFOBuffered(width=len(self.write.payload.as_value()), depth=self.REQUEST_DEPTH,
                                   w_domain="sync", r_domain=self.domain)
        responses = AsyncFIFOBuffered(width=len(self.read_resp.payload), depth=self.RESPONSE_DEPTH,
                                      w_domain=self.domain, r_domain="sync")
        m.submodules.requests, m.submodules.writes, m.submodules.responses = requests, writes, responses
        for outer, fifo, inner_port in [(self.read_req, requests, inner.read_req), (self.write, writes, inner.write)]:
            m.d.comb += [fifo.w_data.eq(outer.payload), fifo.w_en.eq(outer.valid), outer.ready.eq(fifo.w_rdy),
                         inner_port.payload.eq(fifo.r_data), inner_port.valid.eq(fifo.r_rdy),
                         fifo.r_en.eq(inner_port.ready)]
        m.d.comb += [responses.w_data.eq(inner.read_resp.payload), responses.w_en.eq(inner.read_resp.valid),
                     inner.read_resp.ready.eq(1),
                     self.read_resp.payload.eq(responses.r_data), self.read_resp.valid.eq(responses.r_rdy),
                     responses.r_en.eq(self.read_resp.ready)]

        lost = Signal()                                  # memory domain: a beat met a full FIFO
        with m.If(inner.read_resp.valid & ~responses.w_rdy):
            m.d[self.domain] += lost.eq(1)
        m.submodules.lost_sync = FFSynchronizer(lost, self.overflow)
        for name in self._flags:
            m.submodules[f"{name}_sync"] = FFSynchronizer(getattr(inner, name), getattr(self, name))
        pass_through(m, self, inner, self._pins)        # the pins, as the controller drives and reads them
        return m
