"""The scheduler's continuous batching on a scripted two-slot session (no device), and stop strings as text
arrives: the parts of `mmfree serve` that need no HTTP."""

import threading

import pytest

from host.openai_api import StopCut
from host.scheduler import Scheduler


class TwoSlotSession:
    """A batched device of two slots: step n gives slot s the token 100 s + n. `admitted` logs
    (slot, prompt, decode steps run before the admission); the first admission waits for `go`."""

    batch = 2

    def __init__(self):
        self.steps, self.admitted, self.go = 0, [], threading.Event()
        self.busy: set[int] = set()
        self.remaining: dict[int, int] = {}

    def admit(self, slot, prompt, max_tokens):
        self.go.wait(10)
        assert slot not in self.busy, f"slot {slot} admitted while busy"
        self.busy.add(slot)
        self.remaining[slot] = max_tokens
        self.admitted.append((slot, prompt, self.steps))

    def step(self):
        tokens = {slot: 100 * slot + self.steps for slot in sorted(self.busy)}
        for slot in tokens:
            self.remaining[slot] -= 1
            if self.remaining[slot] == 0:
                self.busy.discard(slot)
        self.steps += 1
        return tokens

    def recover(self):
        raise AssertionError("no failure expected")


def test_a_waiting_request_takes_a_free_slot_between_decode_steps():
    session = TwoSlotSession()
    scheduler = Scheduler(session, queue_size=4, log=lambda line: None)
    try:
        a = scheduler.submit([1], 3)               # the worker takes it and waits in admit until `go`
        b = scheduler.submit([2], 1)
        c = scheduler.submit([3], 2)
        session.go.set()
        tokens = {name: list(request.tokens()) for name, request in [("a", a), ("b", b), ("c", c)]}
    finally:
        scheduler.close()
    # a and b start together; b's slot frees after one step and c takes it before the second.
    assert session.admitted == [(0, [1], 0), (1, [2], 0), (1, [3], 1)]
    assert tokens == {"a": [0, 1, 2], "b": [100], "c": [101, 102]}


def test_the_queue_size_is_checked():
    with pytest.raises(ValueError, match="queue_size must be an int >= 1"):
        Scheduler(TwoSlotSession(), queue_size=0)


@pytest.mark.parametrize("pieces, stops, expected, stopped", [
    (["hel", "lo w", "orld"], ("lo w",), ["he", "l", ""], True),         # "l" may begin the stop: held
    (["ab", "c", "d"], ("cx",), ["ab", "", "cd"], False),                 # "c" held until "d" shows it is no stop
    (["a\n", "us", "er: hi"], ("\nuser:", "zz"), ["a", "", ""], True),
    (["xy", "z"], ("z", "yz"), ["x", ""], True),                          # the earliest of two stops wins
])
def test_stop_cut_holds_back_only_what_may_begin_a_stop(pieces, stops, expected, stopped):
    cut = StopCut(stops)
    assert [cut.push(piece) for piece in pieces] == expected
    assert cut.stopped is stopped
    assert cut.finish() == ""
