"""hw.eth_link.DatagramBridge in Amaranth's simulator, against a plain-Python reference of its rules:
received datagrams reach the link whole, in order, and only if they ended well and fitted the ring;
the link's frames leave as one datagram each, to where the last good datagram came from."""

import random

from amaranth.sim import Simulator

from host import protocol as p
from hw.eth_link import DatagramBridge


def _datagrams(rng: random.Random, count: int, gaps=(0, 0, 3, 40)) -> list[tuple[bytes, bool, int]]:
    """(payload, damaged, idle cycles before it): long ones to fill the ring, short ones, a few damaged
    (random bytes, at least 9: no datagram is mistaken for another's start)."""
    result = []
    for _ in range(count):
        size = rng.choice([9, 300, p.MAX_PAYLOAD + 8, rng.randrange(9, 1100)])      # one up to the ring's half
        result.append((bytes(rng.randrange(256) for _ in range(size)), rng.random() < 0.15, rng.choice(gaps)))
    return result


def _bridge_receives(datagrams, ready_rate: float, rng: random.Random, buffer_bytes: int = 2048) -> bytes:
    """What the link receives from the bridge when the core delivers `datagrams` a byte a cycle (never
    waiting for ready, as LiteEth's MAC) and the link takes a byte with probability `ready_rate`. A ring of
    2 KB (not the build's 8 KB: the same logic, filled sooner) keeps the test short."""
    bridge = DatagramBridge(buffer_bytes=buffer_bytes)
    received = bytearray()

    async def core(ctx):
        for index, (payload, damaged, gap) in enumerate(datagrams):
            for _ in range(gap):
                await ctx.tick()
            ctx.set(bridge.udp_rx.payload.remote_ip, 0x0A000000 + index)
            ctx.set(bridge.udp_rx.payload.remote_port, 4000 + index)
            for at, byte in enumerate(payload):
                last = at == len(payload) - 1
                ctx.set(bridge.udp_rx.valid, 1)
                ctx.set(bridge.udp_rx.payload.data, byte)
                ctx.set(bridge.udp_rx.payload.last, last)
                ctx.set(bridge.udp_rx.payload.error, damaged and last)
                await ctx.tick()
            ctx.set(bridge.udp_rx.valid, 0)
        while True:                                  # until the ring has drained
            before = len(received)
            for _ in range(100):
                await ctx.tick()
            if len(received) == before:
                break

    async def link(ctx):
        while True:
            ready = rng.random() < ready_rate
            ctx.set(bridge.rx.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(bridge.rx.valid):
                received.append(ctx.get(bridge.rx.payload))
            await ctx.tick()

    simulator = Simulator(bridge)
    simulator.add_clock(1e-8)
    simulator.add_testbench(core)
    simulator.add_testbench(link, background=True)
    simulator.run()
    return bytes(received)


def test_every_good_datagram_reaches_a_link_that_keeps_up_and_no_damaged_one():
    rng = random.Random(17)
    datagrams = _datagrams(rng, 12)
    assert _bridge_receives(datagrams, 1.0, rng) == b"".join(payload for payload, damaged, _ in datagrams if not damaged)


def test_a_slow_link_gets_whole_good_datagrams_in_order_and_the_rest_are_dropped_whole():
    rng = random.Random(18)
    datagrams = _datagrams(rng, 16, gaps=(0,))                             # back to back: the ring fills
    received, taken = _bridge_receives(datagrams, 0.3, rng), 0
    at = 0
    for payload, damaged, _ in datagrams:
        if received.startswith(payload, at):
            assert not damaged, "a damaged datagram reached the link"
            at, taken = at + len(payload), taken + 1
    assert at == len(received), f"bytes at {at} are no whole datagram"
    assert 0 < taken < sum(not damaged for _, damaged, _ in datagrams)     # some fitted, some found the ring full


def test_each_frame_leaves_as_one_datagram_to_the_last_sender():
    rng = random.Random(5)
    frames = [p.encode(p.Reply.ACK, bytes([3])), p.encode(p.Reply.WORD, bytes(4)),
              p.encode(p.Reply.STATUS_REPLY, bytes(rng.randrange(256) for _ in range(120)))]
    bridge = DatagramBridge()
    sent: list[tuple[bytes, int, int, int]] = []

    async def host(ctx):
        """One good datagram from 10.0.0.7:5000 (the bridge answers there), then the frames from the link."""
        ctx.set(bridge.udp_rx.payload.remote_ip, 0x0A000007)
        ctx.set(bridge.udp_rx.payload.remote_port, 5000)
        ctx.set(bridge.udp_rx.valid, 1)
        ctx.set(bridge.udp_rx.payload.last, 1)
        await ctx.tick()
        ctx.set(bridge.udp_rx.valid, 0)
        for frame in frames:
            for byte in frame:
                ctx.set(bridge.tx.valid, 1)
                ctx.set(bridge.tx.payload, byte)
                await ctx.tick().until(bridge.tx.ready)
                if rng.random() < 0.5:               # the link's sender pauses between body bytes
                    ctx.set(bridge.tx.valid, 0)
                    await ctx.tick()
            ctx.set(bridge.tx.valid, 0)
        for _ in range(2000):
            await ctx.tick()

    async def core(ctx):
        """The core's send side: stalls at a datagram's start (ARP), then takes it a byte a cycle."""
        datagram = bytearray()
        while True:
            ready = bool(datagram) or rng.random() < 0.2       # once started, the core takes a byte a cycle
            ctx.set(bridge.udp_tx.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(bridge.udp_tx.valid):
                beat = ctx.get(bridge.udp_tx.payload)
                datagram.append(beat.data)
                if beat.last:
                    sent.append((bytes(datagram), beat.length, beat.remote_ip, beat.remote_port))
                    datagram = bytearray()
            else:
                assert not datagram, "a gap inside a datagram (the PHY needs its bytes back to back)"
            await ctx.tick()

    simulator = Simulator(bridge)
    simulator.add_clock(1e-8)
    simulator.add_testbench(host)
    simulator.add_testbench(core, background=True)
    simulator.run()
    assert sent == [(frame, len(frame), 0x0A000007, 5000) for frame in frames]
