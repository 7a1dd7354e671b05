"""hw.link_select.LinkSelect in Amaranth's simulator, cycle by cycle against a plain-Python statement of its rule:
the active link's bytes reach the device and the device's bytes reach the active link only; the choice moves to
another link (the lowest with a byte) only while the device is quiet and the active link has no byte waiting."""

import random

import pytest
from amaranth.sim import Simulator

from hw.link_select import LinkSelect


def _reference_next(active: int, offering: list[bool], quiet: bool) -> int:
    if quiet and not offering[active]:
        for index, has_byte in enumerate(offering):
            if has_byte:
                return index
    return active


@pytest.mark.parametrize("links", [2, 3])
def test_bytes_follow_the_active_link_and_it_moves_only_between_exchanges(links):
    rng = random.Random(links)
    select = LinkSelect(links)
    queues = [[rng.randrange(256) for _ in range(400)] for _ in range(links)]
    delivered, sent = [], [[] for _ in range(links)]
    switches = []

    async def bench(ctx):
        active = 0
        offering = [False] * links
        for cycle in range(3000):
            # A link offers its next byte for a while, then goes silent: bursts, as frames come.
            for index in range(links):
                if rng.random() < 0.05:
                    offering[index] = not offering[index]
                has_byte = offering[index] and bool(queues[index])
                ctx.set(select.link_rx[index].valid, has_byte)
                ctx.set(select.link_rx[index].payload, queues[index][0] if has_byte else 0)
                ctx.set(select.link_tx[index].ready, rng.random() < 0.7)
            quiet = rng.random() < 0.3
            device_ready, device_sends = rng.random() < 0.8, rng.random() < 0.5
            ctx.set(select.quiet, quiet)
            ctx.set(select.rx.ready, device_ready)
            ctx.set(select.tx.valid, device_sends)
            ctx.set(select.tx.payload, cycle & 0xFF)
            valid = [ctx.get(select.link_rx[i].valid) for i in range(links)]
            assert ctx.get(select.active) == active
            # The active link's handshake passes through, the others see nothing.
            assert ctx.get(select.rx.valid) == valid[active]
            assert ctx.get(select.tx.ready) == ctx.get(select.link_tx[active].ready)
            for index in range(links):
                assert ctx.get(select.link_rx[index].ready) == (index == active and device_ready)
                assert ctx.get(select.link_tx[index].valid) == (index == active and device_sends)
            if valid[active] and device_ready:
                assert ctx.get(select.rx.payload) == queues[active][0]
                delivered.append((active, queues[active].pop(0)))
            if device_sends and ctx.get(select.link_tx[active].ready):
                assert ctx.get(select.link_tx[active].payload) == cycle & 0xFF
                sent[active].append(cycle & 0xFF)
            following = _reference_next(active, valid, quiet)
            if following != active:
                switches.append((active, following))
            active = following
            await ctx.tick()

    sim = Simulator(select)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # Every link was used, both ways, and the choice moved many times.
    assert {link for link, _ in delivered} == set(range(links)) and all(sent)
    assert len(switches) > 10


def test_a_busy_link_keeps_the_device():
    """Link 0 streams without a gap: link 1's byte waits however quiet the device says it is."""
    select = LinkSelect(2)

    async def bench(ctx):
        ctx.set(select.link_rx[0].valid, 1)
        ctx.set(select.link_rx[1].valid, 1)
        ctx.set(select.quiet, 1)
        ctx.set(select.rx.ready, 1)
        for _ in range(50):
            await ctx.tick()
            assert ctx.get(select.active) == 0 and not ctx.get(select.link_rx[1].ready)
        ctx.set(select.link_rx[0].valid, 0)
        await ctx.tick()
        assert ctx.get(select.active) == 1 and ctx.get(select.link_rx[1].ready)

    sim = Simulator(select)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_fewer_than_two_links_is_refused():
    with pytest.raises(ValueError, match="links"):
        LinkSelect(1)
