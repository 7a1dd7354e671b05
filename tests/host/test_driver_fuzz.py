"""The host driver (host/driver.py) against a device whose answers arrive damaged: bits flipped,
frames truncated, dropped, doubled, swapped with the next, of an unexpected kind, with other payloads
(a valid CRC around a short or long body), junk before them, NAKs of any code, extra frames. No device:
a fake transport answers the driver's commands as a device would, then damages its answers as
Hypothesis draws. Every call either succeeds or raises an MmfreeError (LinkError, DeviceError,
IncompatibleError) with a message: never another exception, never a hang (each case is bounded)."""

from __future__ import annotations

import struct
import time
from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from assembler import isa
from golden.errors import MmfreeError
from host import protocol as p
from host.driver import Driver, LinkError
from hw.accelerator import CountersLayout

COUNTERS = list(CountersLayout().members)
BUILD = p.BuildInfo(p.PROTOCOL_VERSION, len(isa.OPS), 16, 1, 2, 128, 2048, 128, 128, 256, 1 << 17, 1, 1,
                    p.MemoryKind.SDR_SDRAM, 256)
STATES = {"IDLE": 0, "RUNNING": 1, "WAITING": 2, "HALTED": 3, "ERROR": 4}
DAMAGES = ("ok", "flip", "truncate", "drop", "duplicate", "swap", "kind", "payload", "junk", "nak", "extra")
TIMEOUT, CASE_SECONDS = 0.2, 20.0


class DamagingDevice:
    """A transport whose device answers each command correctly (ACK, HELLO_REPLY, STATUS_REPLY, the
    request's WORDs) and then damages its frames one by one as `plan` says (intact once it runs out)."""

    def __init__(self, plan, *, state: str = "WAITING", error: int = 0, tokens=(7, 8, 9), fifo_free: int = 256):
        self.plan, self.state, self.error, self.tokens = deque(plan), state, error, list(tokens)
        self.fifo_free, self.decoder, self.out, self.held = fifo_free, p.Decoder(), bytearray(), None
        self.received: list[int] = []

    # --- the device ---
    def write(self, data: bytes) -> None:
        for kind, payload in self.decoder.feed(data):
            self.received.append(kind)
            for reply in self.answer(kind, payload):
                self.emit(*reply)

    def answer(self, kind: int, payload: bytes):
        C = p.Command
        if kind == C.HELLO:
            return [(p.Reply.HELLO_REPLY, BUILD.pack())]
        if kind == C.STATUS:
            head = p.STATUS_HEAD.pack(STATES.get(self.state, 0), self.error, 3, self.fifo_free, 0, 0)
            return [(p.Reply.STATUS_REPLY, head + struct.pack(f"<{len(COUNTERS)}Q", *range(len(COUNTERS))))]
        if kind == C.SEND_WORDS:
            words = struct.unpack(f"<{len(payload) // 4}i", payload)
            count = words[1] if len(words) >= 2 else 0
            return [(p.Reply.ACK, bytes([kind]))] + [(p.Reply.WORD, struct.pack("<i", t)) for t in self.tokens[:count]]
        if kind in p.Command._value2member_map_:
            return [(p.Reply.ACK, bytes([kind]))]
        return [(p.Reply.NAK, bytes([kind, p.NakCode.UNKNOWN_COMMAND]))]

    def emit(self, kind: int, payload: bytes) -> None:
        damage, number, extra = self.plan.popleft() if self.plan else ("ok", 0, b"")
        data = bytearray(p.encode(kind, payload))
        if damage == "flip":
            data[number % len(data)] ^= 1 << (number >> 8) % 8
        elif damage == "truncate":
            data = data[:number % len(data)]
        elif damage == "drop":
            data = bytearray()
        elif damage == "duplicate":
            data = data + data
        elif damage == "swap":
            self.held = bytes(data)                          # goes out after the next frame
            return
        elif damage == "kind":
            data = bytearray(p.encode(number & 0xFF, payload))
        elif damage == "payload":
            data = bytearray(p.encode(kind, extra))
        elif damage == "junk":
            data = bytearray(extra) + data
        elif damage == "nak":
            data = bytearray(p.encode(p.Reply.NAK, bytes([payload[0] if payload else 0, number & 0xFF])))
        elif damage == "extra":
            data += p.encode((p.Reply.WORD, p.Reply.ACK, p.Reply.STATUS_REPLY, p.Reply.NAK,
                              p.Reply.HELLO_REPLY)[number % 5], extra)
        self.out += data
        if self.held is not None:
            self.out += self.held
            self.held = None

    # --- the transport ---
    def read(self, timeout: float) -> bytes:
        if not self.out:
            time.sleep(min(timeout, 0.005))
            return b""
        data, self.out = bytes(self.out), bytearray()
        return data

    def close(self) -> None:
        pass


