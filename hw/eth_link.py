"""The host link over Gigabit Ethernet: UDP datagrams to and from LiteEth's core, bridged to the link's
byte streams (host/protocol.py, "Datagrams"; the front end hw.link.LinkFrontEnd is the serial link's).

    LiteEth core (MAC, ARP, IPv4, UDP; hw/liteeth) ─ udp_rx ─► receive buffer ─► rx bytes ─► LinkFrontEnd
                                                   ◄ udp_tx ─ frame buffer ◄─── tx bytes ◄─┘

Receive: every datagram to host.protocol.UDP_PORT is written into a DATAGRAM_BUFFER_BYTES ring and handed
to the frame receiver only once it ended well: the core flags a bad Ethernet FCS (or a datagram cut short)
on its last beat, and a datagram that finds the ring full is dropped whole, so no part of a damaged or
lost datagram reaches the receiver (its frame's CRC catches the rest). The ring never refuses a beat: the
core's MAC has no room to wait, so backpressure here would lose bytes mid-frame instead.
Send: each frame the front end sends (a reply or a WORD) is collected whole, then sent as one datagram to
the address and port the last good datagram came from: the core's PHY needs a frame's bytes back to back,
and the front end sends a body byte every other cycle; the datagram's length is known from the frame's
header (8 bytes around its payload).
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from host import protocol as p

from .link import REPLY_BYTES

FRAME_OVERHEAD = p.HEAD.size + p.CRC.size           # bytes of a frame around its payload
TX_BUFFER_BYTES = 1 << (FRAME_OVERHEAD + REPLY_BYTES - 1).bit_length()     # the longest frame the device sends


class DatagramLayout(data.StructLayout):
    """One byte of a datagram, with the datagram's parameters (held for its whole length):
    remote_ip / remote_port: where it came from (received) or goes to (sent); length: payload bytes;
    error: the core found it damaged (received, last beat only)."""

    def __init__(self, *, buffer_bytes: int = p.DATAGRAM_BUFFER_BYTES):
        if not isinstance(buffer_bytes, int) or buffer_bytes < 2 or buffer_bytes & (buffer_bytes - 1):
            raise ValueError(f"buffer_bytes must be a power of two (the ring's pointers wrap), got {buffer_bytes!r}")
        self.buffer_bytes = buffer_bytes
        super().__init__({"data": 8, "last": 1, "remote_ip": 32, "remote_port": 16, "length": 16, "error": 1})


class DatagramBridge(wiring.Component):
    """Parameters: buffer_bytes, the receive ring (host.protocol.DATAGRAM_BUFFER_BYTES: the host's window
    is sized from it; smaller only in tests).

    Ports
    udp_rx: stream of DatagramLayout from the core (never stalled).  udp_tx: stream of DatagramLayout to it.
    rx: bytes to the link's frame receiver.  tx: bytes of the link's frames (one frame per datagram)."""

    def __init__(self, *, buffer_bytes: int = p.DATAGRAM_BUFFER_BYTES):
        if not isinstance(buffer_bytes, int) or buffer_bytes < 2 or buffer_bytes & (buffer_bytes - 1):
            raise ValueError(f"buffer_bytes must be a power of two (the ring's pointers wrap), got {buffer_bytes!r}")
        self.buffer_bytes = buffer_bytes
        super().__init__({"udp_rx": In(stream.Signature(DatagramLayout())), "udp_tx": Out(stream.Signature(DatagramLayout())),
                          "rx": Out(stream.Signature(8)), "tx": In(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        remote_ip, remote_port, remote_known = Signal(32), Signal(16), Signal()
        self._receive(m, remote_ip, remote_port, remote_known)
        self._send(m, remote_ip, remote_port, remote_known)
        return m

    def _receive(self, m, remote_ip, remote_port, remote_known):
        depth = self.buffer_bytes
        m.submodules.rx_ring = ring = memory.Memory(shape=8, depth=depth, init=[])
        write, read = ring.write_port(), ring.read_port(domain="sync")
        # Pointers one bit wider than the ring's address: equal is empty, `depth` apart is full.
        written = Signal(range(2 * depth))          # the next byte of the datagram coming in
        committed = Signal(range(2 * depth))        # the end of the last datagram that ended well
        fetched = Signal(range(2 * depth))          # the next byte to read out (those before it are free)
        dropping = Signal()                         # this datagram found the ring full: forget all of it
        beat = self.udp_rx.payload
        full = (written - fetched)[:written.shape().width] == depth
        m.d.comb += [self.udp_rx.ready.eq(1), write.addr.eq(written[:-1]), write.data.eq(beat.data)]
        with m.If(self.udp_rx.valid):
            keep = ~dropping & ~full
            with m.If(keep):
                m.d.comb += write.en.eq(1)
            with m.If(beat.last):
                m.d.sync += dropping.eq(0)
                with m.If(keep & ~beat.error):
                    m.d.sync += [committed.eq(written + 1), written.eq(written + 1), remote_ip.eq(beat.remote_ip),
                                 remote_port.eq(beat.remote_port), remote_known.eq(1)]
                with m.Else():
                    m.d.sync += written.eq(committed)       # the datagram's bytes are forgotten
            with m.Elif(keep):
                m.d.sync += written.eq(written + 1)
            with m.Else():
                m.d.sync += dropping.eq(1)
        _stream_out(m, read, fetched, committed, self.rx)

    def _send(self, m, remote_ip, remote_port, remote_known):
        m.submodules.tx_frame = buffer = memory.Memory(shape=8, depth=TX_BUFFER_BYTES, init=[])
        write, read = buffer.write_port(), buffer.read_port(domain="sync")
        received = Signal(range(TX_BUFFER_BYTES + 1))     # bytes of the frame collected so far
        frame_bytes = Signal(range(FRAME_OVERHEAD + REPLY_BYTES + 1))
        length_low = Signal(8)
        fetched = Signal(range(TX_BUFFER_BYTES + 1))
        out = stream.Signature(8).create()
        last = Signal()
        with m.FSM():
            with m.State("COLLECT"):
                m.d.comb += [self.tx.ready.eq(1), write.addr.eq(received), write.data.eq(self.tx.payload),
                             write.en.eq(self.tx.valid)]
                with m.If(self.tx.valid):
                    m.d.sync += received.eq(received + 1)
                    with m.If(received == 2):
                        m.d.sync += length_low.eq(self.tx.payload)
                    with m.If(received == 3):             # the header's length: the frame's size
                        m.d.sync += frame_bytes.eq((self.tx.payload << 8 | length_low) + FRAME_OVERHEAD)
                    with m.If((received > 3) & (received + 1 == frame_bytes)):
                        m.d.sync += fetched.eq(0)
                        m.next = "SEND"
            with m.State("SEND"):
                # Every reply answers a datagram, so the host is known; a frame with nowhere to go is dropped.
                done = ~remote_known | (fetched == received) & ~out.valid
                _stream_out(m, read, fetched, received, out, enable=remote_known)
                with m.If(done):
                    m.d.sync += received.eq(0)
                    m.next = "COLLECT"
        with m.If(read.en):
            m.d.sync += last.eq(fetched + 1 == received)
        tx = self.udp_tx.payload
        m.d.comb += [self.udp_tx.valid.eq(out.valid), out.ready.eq(self.udp_tx.ready), tx.data.eq(out.payload),
                     tx.last.eq(last), tx.remote_ip.eq(remote_ip), tx.remote_port.eq(remote_port),
                     tx.length.eq(frame_bytes)]


def _stream_out(m, read_port, fetched, end, out, enable=1):
    """Bytes fetched..end of a memory (synchronous read) onto the stream `out`, a byte a cycle: the read
    port's data is the output register (held while `out` waits), `fetched` the next address."""
    holding = Signal()                      # the read port's data is a byte `out` has not yet taken
    m.d.comb += [out.valid.eq(holding), out.payload.eq(read_port.data)]
    fetch = (fetched != end) & (~holding | out.ready) & enable
    m.d.comb += [read_port.addr.eq(fetched[:len(read_port.addr)]), read_port.en.eq(fetch)]
    with m.If(fetch):
        m.d.sync += [fetched.eq(fetched + 1), holding.eq(1)]
    with m.Elif(out.ready):
        m.d.sync += holding.eq(0)
