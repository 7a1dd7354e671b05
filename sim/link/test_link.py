"""The host driver against the simulated device (hw.device.Device in the fast Verilator harness,
sim/fast; bytes over TCP). sim/link/test_agreement.py holds it to the cocotb bench.

One simulation session serves the tests in order: a compiled tiny model loaded through the link
generates exactly the golden model's tokens; then the faults: a corrupted frame (NAK BAD_CRC, nothing
written, the resend lands), a truncated frame (NAK TIMEOUT), an unknown command, a program with an
illegal instruction and an image with a damaged header (the device stops with its error code), an
image for another build (refused by the host before sending), a device that stops answering (the
host times out) — and after each fault the device still answers.
"""

import struct
import zlib

import pytest

from assembler import isa
from assembler.compiler import compile_model
from golden.config import preset
from golden.hwexact import HardwareExactModel
from golden.image import image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model
from host import protocol as p
from golden.errors import MmfreeError
from host.driver import DeviceError, Driver, IncompatibleError, LinkError
from host.run import run
from host.transport import SimTransport
from hw.accelerator import ACTIVITY_COUNTERS, CountersLayout
from sim.link.fuzz import FUZZ_TIMEOUT_CYCLES, fuzz_target
from sim.link.noise import CorruptingTransport

FORMAT = TritFormat.TRITS_2BIT


@pytest.fixture(scope="module")
def session():
    target = fuzz_target()                        # the tiny model on the fuzz's build (shared Verilator build)
    assert target.info.trit_format is FORMAT
    compiled = compile_model(target.info)
    transport = SimTransport(target.device, memory=target.memory)
    driver = Driver(transport, timeout=60.0, counter_names=list(CountersLayout().members))
    yield driver, target.model, target.image, compiled
    transport.close()


