"""CSR batches (host/protocol.py, "Control bus") through the link's RTL (hw/link.py, hw/link_csr.py) in Amaranth's
simulator, the Wishbone port answered by the LiteDRAM CSR model (sim/litedram/csr_model.py; sim/link/csr_bench.py):
the expected words come from a second model given the same accesses in Python, not from the link's encoder.
The slow test brings the DRAM up end to end (host.link_csr.dram_ready) and counts its round trips."""

import random
import time

import pytest

from host import protocol as p
from host.ddr3_init import DramInitError, load_control
from host.driver import DeviceError, Driver, IncompatibleError, LinkError
from host.link_csr import dram_ready
from hw.link import LinkFrontEnd
from sim.link.csr_bench import READ_DATA_CYCLES, SteppedTransport, TimedCsrSlave
from sim.link.noise import CorruptingTransport
from sim.litedram.csr_model import LiteDRAMCsrModel, ModelProtocolError

CONTROL = load_control("ecpix5")
GOOD = [{(2, delay) for delay in range(2, 6)}, {(1, delay) for delay in range(4, 7)}]
# Storage CSRs (read back what was written) of the model, by byte address.
STORAGE = [CONTROL.address(name) + 4 * word for name in ("ddrphy_dly_sel", "sdram_dfii_pi0_address",
           "sdram_dfii_pi1_baddress", "sdram_dfii_pi0_wrdata", "sdram_dfii_pi1_wrdata")
           for word in range(CONTROL.csr_words[name])]


def build(control_bus=p.ControlBus.LITEDRAM_ECPIX5):
    from assembler import isa
    return p.BuildInfo(p.PROTOCOL_VERSION, len(isa.OPS), 16, 2, 2, 64, 1024, 256, 256, 256, 1 << 16, 1, 1,
                       p.MemoryKind.DDR, 4096, control_bus)


def bench(good=GOOD, timeout=5.0, **options):
    """A driver on a link front end whose control bus is a fresh model; (driver, transport, model)."""
    model = LiteDRAMCsrModel(CONTROL, good)
    transport = SteppedTransport(LinkFrontEnd(build=build()), TimedCsrSlave(model), **options)
    driver = Driver(transport, timeout=timeout, retries=2)
    assert driver.hello().control_bus == p.ControlBus.LITEDRAM_ECPIX5
    return driver, transport, model


def test_a_batch_runs_in_order_and_answers_its_reads():
    driver, transport, model = bench()
    reference = LiteDRAMCsrModel(CONTROL, GOOD)
    rng = random.Random(3)
    for _ in range(3):
        operations, batch, expected = [], b"", []
        for _ in range(rng.randint(1, 40)):
            address = rng.choice(STORAGE)
            if rng.random() < 0.5:
                value = rng.getrandbits(32)
                batch += p.csr_op(p.CsrOp.WRITE, address, value)
                reference.write(address, value)
            elif len(expected) < p.CSR_MAX_READS:
                batch += p.csr_op(p.CsrOp.READ, address)
                expected.append(reference.read(address))
        assert driver.csr(batch) == expected
    assert model.words == reference.words


def test_batches_over_datagrams_and_a_lost_one_is_not_resent():
    """The UDP path (hw/eth_link.py's bridge in front of the link): the same answers; a batch lost on the way is
    not sent again (its pulses must not run twice): the driver gives up on it, and the next batch runs."""
    lost = []
    lane_select, increment = CONTROL.address("ddrphy_dly_sel"), CONTROL.address("ddrphy_rdly_dq_inc")

    def drop(data):                                     # the first batch that pulses rdly_dq_inc
        if not lost and data[1] == p.Command.CSR and p.csr_op(p.CsrOp.WRITE, increment, 1) in data:
            lost.append(data)
            return True
        return False
    driver, transport, model = bench(timeout=1.0, datagrams=True, drop=drop)
    address = CONTROL.address("sdram_dfii_pi0_address")
    assert driver.csr(p.csr_op(p.CsrOp.WRITE, address, 77) + p.csr_op(p.CsrOp.READ, address)) == [77]
    pulse = p.csr_op(p.CsrOp.WRITE, lane_select, 2) + p.csr_op(p.CsrOp.WRITE, increment, 1)
    with pytest.raises(LinkError, match="no answer"):
        driver.csr(pulse)
    assert lost and transport.frames_sent[p.Command.CSR] == 2 and model.delay == [0, 0]
    assert driver.csr(pulse + p.csr_op(p.CsrOp.READ, lane_select)) == [2] and model.delay == [0, 1]


def test_a_wait_holds_the_next_access_back():
    driver, transport, model = bench()
    address = CONTROL.address("ddrphy_dly_sel")
    for cycles in (0, 1, 40, 300):
        transport.slave.log.clear()
        driver.csr(p.csr_op(p.CsrOp.WRITE, address, 1) + p.csr_op(p.CsrOp.WAIT, cycles) + p.csr_op(p.CsrOp.READ, address))
        (first, _, _), (second, _, _) = transport.slave.log
        assert second - first >= cycles, (cycles, second - first)
        assert second - first <= cycles + 16           # and not much more (the check, the fields, the ACK)


