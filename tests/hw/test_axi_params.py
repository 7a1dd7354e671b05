"""Parameter validation, signature and elaboration of the AXI4 memory port (behaviour: sim/axi)."""

import pytest
from amaranth.back import verilog
from amaranth.lib import wiring

from hw.axi import AXI4MemoryPort, AXI4Signature

AXI_NAMES = ("awid awaddr awlen awsize awburst awlock awcache awprot awqos awvalid awready wdata wstrb wlast wvalid "
             "wready bid bresp bvalid bready arid araddr arlen arsize arburst arlock arcache arprot arqos arvalid "
             "arready rid rdata rresp rlast rvalid rready").split()


def test_signature_has_the_axi_names_and_compares_by_parameters():
    signature = AXI4Signature(32, 128, 4)
    assert sorted(signature.members) == sorted(AXI_NAMES)
    assert signature.members["awaddr"].flow == wiring.Out and signature.members["rdata"].flow == wiring.In
    assert (signature.members["wstrb"].shape, signature.members["bid"].shape) == (16, 4)
    assert signature == AXI4Signature(32, 128, 4) and signature != AXI4Signature(32, 128, 2)
    assert signature.flip().flip() == signature


@pytest.mark.parametrize("data_bytes", [1, 2, 16, 64])
def test_elaborates_with_flat_axi_ports(data_bytes):
    port = AXI4MemoryPort(data_bytes=data_bytes, addr_width=40, id_width=2)
    assert port.axi.signature == AXI4Signature(40, 8 * data_bytes, 2)
    assert len(port.read_resp.payload) == 8 * data_bytes
    text = verilog.convert(port, name="axi_port")
    assert all(f"axi__{name}" in text for name in AXI_NAMES)


@pytest.mark.parametrize("kwargs, message", [
    (dict(data_bytes=3), "data_bytes"), (dict(data_bytes=128), "data_bytes"), (dict(data_bytes=0), "data_bytes"),
    (dict(data_bytes=2, beats_bits=0), "beats_bits"), (dict(data_bytes=2, beats_bits=17), "beats_bits"),
    (dict(data_bytes=2, id_width=0), "id_width"), (dict(data_bytes=2, addr_width=11), "addr_width"),
    (dict(data_bytes=2, addr_width=65), "addr_width"), (dict(data_bytes=2, max_writes=0), "max_writes"),
])
def test_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AXI4MemoryPort(**kwargs)


def test_signature_refuses_bad_parameters():
    with pytest.raises(ValueError, match="data_width"):
        AXI4Signature(32, 24, 1)


@pytest.mark.parametrize("stall_aw", [0, 3])
def test_a_read_waits_for_the_write_before_it_to_be_answered(stall_aw):
    """Ordering (read after write): a read request offered the cycle after a byte write is not taken until that
    write's B response is in, whether its beat still waits in the gather register (AW stalled) or has gone out:
    its AR can never overtake the write's AW / W."""
    from amaranth.sim import Simulator

    port = AXI4MemoryPort(data_bytes=16)
    events = {}

    async def bench(ctx):
        ctx.set(port.axi.bvalid, 0)
        ctx.set(port.axi.wready, 1)
        await ctx.tick().until(port.ready)
        ctx.set(port.write.payload.addr, 0x123)
        ctx.set(port.write.payload.data, 0x5A)
        ctx.set(port.write.valid, 1)
        await ctx.tick().until(port.write.ready)               # taken at this edge
        ctx.set(port.write.valid, 0)
        ctx.set(port.read_req.payload.addr, 0x12)              # the written beat
        ctx.set(port.read_req.payload.beats, 1)
        ctx.set(port.read_req.valid, 1)
        for cycle in range(40):                                # the slave's inputs first, then what the edge takes
            ctx.set(port.axi.awready, cycle >= stall_aw)
            ctx.set(port.axi.bvalid, "aw" in events and cycle == events["aw"] + 4)
            if ctx.get(port.axi.awvalid) and ctx.get(port.axi.awready):
                events["aw"] = cycle
            if ctx.get(port.axi.bvalid):
                events["b"] = cycle
            if ctx.get(port.read_req.ready):
                events["read"] = cycle
                break
            await ctx.tick()
        ctx.set(port.read_req.valid, 0)

    sim = Simulator(port)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert "b" in events and events["read"] > events["b"], events