def load_and_start(driver, image, program):
    driver.load_program(program)
    driver.load_image(image)
    return driver.start(len(program) // isa.INSTRUCTION_BYTES, len(image))


def test_generates_the_golden_tokens(session):
    driver, model, image, compiled = session
    build = driver.hello()
    assert build.trit_format == FORMAT.value and build.lanes == 16
    assert (build.memory_kind, build.frame_timeout_cycles, build.vector_width, build.batch) == \
        (p.MemoryKind.SDR_SDRAM, FUZZ_TIMEOUT_CYCLES, 1, 1)
    assert driver.status().held_image_bytes == 0                 # nothing written since reset
    driver.check_compatible(parse_header(image), len(image), len(compiled.program.instructions),
                            compiled.program.vmem_words)
    status = load_and_start(driver, image, compiled.program.to_bytes())
    assert status.state == "WAITING" and status.error is isa.ErrorCode.NONE
    for prompt in ([5, 17, 200], [99]):
        tokens = list(driver.generate(prompt, 4))
        assert tokens == HardwareExactModel(model).generate(prompt, 4), prompt
    status = driver.wait_for("WAITING")
    counters = status.counters                       # every field where the protocol puts it
    assert sum(counters[name] for name in ACTIVITY_COUNTERS.values()) == counters["cycles"], counters
    assert 0 < counters["instructions"] < counters["cycles"] and counters["bytes_received"] >= counters["bytes_requested"]
    assert status.fifo_free == p.HOST_FIFO_WORDS and status.pc < len(compiled.program.instructions)


def test_corrupted_frame_is_refused_and_resent(session):
    driver, _, image, _ = session
    driver.stop()
    frame = bytearray(p.encode(p.Command.WRITE_IMAGE, struct.pack("<I", 0) + b"\xff" * 64))
    frame[20] ^= 0x01
    driver.transport.write(bytes(frame))
    kind, body = driver._reply(deadline=__import__("time").monotonic() + 60)
    assert (kind, body) == (p.Reply.NAK, bytes([p.Command.WRITE_IMAGE, p.NakCode.BAD_CRC]))
    # Nothing was written: the image still starts (its header is intact).
    assert driver.start(1, len(image)).state == "WAITING"


def test_truncated_frame_times_out(session):
    driver, _, _, _ = session
    import time
    driver.transport.write(p.encode(p.Command.HELLO)[:3])
    kind, body = driver._reply(deadline=driver.clock() + 60)
    assert (kind, body[1]) == (p.Reply.NAK, p.NakCode.TIMEOUT)
    assert driver.hello().protocol == p.PROTOCOL_VERSION


def test_unknown_command_bad_length_busy_out_of_range(session):
    driver, _, _, _ = session
    with pytest.raises(DeviceError) as refused:                 # a program waits for a request
        driver.command(p.Command.WRITE_IMAGE, struct.pack("<I", 0) + b"abc")
    assert refused.value.nak is p.NakCode.BUSY
    driver.stop()
    with pytest.raises(DeviceError) as refused:
        driver.command(0x3C)
    assert refused.value.nak is p.NakCode.UNKNOWN_COMMAND
    assert driver.build.control_bus == p.ControlBus.NONE        # a device without a control bus names it
    with pytest.raises(DeviceError) as refused:
        driver.csr(p.csr_op(p.CsrOp.READ, 0))
    assert refused.value.nak is p.NakCode.NO_CONTROL_BUS
    with pytest.raises(DeviceError) as refused:
        driver.command(p.Command.START, b"\x00")
    assert refused.value.nak is p.NakCode.BAD_LENGTH
    with pytest.raises(DeviceError) as refused:
        driver.command(p.Command.WRITE_IMAGE, struct.pack("<I", (1 << 17) - 2) + b"abc")
    assert refused.value.nak is p.NakCode.OUT_OF_RANGE


def test_illegal_instruction_stops_the_device(session):
    driver, _, image, compiled = session
    driver.stop()
    illegal = bytes([0xEE]) + bytes(isa.INSTRUCTION_BYTES - 1)
    with pytest.raises(DeviceError) as stopped:
        load_and_start(driver, image, illegal)
    assert stopped.value.error is isa.ErrorCode.ILLEGAL_INSTRUCTION
    driver.stop()
    assert driver.status().state == "IDLE"


def test_damaged_image_header_stops_at_start(session):
    driver, model, image, compiled = session
    damaged = bytearray(image)
    damaged[40] ^= 0x04                                      # inside the config JSON: the header CRC fails
    with pytest.raises(DeviceError) as stopped:
        load_and_start(driver, bytes(damaged), compiled.program.to_bytes())
    assert stopped.value.error is isa.ErrorCode.IMAGE_CRC
    driver.stop()
    load_and_start(driver, image, compiled.program.to_bytes())
    assert list(driver.generate([3], 2)) == HardwareExactModel(model).generate([3], 2)


def test_image_for_another_build_is_refused(session):
    driver, model, _, compiled = session
    other = image_bytes(model, TritFormat.TRITS_BASE3)
    with pytest.raises(IncompatibleError, match="TRITS_BASE3"):
        driver.check_compatible(parse_header(other), len(other), len(compiled.program.instructions),
                                compiled.program.vmem_words)
    big = compile_model(parse_header(image_bytes(quantize_model(random_model(preset("tiny-odd"), seed=1)), FORMAT)))
    with pytest.raises(IncompatibleError, match="VMEM|instructions|rows|elements"):
        driver.check_compatible(parse_header(other), 1 << 20, len(big.program.instructions) * 4, 1 << 20)


def test_damaged_frames_are_retried_a_bounded_number_of_times(session):
    driver, _, _, _ = session
    noisy = Driver(CorruptingTransport(driver.transport, 2), timeout=60.0, retries=2)
    assert noisy.hello().protocol == p.PROTOCOL_VERSION          # two NAK BAD_CRC, then through
    hopeless = Driver(CorruptingTransport(driver.transport, 3), timeout=60.0, retries=2)
    with pytest.raises(DeviceError) as refused:
        hopeless.hello()
    assert refused.value.nak is p.NakCode.BAD_CRC
    assert driver.hello().protocol == p.PROTOCOL_VERSION


def test_prompt_longer_than_supported_is_refused(session):
    driver, model, image, _ = session
    info = parse_header(image)
    too_long = [1] * (info.config.max_position_embeddings + 1)
    with pytest.raises(MmfreeError, match="positions"):
        run(image, info, too_long, 1, driver.transport)
    with pytest.raises(MmfreeError, match="vocabulary"):
        run(image, info, [info.config.vocab_size], 1, driver.transport)
    result = run(image, info, [7, 8], 3, driver.transport)              # the whole host flow, once more
    assert result.tokens == HardwareExactModel(model).generate([7, 8], 3)
    assert result.cycles > 0 and result.decode_steps == 4


class _Silent:
    """A transport whose device never answers."""

    def write(self, data):
        pass

    def read(self, timeout):
        import time
        time.sleep(timeout)
        return b""


def test_silent_device_times_out():
    driver = Driver(_Silent(), timeout=0.3, retries=1)
    with pytest.raises(LinkError, match="no answer"):
        driver.hello()


def test_a_version_1_host_is_refused_by_version(session):
    driver, _, _, _ = session
    # A version-1 host sends an empty HELLO and reads a 24-byte BuildInfo whose first byte is the version.
    reply = driver.command(p.Command.HELLO, expect=p.Reply.HELLO_REPLY)
    assert len(reply) == p.LEGACY_HELLO_BYTES and reply[0] == p.PROTOCOL_VERSION != 1
    with pytest.raises(DeviceError) as refused:
        driver.command(p.Command.HELLO, b"\x02\x00")
    assert refused.value.nak is p.NakCode.BAD_LENGTH
    assert driver.hello().protocol == p.PROTOCOL_VERSION


def write_image_frames(driver, image, frames):
    """WRITE_IMAGE the chunks of `image` at the given chunk indices, in that order."""
    chunk = p.MAX_PAYLOAD - 4
    for index in frames:
        driver.command(p.Command.WRITE_IMAGE, struct.pack("<I", index * chunk) + image[index * chunk:(index + 1) * chunk])


def test_the_device_reports_the_image_it_holds(session):
    driver, model, image, compiled = session
    chunk, frames = p.MAX_PAYLOAD - 4, -(-len(image) // (p.MAX_PAYLOAD - 4))
    driver.stop()
    driver.load_image(image)
    held = driver.status()
    assert held.holds(image) and (held.held_image_bytes, held.held_image_crc) == (len(image), zlib.crc32(image))
    # The last frame again (its ACK lost): still held.
    write_image_frames(driver, image, [frames - 1])
    assert driver.status().holds(image)
    # A load cut short: the prefix is reported, never the whole image.
    write_image_frames(driver, image, range(frames // 2))
    status = driver.status()
    assert not status.holds(image)
    assert (status.held_image_bytes, status.held_image_crc) == ((frames // 2) * chunk, zlib.crc32(image[:(frames // 2) * chunk]))
    # A frame beyond its end (the one before it lost on the way, host.protocol "Datagrams"): it stays as it was.
    write_image_frames(driver, image, [frames // 2 + 1])
    assert (driver.status().held_image_bytes, driver.status().held_image_crc) == (status.held_image_bytes, status.held_image_crc)
    # The rest in order completes it.
    write_image_frames(driver, image, range(frames // 2, frames))
    assert driver.status().holds(image)
    # A frame out of sequence (one chunk rewritten with other bytes): nothing held until address 0 again.
    driver.command(p.Command.WRITE_IMAGE, struct.pack("<I", chunk) + bytes(16))
    assert driver.status().held_image_bytes == 0
    write_image_frames(driver, image, [2, 3])
    assert driver.status().held_image_bytes == 0
    # A damaged frame writes nothing and leaves the held image as it was.
    driver.load_image(image)
    frame = bytearray(p.encode(p.Command.WRITE_IMAGE, struct.pack("<I", 0) + b"\xff" * 64))
    frame[20] ^= 0x01
    driver.transport.write(bytes(frame))
    kind, body = driver._reply(deadline=__import__("time").monotonic() + 60)
    assert (kind, body[1]) == (p.Reply.NAK, p.NakCode.BAD_CRC) and driver.status().holds(image)


def test_a_second_run_does_not_reload(session):
    driver, model, image, _ = session
    info = parse_header(image)
    messages = []
    first = run(image, info, [4, 9], 2, driver.transport, log=messages.append)
    second = run(image, info, [4, 9], 2, driver.transport, log=messages.append)
    assert not first.image_sent and not second.image_sent and len(messages) == 2 and "not sent again" in messages[0]
    assert first.tokens == second.tokens == HardwareExactModel(model).generate([4, 9], 2)
    # Another image is sent again, and the device then holds that one.
    other = image_bytes(quantize_model(random_model(preset("tiny"), seed=22)), FORMAT)
    third = run(other, parse_header(other), [4, 9], 2, driver.transport)
    assert third.image_sent and driver.status().holds(other) and not driver.status().holds(image)
