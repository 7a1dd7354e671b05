"""Test-only: the smallest design the four-state checks (sim/xcheck.py) must pass, and its careless twin they
must catch. `seen` (an output the design promises to drive) shows the last payload offered on `request`;
the careless twin loads it every cycle, valid or not, so the don't-care payload of an idle stream reaches it."""

from amaranth import Module, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class PayloadForwarder(wiring.Component):
    request: In(stream.Signature(unsigned(8)))
    seen: Out(unsigned(8))

    def __init__(self, *, careless: bool):
        if not isinstance(careless, bool):
            raise TypeError(f"careless must be a bool, not {careless!r}")
        self.careless = careless
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.request.ready.eq(1)
        if self.careless:
            m.d.sync += self.seen.eq(self.request.payload)
        else:
            with m.If(self.request.valid):
                m.d.sync += self.seen.eq(self.request.payload)
        return m
