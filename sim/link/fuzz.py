"""Fuzzing the host link: random and mutated frames and raw byte runs into the simulated device.

Used by sim/link/test_fuzz.py (a small sample) and bench/link_fuzz.py (a long run).

    ReceiverModel   (sim/link/reference.py) the device's receiver as docs/protocol.md and hw/link.py's
                    docstrings describe it,
                    written in Python (not derived from the RTL): fed one fuzz input (after which the
                    host goes silent) it predicts the answers, in order.
    generate_inputs (sim/link/fuzz_inputs.py) seeded inputs: mutated frames, raw byte runs with SYNC bytes sprinkled, intact
                    frames the device must refuse or that change nothing.
    fuzz            sends each input to a device (any transport), waits for exactly the predicted
                    answers, checks that the held image (STATUS_REPLY) never changes, and finally that
                    a good request generates the golden tokens.

Two things the fuzz found, both fixed and now checked like every other answer: the fast harness stopped
its clock after taking a frame's last byte when that byte was a lone SYNC (no NAK TIMEOUT followed), and
a NAK TIMEOUT of a frame cut right after its SYNC named the previous frame's command instead of 0.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Callable

from host import protocol as p

from .fuzz_inputs import FAMILIES, InputGenerator, frame, generate_inputs  # noqa: F401 (the fuzz's API)
from .reference import Answer, HeldImage, Prediction, ReceiverModel  # noqa: F401

# The fuzz build (shared by the test and the bench, so the Verilator build is cached once).
FUZZ_TIMEOUT_CYCLES = 256
FUZZ_SEED_MODEL = 21
FUZZ_LANES = 16
FUZZ_MEMORY = "sdram"


@dataclasses.dataclass
class FuzzTarget:
    """The model, its image and program, and the device build they run on."""
    model: object                   # golden.quantize QuantizedModel
    image: bytes
    info: object                    # golden.image.ImageInfo
    program: bytes
    instructions: int
    device: object                  # hw.device.Device
    memory: str = FUZZ_MEMORY

    @property
    def build(self) -> p.BuildInfo:
        return self.device.build

    def golden(self, prompt: list[int], tokens: int) -> list[int]:
        from golden.hwexact import HardwareExactModel
        return HardwareExactModel(self.model).generate(prompt, tokens)


def fuzz_target(timeout_cycles: int = FUZZ_TIMEOUT_CYCLES) -> FuzzTarget:
    """The tiny random model (sim/link/test_link.py's) on a device with a short frame timeout."""
    from assembler.compiler import compile_model
    from golden.config import preset
    from golden.image import image_bytes, parse_header
    from golden.packing import TritFormat
    from golden.quantize import quantize_model
    from golden.zoo import random_model
    from host.run import device_for

    model = quantize_model(random_model(preset("tiny"), seed=FUZZ_SEED_MODEL))
    image = image_bytes(model, TritFormat.TRITS_2BIT)
    info = parse_header(image)
    compiled = compile_model(info)
    device = device_for(info, lanes=FUZZ_LANES, memory=FUZZ_MEMORY,
                        program_instructions=len(compiled.program.instructions),
                        vmem_words=compiled.program.vmem_words, timeout_cycles=timeout_cycles)
    return FuzzTarget(model, image, info, compiled.program.to_bytes(), len(compiled.program.instructions), device)


# --- The runner ---------------------------------------------------------------------------------------

@dataclasses.dataclass
class FuzzResult:
    inputs: int = 0
    bytes_sent: int = 0
    families: Counter = dataclasses.field(default_factory=Counter)
    answers: Counter = dataclasses.field(default_factory=Counter)      # received as predicted, by name
    mismatches: int = 0             # inputs whose answers differ from the prediction (or extra frames)
    hangs: int = 0                  # inputs whose predicted answers did not all come within the deadline
    corrupted_writes: int = 0       # STATUS_REPLYs whose held image (or FIFO room, state) is not the predicted one
    held_checks: int = 0            # STATUS_REPLYs checked (those the fuzz triggered and the periodic ones)
    legitimate_writes: Counter = dataclasses.field(default_factory=Counter)   # intact writes (none by default)
    golden: bool | None = None      # a request after the fuzz generated the golden tokens
    golden_tokens: list[int] = dataclasses.field(default_factory=list)
    expected_tokens: list[int] = dataclasses.field(default_factory=list)
    seconds: float = 0.0            # the fuzz itself (the set-up and the golden request excluded)
    failures: list[str] = dataclasses.field(default_factory=list)     # the first few, with their inputs

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.hangs or self.corrupted_writes) and self.golden is not False

    @property
    def inputs_per_second(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


class _Channel:
    """Frames from the transport, with a deadline."""

    def __init__(self, transport):
        self.transport, self.decoder, self.frames = transport, p.Decoder(), []

    def wait(self, count: int, deadline: float) -> tuple[list[tuple[int, bytes]], str | None]:
        """Up to `count` frames (more if they came in the same read); the error: damaged frame or None."""
        while len(self.frames) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self.frames += self.decoder.feed(self.transport.read(min(left, 0.5)))
            except p.ProtocolError as damaged:
                frames, self.frames = self.frames, []
                return frames, f"damaged frame from the device: {damaged}"
        frames, self.frames = self.frames, []
        return frames, None

    def pending(self, quiet: float) -> list[tuple[int, bytes]]:
        """Whatever arrives until `quiet` seconds pass without a byte (decoding errors swallowed)."""
        frames = self.frames
        self.frames = []
        while True:
            data = self.transport.read(quiet)
            if not data:
                return frames
            try:
                frames += self.decoder.feed(data)
            except p.ProtocolError:
                self.decoder = p.Decoder()


def _compare(answer: Answer, kind: int, payload: bytes) -> str | None:
    """None when the frame is the predicted answer, else what differs."""
    got = _describe([(kind, payload)])
    if kind != answer.kind:
        return f"expected {answer.name}, got {got} {payload.hex()}"
    if kind == p.Reply.NAK and (len(payload) != 2 or payload[1] != answer.code):
        return f"expected {answer.name}, got NAK {payload.hex()}"
    if answer.payload is not None and payload != answer.payload:
        return f"expected {answer.name} {answer.payload.hex()}, got {payload.hex()}"
    return None


def _describe(frames) -> str:
    return ", ".join(Answer(kind).name + ("" if kind != p.Reply.NAK else f" ({payload.hex()})")
                     for kind, payload in frames) or "nothing"


def fuzz(transport, image: bytes, inputs, *, build: p.BuildInfo, program: bytes, instructions: int,
         prompt: list[int], expected: list[int], info=None, check_every: int = 1000,
         cycles_per_second: float = 100_000, slack: float = 1.0, max_failures: int = 20,
         progress: Callable[[FuzzResult], None] | None = None, progress_every: int = 10_000) -> FuzzResult:
    """Load `program` and `image` into the device behind `transport` (stopped), send each input (bytes or
    (family, bytes)) and wait for exactly the answers ReceiverModel predicts: in order, of the predicted
    kind and NAK code (HELLO_REPLY, ACK and NAK payloads byte for byte; STATUS_REPLY's state, FIFO room
    and held image). Hang: not all answers within the deadline, in device cycles (the input's bytes,
    the replies, the frame timeout) at `cycles_per_second` plus `slack` seconds. Every `check_every`
    inputs and at the end a STATUS shows whether anything was written. Then the program is started as
    loaded (not sent again) and must generate `expected` from `prompt`; with `info`, host.run.run does the
    whole host flow once more (the image held, not sent again). An input holding an intact START or
    SEND_WORDS is refused (ValueError): the device must stay idle; intact writes are counted
    (legitimate_writes) and the image loaded again after them."""
    from host.driver import Driver
    from hw.accelerator import CountersLayout

    driver = Driver(transport, timeout=60.0, counter_names=list(CountersLayout().members))
    if driver.status().state != "IDLE":
        driver.stop()
    driver.load_program(program)
    driver.load_image(image)
    model = ReceiverModel(build, held=HeldImage.loaded(image))
    result = FuzzResult()
    channel = _Channel(transport)
    timeout_cycles = build.frame_timeout_cycles

    def fail(message: str) -> None:
        if len(result.failures) < max_failures:
            result.failures.append(message)

    def resync() -> bool:
        """After a surprise: let the device finish (a frame under way times out), then STATUS answers
        (a few tries: the STATUS may land inside a frame left open)."""
        for _ in range(3):
            channel.pending(0.2 + 2 * timeout_cycles / cycles_per_second)
            transport.write(p.encode(p.Command.STATUS))
            deadline = time.monotonic() + slack + 10_000 / cycles_per_second
            while time.monotonic() < deadline:
                frames, _ = channel.wait(1, deadline)
                for kind, payload in frames:
                    if kind == p.Reply.STATUS_REPLY:
                        channel.pending(0.05)
                        check_status(payload, "after a resync")
                        return True
        return False

    def check_status(payload: bytes, where: str) -> bool:
        result.held_checks += 1
        if len(payload) < p.STATUS_HEAD.size:
            fail(f"{where}: STATUS_REPLY of {len(payload)} bytes")
            result.corrupted_writes += 1
            return False
        state, error, _, free, held, crc = p.STATUS_HEAD.unpack_from(payload)
        got = (state, error, free, held, crc)
        if got != model.status():
            result.corrupted_writes += 1
            fail(f"{where}: STATUS_REPLY (state, error, fifo free, held bytes, held CRC) = {got}, "
                 f"expected {model.status()}")
            restore()
            return False
        return True

    def restore() -> None:
        """Back to the known state after a write (the image loaded again, the FIFO as it was)."""
        nonlocal model
        driver.decoder, driver.frames = p.Decoder(), driver.frames.__class__()
        if driver.status().state != "IDLE":
            driver.stop()
        driver.load_image(image)
        model = ReceiverModel(build, held=HeldImage.loaded(image))

    def periodic(where: str) -> None:
        transport.write(p.encode(p.Command.STATUS))
        frames, damaged = channel.wait(1, time.monotonic() + slack + 10_000 / cycles_per_second)
        if damaged or len(frames) != 1 or frames[0][0] != p.Reply.STATUS_REPLY:
            result.mismatches += 1
            fail(f"{where}: STATUS answered {_describe(frames)} {damaged or ''}")
            if not resync():
                result.hangs += 1
            return
        check_status(frames[0][1], where)

    def deadline_cycles(data: bytes, answers: list[Answer]) -> int:
        """Device cycles the input may take: a byte a cycle in, each reply out, the frame timeout."""
        return 4 * len(data) + 400 * len(answers) + 2 * timeout_cycles + 1000

    started = time.monotonic()
    for number, item in enumerate(inputs):
        family, data = item if isinstance(item, tuple) else ("input", item)
        prediction = model.feed(data)
        if {"START", "SEND_WORDS"} & set(prediction.writes):
            raise ValueError(f"input {number} ({data.hex()}) would start the program or queue words: "
                             "the fuzz keeps the device idle")
        result.inputs += 1
        result.bytes_sent += len(data)
        result.families[family] += 1
        transport.write(data)
        problem, frames = None, []
        expected_answers = prediction.answers
        if expected_answers and problem is None:
            deadline = time.monotonic() + slack + deadline_cycles(data, expected_answers) / cycles_per_second
            more, problem = channel.wait(len(expected_answers) - len(frames), deadline)
            frames += more
        if expected_answers or frames:
            if problem is None and len(frames) < len(expected_answers):
                problem = "hang"
            for k, (answer, (kind, payload)) in enumerate(zip(expected_answers, frames)):
                if problem:
                    break
                differs = _compare(answer, kind, payload)
                if differs:
                    problem = f"answer {k}: {differs}"
            if problem is None and len(frames) > len(expected_answers):
                problem = f"extra frames: {_describe(frames[len(expected_answers):])}"
            if problem:
                if problem == "hang":
                    result.hangs += 1
                else:
                    result.mismatches += 1
                fail(f"input {number} ({family}, {len(data)} bytes) {data.hex()}: {problem}; expected "
                     f"{[a.name for a in expected_answers]}, got {_describe(frames)}")
                if not resync() and problem == "hang":
                    fail("the device does not answer STATUS: stopped")
                    break
            else:
                for answer, (kind, payload) in zip(expected_answers, frames):
                    result.answers[answer.name] += 1
                    if answer.kind == p.Reply.STATUS_REPLY:
                        check_status(payload, f"input {number} ({data.hex()})")
        if prediction.writes:                               # only given inputs (the generator makes none)
            result.legitimate_writes.update(prediction.writes)
            restore()
        if check_every and (number + 1) % check_every == 0:
            periodic(f"after input {number}")
        if progress and (number + 1) % progress_every == 0:
            result.seconds = time.monotonic() - started
            progress(result)
    periodic("after the fuzz")
    extra = channel.pending(0.3)
    if extra:
        result.mismatches += 1
        fail(f"after the fuzz: unexpected frames {_describe(extra)}")
    result.seconds = time.monotonic() - started

    # A good request: the program as loaded before the fuzz (not sent again) generates the golden tokens.
    driver.decoder, driver.frames = p.Decoder(), driver.frames.__class__()
    result.expected_tokens = list(expected)
    try:
        driver.start(instructions, len(image))
        result.golden_tokens = list(driver.generate(prompt, len(expected)))
        result.golden = result.golden_tokens == list(expected)
        if info is not None:                                # the whole host flow: held image, not sent again
            from host.run import run
            again = run(image, info, prompt, len(expected), transport, timeout=60.0)
            result.golden = result.golden and again.tokens == list(expected) and not again.image_sent
    except Exception as error:                             # reported, not raised: the figures still count
        result.golden = False
        fail(f"the golden request failed: {type(error).__name__}: {error}")
    if not result.golden:
        fail(f"golden tokens {result.expected_tokens}, got {result.golden_tokens}")
    return result