@pytest.mark.parametrize("batch, code", [
    (bytes([0x07, 0, 0, 0, 0]), p.NakCode.BAD_LENGTH),                                       # unknown operation
    (p.csr_op(p.CsrOp.WRITE, 0x800, 1)[:-1], p.NakCode.BAD_LENGTH),                          # cut short
    (p.csr_op(p.CsrOp.READ, 0x800) * (p.CSR_MAX_READS + 1), p.NakCode.BAD_LENGTH),           # too many reads
    (p.csr_op(p.CsrOp.WRITE, 0x800, 1) + p.csr_op(p.CsrOp.READ, 0x802), p.NakCode.OUT_OF_RANGE),   # misaligned
], ids=["unknown operation", "cut short", "too many reads", "misaligned"])
def test_a_malformed_batch_is_refused_whole(batch, code):
    driver, transport, model = bench()
    with pytest.raises(DeviceError) as refused:
        driver.csr(p.csr_op(p.CsrOp.WRITE, CONTROL.address("ddrphy_dly_sel"), 1) + batch)
    assert refused.value.nak is code
    assert model.accesses == 0                          # not even the good write before the bad operation
    assert driver.csr(p.csr_op(p.CsrOp.READ, CONTROL.address("ddrphy_dly_sel"))) == [0]


def test_an_empty_batch_and_a_full_one():
    driver, _, _ = bench()
    assert driver.csr(b"") == []
    address = CONTROL.address("sdram_dfii_pi0_address")
    assert driver.csr(p.csr_op(p.CsrOp.WRITE, address, 0x1234) + p.csr_op(p.CsrOp.READ, address) * p.CSR_MAX_READS) == \
        [0x1234] * p.CSR_MAX_READS


def test_a_damaged_batch_is_refused_then_resent_and_runs_once():
    driver, transport, model = bench()
    lane_select, increment = CONTROL.address("ddrphy_dly_sel"), CONTROL.address("ddrphy_rdly_dq_inc")
    driver.transport = CorruptingTransport(transport, 1, at=7, mask=0x20)
    assert driver.csr(p.csr_op(p.CsrOp.WRITE, lane_select, 1) + p.csr_op(p.CsrOp.WRITE, increment, 1)) == []
    assert transport.frames_sent[p.Command.CSR] == 2     # refused (BAD_CRC) with nothing done, then run
    assert model.delay == [1, 0]                        # the pulse once: the damaged frame did nothing


def test_a_bus_that_does_not_answer_ends_the_batch_and_the_link_answers():
    driver, transport, model = bench(bus_answers=False)
    with pytest.raises(DeviceError) as refused:
        driver.csr(p.csr_op(p.CsrOp.READ, 0))
    assert refused.value.nak is p.NakCode.BUS_ERROR
    assert driver.hello().control_bus == p.ControlBus.LITEDRAM_ECPIX5


def test_a_device_without_a_control_bus_says_so():
    transport = SteppedTransport(LinkFrontEnd(build=build(p.ControlBus.NONE)), None)
    driver = Driver(transport, timeout=5.0)
    assert driver.hello().control_bus == p.ControlBus.NONE
    with pytest.raises(DeviceError) as refused:
        driver.csr(p.csr_op(p.CsrOp.READ, 0))
    assert refused.value.nak is p.NakCode.NO_CONTROL_BUS
    assert dram_ready(driver, driver.build) is None     # nothing to bring up


@pytest.mark.parametrize("wait", [None, READ_DATA_CYCLES])
def test_a_dfii_read_needs_its_wait(wait):
    """The bench's latency check bites: rddata read right after the read command is too early; after a WAIT of the
    DFII's latency (what host.ddr3_dfii asks for) it is not."""
    driver, transport, model = bench()
    command = CONTROL.command_value

    phase = f"sdram_dfii_pi{CONTROL.phy.rdphase}_"          # ACT and RD both on the read phase

    def issue(value):
        return p.csr_op(p.CsrOp.WRITE, CONTROL.address(phase + "command"), value) + \
            p.csr_op(p.CsrOp.WRITE, CONTROL.address(phase + "command_issue"), 1)
    batch = p.csr_op(p.CsrOp.WRITE, CONTROL.address("sdram_dfii_control"), CONTROL.control_value("cke", "odt", "reset_n"))
    batch += issue(command("ras", "cs")) + issue(command("cas", "cs", "rddata"))
    batch += (p.csr_op(p.CsrOp.WAIT, wait) if wait else b"") + p.csr_op(p.CsrOp.READ, CONTROL.address(phase + "rddata"))
    if wait is None:
        with pytest.raises(ModelProtocolError, match=f"valid after {READ_DATA_CYCLES}"):
            driver.csr(batch)
    else:
        assert len(driver.csr(batch)) == 1 and transport.slave.shortest_read_delay >= READ_DATA_CYCLES