def outcome(call, time_limit) -> str:
    """'ok' or the MmfreeError's class; anything else (or a hang: time_limit, tests/conftest.py) fails the test."""
    started = time.monotonic()
    with time_limit(CASE_SECONDS):
        try:
            call()
            result = "ok"
        except MmfreeError as error:
            assert str(error), f"{type(error).__name__} without a message"
            result = type(error).__name__
    assert time.monotonic() - started < CASE_SECONDS
    return result


damage = st.tuples(st.sampled_from(DAMAGES), st.integers(0, 1 << 16), st.binary(max_size=48))
plans = st.lists(damage, max_size=10)
# time_limit is a function-scoped fixture that holds no state between examples
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def driver_for(device) -> Driver:
    return Driver(device, timeout=TIMEOUT, retries=1, counter_names=COUNTERS)


OPERATIONS = {
    "hello": lambda d: d.hello(),
    "status": lambda d: d.status(),
    "command": lambda d: d.command(p.Command.WRITE_IMAGE, struct.pack("<I", 0) + b"abc"),
    "unknown": lambda d: d.command(0x3C),
    "stop": lambda d: d.stop(),
    "start": lambda d: d.start(2, 3000),
    "load": lambda d: (d.load_program(bytes(32)), d.load_image(bytes(2100))),
    "generate": lambda d: list(d.generate([1, 2], 3, token_timeout=TIMEOUT)),
}


@FUZZ
@given(st.sampled_from(sorted(OPERATIONS)), plans, st.sampled_from(sorted(STATES)), st.integers(0, 12))
def test_damaged_answers_give_clean_errors(time_limit, operation, plan, state, error):
    device = DamagingDevice(plan, state=state, error=error)
    outcome(lambda: OPERATIONS[operation](driver_for(device)), time_limit)


@FUZZ
@given(plans, st.lists(st.one_of(st.binary(min_size=4, max_size=4), st.binary(max_size=8)), min_size=1, max_size=4),
       st.sampled_from(sorted(STATES)))
def test_damaged_words_while_waiting_for_tokens(time_limit, plan, words, state):
    """WORD frames the device sends on its own (of any length), damaged, while next_word waits."""
    device = DamagingDevice(plan, state=state)
    for word in words:
        device.emit(p.Reply.WORD, word)
    driver = driver_for(device)
    outcome(lambda: [driver.next_word(TIMEOUT) for _ in words], time_limit)


frames = st.builds(lambda kind, payload: p.encode(kind, payload),
                   st.one_of(st.sampled_from(list(p.Reply)), st.integers(0, 255)), st.binary(max_size=80))


@settings(FUZZ, max_examples=60)
@given(st.lists(st.one_of(st.binary(max_size=64), frames), max_size=8), st.sampled_from(sorted(OPERATIONS)))
def test_any_bytes_from_the_device(time_limit, pieces, operation):
    """Whatever bytes come back, frames of any kind and payload among them, and nothing else."""
    device = DamagingDevice([])
    device.answer = lambda kind, payload: []
    device.out += b"".join(pieces)
    outcome(lambda: OPERATIONS[operation](driver_for(device)), time_limit)


# The cases that escaped before host/driver.py caught them (kept as plain regressions).

def test_a_word_of_another_length_is_a_link_error():
    device = DamagingDevice([])
    device.emit(p.Reply.WORD, b"\x01\x02\x03")
    with pytest.raises(LinkError, match="WORD"):
        driver_for(device).next_word(TIMEOUT)
    device = DamagingDevice([])                        # while a command waits for its answer
    device.emit(p.Reply.WORD, b"\x01")
    assert driver_for(device).status().state == "WAITING"


def test_a_damaged_frame_while_waiting_for_tokens_is_a_link_error():
    device = DamagingDevice([("flip", 40 << 8 | 5, b"")])
    device.emit(p.Reply.WORD, b"\x01\x00\x00\x00")
    with pytest.raises(LinkError, match="damaged"):
        driver_for(device).next_word(TIMEOUT)


def test_a_fifo_that_never_makes_room_is_a_link_error(time_limit):
    device = DamagingDevice([], fifo_free=0)
    started = time.monotonic()
    with time_limit(CASE_SECONDS), pytest.raises(LinkError, match="room"):
        driver_for(device).send_words([1, 2, 3])
    assert time.monotonic() - started < 4 * TIMEOUT + 1
