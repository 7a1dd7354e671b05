"""host.batched.BatchedSession under `mmfree serve`'s scheduler, on the ISS running the batched program (the
device's instruction set, B Q slots): requests queued, admitted into free slots between decode steps, each
returning exactly the sequential golden model's greedy continuation."""

import threading

import numpy as np
import pytest

from assembler.batch_compiler import compile_batched
from assembler.iss import InstructionSetSimulator
from golden.config import preset
from golden.hwexact import HardwareExactModel
from golden.image import image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model
from host.batched import BatchedSession
from host.scheduler import Scheduler


class IssDriver:
    """The Driver's send_words / next_word on the ISS: words in, the program run until it waits, words out."""

    def __init__(self, iss: InstructionSetSimulator):
        self.iss, self.steps = iss, 0

    def send_words(self, words):
        self.iss.send(*words)
        assert self.iss.run() == "waiting"
        self.steps += 1

    def next_word(self, timeout=None):
        return self.iss.host_out.pop(0)


def _session(batch: int, seed: int = 3):
    qmodel = quantize_model(random_model(preset("tiny"), seed=seed))
    image = image_bytes(qmodel, TritFormat.TRITS_2BIT)
    program = compile_batched(parse_header(image), batch)
    iss = InstructionSetSimulator(program.program.instructions, image, TritFormat.TRITS_2BIT, batch=batch)
    driver = IssDriver(iss)
    return BatchedSession(driver, program), driver, HardwareExactModel(qmodel)


def test_concurrent_requests_through_the_scheduler_are_each_the_golden_continuation():
    session, driver, golden = _session(batch=3)
    rng = np.random.default_rng(0)
    requests = [([int(t) for t in rng.integers(0, 256, size=length)], generate)
                for length, generate in [(4, 5), (1, 3), (7, 6), (2, 1), (5, 4), (3, 7), (6, 2)]]
    scheduler = Scheduler(session, queue_size=len(requests), log=lambda line: None)
    results = {}

    def client(index, prompt, generate):
        results[index] = list(scheduler.submit(prompt, generate).tokens())

    try:
        threads = [threading.Thread(target=client, args=(i, *r)) for i, r in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        scheduler.close()
    assert len(results) == len(requests)
    for index, (prompt, generate) in enumerate(requests):
        assert results[index] == golden.generate(prompt, generate), index


def test_a_decode_step_serves_every_busy_slot_at_once():
    """Three requests admitted together: their tokens come from shared decode steps, not one step each."""
    session, driver, golden = _session(batch=3, seed=4)
    prompts = [[1, 2], [3], [4, 5, 6, 7]]
    for slot, prompt in enumerate(prompts):
        session.admit(slot, prompt, 4)
    prefills = driver.steps
    tokens = {slot: [] for slot in range(3)}
    while any(len(t) < 4 for t in tokens.values()):
        for slot, token in session.step().items():
            tokens[slot].append(token)
    assert driver.steps - prefills == 3                       # 4 tokens each: the prefill's and 3 shared steps
    for slot, prompt in enumerate(prompts):
        assert tokens[slot] == golden.generate(prompt, 4)


def test_bad_admissions_are_refused():
    session, _, _ = _session(batch=2)
    with pytest.raises(ValueError, match="slot"):
        session.admit(2, [1], 1)
    with pytest.raises(ValueError, match="prompt"):
        session.admit(0, [], 1)
