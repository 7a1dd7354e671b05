"""The host side of a batched device (BuildInfo.batch B > 1): requests in B slots, prompts prefilled B tokens a
weight pass, every slot decoded in one step (assembler/batch_compiler.py's serving program and protocol).

    Scheduler.admit(slot, prompt) ─► prefill steps of up to B prompt tokens into the slot (the first one resets its
                                     states) ─► the request's first token, held for the next step()
    Scheduler.step()              ─► one decode step of all B slots (each busy slot feeds its last token) ─► every
                                     busy slot's oldest token not yet handed out

`BatchedSession` keeps the protocol; it talks to anything with the Driver's send_words / next_word (the device
through host.driver.Driver, or the ISS in the tests). A slot not in use decodes token 0 on junk states: its
states are reset when a request is admitted into it.
"""

from __future__ import annotations

from collections import deque


class BatchedSession:
    """driver: send_words(list[int]) and next_word(timeout) (host.driver.Driver); program: the
    assembler.batch_compiler.BatchedProgram the device runs; timeout: seconds to wait for a word.
    Ports of host.scheduler.DeviceSession: batch, admit, step."""

    def __init__(self, driver, program, *, timeout: float = 60.0):
        self.driver, self.program, self.timeout = driver, program, timeout
        self.batch = program.batch
        self.last: list[int] = [0] * self.batch                 # each slot's token to feed the next decode step
        self.owed: list[int] = [0] * self.batch                 # tokens each busy slot still has to produce
        self.ready: list[deque[int]] = [deque() for _ in range(self.batch)]     # produced, not yet handed out

    def admit(self, slot: int, prompt: list[int], max_tokens: int) -> None:
        """Prefill `prompt` into `slot` (a new request: its states from zero); its first token is held."""
        if not 0 <= slot < self.batch:
            raise ValueError(f"slot {slot} outside 0..{self.batch - 1}")
        if not prompt or max_tokens < 1:
            raise ValueError("a request needs a prompt of at least one token and max_tokens >= 1")
        first = None
        for start in range(0, len(prompt), self.batch):
            first = self.prefill(slot, prompt[start:start + self.batch], reset=start == 0)
        self.ready[slot] = deque([first])
        self.last[slot], self.owed[slot] = first, max_tokens - 1

    def prefill(self, slot: int, tokens: list[int], *, reset: bool) -> int:
        """One prefill step: up to B tokens of the request in `slot`; the greedy token after the last."""
        padding = [0] * (self.batch - len(tokens))
        self.driver.send_words([len(tokens), slot * self.program.state_slot_bytes, int(reset), *tokens, *padding])
        return self.driver.next_word(self.timeout)

    def step(self) -> dict[int, int]:
        """{slot: its next token} for every slot with a token to hand out; one decode step when a busy slot owes
        a token and has none ready."""
        if any(owed and not ready for owed, ready in zip(self.owed, self.ready)):
            self.driver.send_words([0, *self.last])
            for slot in range(self.batch):
                token = self.driver.next_word(self.timeout)
                if self.owed[slot]:
                    self.ready[slot].append(token)
                    self.last[slot] = token
                    self.owed[slot] -= 1
        return {slot: ready.popleft() for slot, ready in enumerate(self.ready) if ready}
