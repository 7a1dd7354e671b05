"""`LinkSelect`: one device reached over several host links (Ethernet, and the UART as a fallback), one at a time.

    link 0 rx ─┐                        ┌─► link 0 tx
    link 1 rx ─┼─► (the active link's) ─► rx   tx ─► (to the active link) ─┼─► link 1 tx
               ┘        active ◄── switch: another link has a byte, the active one has none, the device is quiet

The device's link front end (hw/link.py) speaks one byte stream; a board with two host interfaces gives it the one
the host last used. The choice changes only between exchanges: while the device is `quiet` (hw.device: no frame
under way, nothing to send, no program running), when the active link has no byte waiting and another has. A frame
is therefore never split across links, and a reply goes back the way its request came. Bytes on an inactive link
wait (the Ethernet bridge buffers whole datagrams; the UART's receiver holds one byte) until it becomes active.
Link 0 is active after reset.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class LinkSelect(wiring.Component):
    """Parameters: links, how many host links (2 or more).

    Ports
    link_rx[i]: bytes from host link i (8-bit stream).  link_tx[i]: bytes to it.
    rx: bytes to the device.  tx: bytes from the device.  quiet: the device's (hw.device.Device.quiet).
    active: the index of the link in use (unsigned, range(links))."""

    def __init__(self, links: int = 2):
        if not isinstance(links, int) or links < 2:
            raise ValueError(f"links must be an integer of at least 2, got {links!r}")
        self.links = links
        byte = stream.Signature(8)
        super().__init__({"link_rx": In(byte).array(links), "link_tx": Out(byte).array(links),
                          "rx": Out(byte), "tx": In(byte), "quiet": In(1), "active": Out(range(links))})

    def elaborate(self, platform):
        m = Module()
        active = self.active
        for index in range(self.links):
            with m.If(active == index):
                wiring.connect(m, wiring.flipped(self.link_rx[index]), wiring.flipped(self.rx))
                wiring.connect(m, wiring.flipped(self.tx), wiring.flipped(self.link_tx[index]))

        # Another link's byte, with the active one silent and the device quiet: that link is the host's now. The
        # lowest such index wins; its byte is taken on a later cycle, once it is the active link.
        active_waiting = Signal()
        m.d.comb += active_waiting.eq(self.link_rx[0].valid)
        for index in range(1, self.links):
            with m.If(active == index):
                m.d.comb += active_waiting.eq(self.link_rx[index].valid)
        with m.If(self.quiet & ~active_waiting):
            for index in reversed(range(self.links)):
                with m.If(self.link_rx[index].valid):
                    m.d.sync += active.eq(index)
        return m