def test_mmfree_run_asks_the_dram_first():
    """run() on a device with a control bus checks init_done before anything else (here set: no bring-up)."""
    from golden.config import preset
    from golden.image import image_layout
    from golden.packing import TritFormat
    from host.run import run
    _, transport, model = bench(quiet_cycles=5_000)
    model.write(CONTROL.address("ddrctrl_init_done"), 1)
    lines = []
    with pytest.raises(IncompatibleError):              # the bench's small build holds no model: refused after
        run(b"", image_layout(preset("tiny"), TritFormat.TRITS_2BIT), [1], 1, transport, log=lines.append)
    assert lines == ["DDR3 on ecpix5 is up since power-up (init_done): not initialised again"]
    assert transport.frames_sent[p.Command.CSR] == 1 and model.reads == 2 and model.writes == 1


@pytest.mark.slow
def test_the_dram_comes_up_over_the_link():
    """~70 s: the whole bring-up through frames and the link's RTL; then a second run finds it up."""
    driver, transport, model = bench()
    lines = []
    started = time.perf_counter()
    report = dram_ready(driver, driver.build, log=lines.append)
    assert [(lane.bitslip, lane.delay) for lane in report.lanes] == [(2, 3), (1, 5)]
    assert model.user_port_open and model.hardware_control
    round_trips = transport.frames_sent[p.Command.CSR]
    assert transport.frames_sent == {p.Command.HELLO: 1, p.Command.CSR: round_trips}
    assert round_trips < 300 and transport.slave.shortest_read_delay >= READ_DATA_CYCLES
    bits = 10 * (transport.bytes_to_device + transport.bytes_from_device)        # 8N1 at 1 Mbaud
    print(f"\n{lines[0]}\nbring-up: {round_trips} CSR frames, {transport.slave.accesses:,} accesses, "
          f"{transport.bytes_to_device:,} bytes to the device and {transport.bytes_from_device:,} back "
          f"({bits / 1e6:.2f} s at 1 Mbaud), {transport.cycle:,} device cycles here "
          f"(a byte a cycle), {time.perf_counter() - started:.0f} s simulated")
    lines.clear()
    assert dram_ready(driver, driver.build, log=lines.append) is None
    assert "not initialised again" in lines[0] and transport.frames_sent[p.Command.CSR] == round_trips + 1


@pytest.mark.slow
def test_a_lane_that_never_reads_back_fails_naming_it_and_the_device_answers():
    """~1 min: lane 0 has no good setting; the error names it, the DRAM port stays closed, the link answers."""
    driver, transport, model = bench(good=[set(), GOOD[1]])
    with pytest.raises(DramInitError, match="byte lane 0"):
        dram_ready(driver, driver.build)
    assert model.hardware_control and not model.user_port_open
    assert driver.hello().control_bus == p.ControlBus.LITEDRAM_ECPIX5
    assert driver.csr(p.csr_op(p.CsrOp.READ, CONTROL.address("ddrctrl_init_error"))) == [1]


def test_a_device_with_a_control_bus_exposes_it_and_builds():
    """~20 s: Device(control_bus=...) reports it in BuildInfo, has the `control` port (passed on by EthernetDevice)
    and converts to RTLIL with the port wired to the link."""
    from amaranth.back import rtlil

    from hw.device import Device
    from hw.eth_device import EthernetDevice
    from hw.link_csr import ControlBusSignature
    from sim.link.fuzz import fuzz_target
    accelerator = fuzz_target().device.accelerator
    device = Device(accelerator, memory_bytes=1 << 17, memory_kind=p.MemoryKind.DDR,
                    control_bus=p.ControlBus.LITEDRAM_ECPIX5)
    assert device.build.control_bus == p.ControlBus.LITEDRAM_ECPIX5
    assert device.control.signature.members == ControlBusSignature().members
    assert EthernetDevice(device).control.signature.members == ControlBusSignature().members
    text = rtlil.convert(device, name="device")
    assert all(f"control__{name}" in text for name in ControlBusSignature().members)


@pytest.mark.slow
def test_the_dram_comes_up_over_datagrams_after_a_lost_batch():
    """~2-3 min: over the bridge, the 100th CSR datagram is lost; the bring-up starts again and completes."""
    sent = []

    def drop(data):
        if data[1] == p.Command.CSR:
            sent.append(data)
        return len(sent) == 100
    driver, transport, model = bench(timeout=1.0, datagrams=True, drop=drop)
    lines = []
    report = dram_ready(driver, driver.build, log=lines.append)
    assert [(lane.bitslip, lane.delay) for lane in report.lanes] == [(2, 3), (1, 5)] and model.user_port_open
    assert transport.frames_sent[p.Command.CSR] == 100 + 286
    print(f"\n{lines[0]}")
