"""The link fuzzed (sim/link/fuzz.py): a sample of the random and mutated inputs bench/link_fuzz.py
sends by the hundred thousand, on the same build (the tiny model, a 256-cycle frame timeout; the
Verilator build is shared). Every input gets exactly the answers the reference model predicts, none
hangs, nothing is written from a damaged frame, and a request afterwards generates the golden tokens.
The reference model itself is checked first, on inputs whose answers docs/protocol.md spells out."""

import struct

import pytest

from assembler import isa

from host import protocol as p
from host.transport import SimTransport
from sim.coverage import Coverage
from sim.link.fuzz import (FAMILIES, HeldImage, InputGenerator, ReceiverModel, frame, fuzz,
                           fuzz_target)

SAMPLE, SEED = 1500, 11
PROMPT, TOKENS = [5, 17, 200], 4
# tiny's compiled program: 640 VMEM words (h, r, x 64 each, the shared scratch 320, two states of 64:
# assembler.compiler.vmem_layout), every opcode of the ISA.
BUILD = p.BuildInfo(p.PROTOCOL_VERSION, len(isa.OPS), 16, 1, 2, 128, 640, 128, 128, 256, 1 << 17, 1, 1,
                    p.MemoryKind.SDR_SDRAM, 256)


def names(data: bytes, model: ReceiverModel | None = None) -> list[str]:
    return [answer.name for answer in (model or ReceiverModel(BUILD)).predict(data).answers]


def test_the_model_answers_as_the_protocol_says():
    C, status = p.Command, p.encode(p.Command.STATUS)
    assert names(b"\x00\x13junk") == []                                 # outside a frame: skipped
    assert names(status) == ["STATUS_REPLY"]
    assert names(b"\x11" + status + b"\x22") == ["STATUS_REPLY"]
    assert names(status[:-1]) == ["NAK TIMEOUT"]                        # the host went silent mid-frame
    assert names(b"\x5a") == ["NAK TIMEOUT"]
    damaged = bytearray(status)
    damaged[-1] ^= 1
    assert names(bytes(damaged) + status) == ["NAK BAD_CRC", "STATUS_REPLY"]
    # A length above MAX_PAYLOAD: refused at once, the bytes after it hunted for SYNC again.
    oversized = bytes([p.SYNC, C.HELLO]) + struct.pack("<H", p.MAX_PAYLOAD + 1)
    assert names(oversized + b"\x01\x02" + status) == ["NAK BAD_LENGTH", "STATUS_REPLY"]
    assert names(frame(C.HELLO, b"")) == names(frame(C.HELLO, b"\x02")) == ["HELLO_REPLY"]
    model = ReceiverModel(BUILD)
    assert model.predict(frame(C.HELLO, b"")).answers[0].payload == bytes([p.PROTOCOL_VERSION]) + bytes(23)
    assert model.predict(frame(C.HELLO, b"\x07")).answers[0].payload == BUILD.pack()
    assert names(frame(C.HELLO, b"\x02\x00")) == ["NAK BAD_LENGTH"]
    assert names(frame(0x33, b"x")) == ["NAK UNKNOWN_COMMAND"]
    assert names(frame(C.STOP, b"")) == ["ACK"] and names(frame(C.STOP, b"\x00")) == ["NAK BAD_LENGTH"]
    assert names(frame(C.START, struct.pack("<HI", 129, 0))) == ["NAK OUT_OF_RANGE"]
    assert names(frame(C.START, bytes(5))) == ["NAK BAD_LENGTH"]
    assert names(frame(C.WRITE_IMAGE, struct.pack("<I", (1 << 17) - 2) + b"abc")) == ["NAK OUT_OF_RANGE"]
    assert names(frame(C.WRITE_IMAGE, struct.pack("<I", 0))) == ["NAK BAD_LENGTH"]
    assert names(frame(C.WRITE_PROGRAM, struct.pack("<H", 127) + bytes(32))) == ["NAK OUT_OF_RANGE"]
    assert names(frame(C.WRITE_PROGRAM, struct.pack("<H", 0) + bytes(17))) == ["NAK BAD_LENGTH"]
    assert names(frame(C.SEND_WORDS, bytes(6))) == ["NAK BAD_LENGTH"]
    assert names(frame(C.SEND_WORDS, bytes(4 * 257))) == ["NAK BAD_LENGTH"]      # above MAX_PAYLOAD
    # Intact writes are reported (and applied by feed): the held image follows host.protocol's rules.
    full = ReceiverModel(BUILD, fifo_free=1)
    prediction = full.feed(frame(C.SEND_WORDS, bytes(4)) + frame(C.SEND_WORDS, bytes(4)))
    assert [a.name for a in prediction.answers] == ["ACK", "NAK BUSY"] and prediction.writes == ["SEND_WORDS"]
    image = bytes(range(256)) * 10
    held = HeldImage.loaded(image, chunk=1000)
    assert held.reported == (len(image), p.crc32(image))
    held.write(2000, image[2000:])                                    # the last frame again
    assert held.reported == (len(image), p.crc32(image))
    held.write(len(image), b"more")                                   # continued
    assert held.reported == (len(image) + 4, p.crc32(image + b"more"))
    held.write(7, b"x")                                               # elsewhere: nothing held
    assert held.reported == (0, 0)


def test_the_generator_makes_no_input_that_writes():
    generator, model = InputGenerator(BUILD, 5), ReceiverModel(BUILD)
    inputs = generator.take(3000)
    assert {family for family, _ in inputs} == set(FAMILIES)
    answers = set()
    for _, data in inputs:
        prediction = model.predict(data)
        assert not prediction.writes
        answers |= {answer.name for answer in prediction.answers}
    assert answers >= {"ACK", "HELLO_REPLY", "STATUS_REPLY", *(f"NAK {code.name}" for code in p.NakCode
                                                               if code not in (p.NakCode.BUSY, p.NakCode.BUS_ERROR))}
    assert InputGenerator(BUILD, 5).take(50) == inputs[:50]          # seeded


@pytest.fixture(scope="module")
def target():
    return fuzz_target()


def test_the_fuzz_build_is_the_benchs(target):
    assert target.build == BUILD


def test_fuzzed_link_answers_as_predicted_and_still_generates(target):
    inputs = InputGenerator(target.build, SEED).take(SAMPLE)
    transport = SimTransport(target.device, memory=target.memory)
    try:
        result = fuzz(transport, target.image, inputs, build=target.build, program=target.program,
                      instructions=target.instructions, prompt=PROMPT, expected=target.golden(PROMPT, TOKENS),
                      info=target.info, check_every=500)
    finally:
        transport.close()
    assert result.failures == []
    assert (result.inputs, result.mismatches, result.hangs, result.corrupted_writes) == (SAMPLE, 0, 0, 0)
    assert result.held_checks >= 3 and result.golden is True and result.ok
    assert not result.legitimate_writes
    coverage = Coverage("link fuzz", {
        **{f"input {family}": f"a fuzz input of the {family} family" for family in FAMILIES},
        **{f"answer {name}": f"the device answered {name}, as the receiver model predicted" for name in
           ("NAK BAD_CRC", "NAK BAD_LENGTH", "NAK TIMEOUT", "NAK OUT_OF_RANGE", "NAK UNKNOWN_COMMAND",
            "HELLO_REPLY", "STATUS_REPLY", "ACK")}})
    for family, count in result.families.items():
        coverage.hit(f"input {family}", count=count)
    for name in coverage.bins:
        if name.startswith("answer "):
            coverage.hit(name, count=result.answers[name.removeprefix("answer ")])
    coverage.finish()
