"""The scheduler of `mmfree serve`: requests from many HTTP handlers, one device, one worker thread.

    handlers --submit--> waiting (bounded queue) --schedule--> slots[0 .. batch-1] --step--> tokens
                                                                     |                          |
                                                   DeviceSession.admit(slot, ...)   Request.events (per request)

Only the worker thread touches the device (a DeviceSession: the Driver with program and image loaded). Its
loop is continuous batching: `schedule()` admits waiting requests into free slots, then `step()` runs one
decode step, which gives the next token of every busy slot. A device of BuildInfo.batch 1 serves one request
at a time (one slot); a batched device (B slots decoded together) runs assembler.batch_compiler's program through
host.batched.BatchedSession, and the loop admits a new request into a slot as soon as it frees, between
decode steps.

A slot is free only when the device owes it no more tokens: the serving program always sends the
`max_tokens` it was asked for (STOP stops only a program waiting for a request), so a request that ends
early (a stop string, a client gone) leaves its slot draining: its remaining tokens are read and dropped.
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import threading
import traceback

from golden.errors import MmfreeError

IDLE_POLL_SECONDS = 0.2         # how often an idle worker looks up from the queue to see whether to close


class QueueFull(MmfreeError):
    """Every waiting place is taken (HTTP 429)."""


class Unavailable(MmfreeError):
    """The device failed and could not be brought back, or the server is stopping (HTTP 503)."""


class DeviceFailure(MmfreeError):
    """The device failed while serving this request (HTTP 500)."""


@dataclasses.dataclass(frozen=True)
class Token:
    token: int


@dataclasses.dataclass(frozen=True)
class Finished:
    """The device sent every token asked for."""


@dataclasses.dataclass(frozen=True)
class Failed:
    error: MmfreeError          # DeviceFailure or Unavailable


class Request:
    """One request: `prompt` (token ids) and `max_tokens` (tokens to generate); its tokens come through
    `tokens()` as the device sends them. `cancel()` when the caller needs no more (a stop string, a client
    gone): the scheduler then drops its tokens and skips it if it still waits."""

    def __init__(self, prompt: list[int], max_tokens: int):
        self.prompt, self.max_tokens = prompt, max_tokens
        self.events: queue.Queue[Token | Finished | Failed] = queue.Queue()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def tokens(self):
        """The token ids as they arrive; raises the Failed event's error (DeviceFailure, Unavailable)."""
        while True:
            event = self.events.get()
            if isinstance(event, Token):
                yield event.token
            elif isinstance(event, Failed):
                raise event.error
            else:
                return


@dataclasses.dataclass
class Slot:
    """A request slot of the device: the request in it (None once that request ended early: the slot drains)
    and the tokens the device still owes the slot."""
    request: Request | None
    remaining: int


class DeviceSession:
    """The device with the serving program and the model image loaded once (host.run.load): requests go to
    slots, one decode step gives each busy slot's next token. timeout: seconds to wait for any answer."""

    def __init__(self, image: bytes, info, transport, *, timeout: float, progress=None, log=lambda line: None):
        self.image, self.info, self.transport, self.timeout, self.log = image, info, transport, timeout, log
        self._load(progress)

    def _load(self, progress=None) -> None:
        from .run import load

        loaded = load(self.image, self.info, self.transport, timeout=self.timeout, progress=progress, log=self.log)
        self.driver, self.build = loaded.driver, loaded.build
        self.batched = None
        if self.build.batch > 1:                 # B slots: prefill and decode steps (host.batched)
            from .batched import BatchedSession
            self.batched = BatchedSession(self.driver, loaded.compiled, timeout=self.timeout)

    @property
    def batch(self) -> int:
        """Request slots the device decodes together (BuildInfo.batch)."""
        return self.build.batch

    def admit(self, slot: int, prompt: list[int], max_tokens: int) -> None:
        """Send a request to `slot` (one slot: the serving program's RECV; B slots: its prefill steps)."""
        if self.batched is not None:
            self.batched.admit(slot, prompt, max_tokens)
        else:
            self.driver.send_words([len(prompt), max_tokens, *prompt])

    def step(self) -> dict[int, int]:
        """One decode step: {slot: its next token} for every busy slot."""
        if self.batched is not None:
            return self.batched.step()
        return {0: self.driver.next_word(self.timeout)}

    def recover(self) -> None:
        """After a failure: the load again (the link resynchronised; an image the device holds is not resent)."""
        self._load()


class Scheduler:
    """Owns `session` (a DeviceSession, or anything with its batch / admit / step / recover) on one worker
    thread; at most `queue_size` requests wait for a slot (submit raises QueueFull past that)."""

    def __init__(self, session, *, queue_size: int, log=lambda line: print(line, file=sys.stderr, flush=True)):
        if not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be an int >= 1 (requests waiting), not {queue_size!r}")
        self.session, self.log = session, log
        self.waiting: queue.Queue[Request] = queue.Queue(maxsize=queue_size)
        self.slots: list[Slot | None] = [None] * session.batch
        self.unavailable: str | None = None     # why the device cannot serve any more (None: it can)
        self._closing = threading.Event()
        self.worker = threading.Thread(target=self._work, name="mmfree-scheduler", daemon=True)
        self.worker.start()

    def submit(self, prompt: list[int], max_tokens: int) -> Request:
        """Queue a request (checked by the caller: host.run.check_prompt); QueueFull or Unavailable at once."""
        if self.unavailable:
            raise Unavailable(self.unavailable)
        request = Request(prompt, max_tokens)
        try:
            self.waiting.put_nowait(request)
        except queue.Full:
            waits = "1 request waits" if self.waiting.maxsize == 1 else f"{self.waiting.maxsize} requests wait"
            raise QueueFull(f"the queue is full ({waits} for the device): try again later") from None
        if self.unavailable:                    # it failed while this one went in: the worker may be gone
            self._fail_all(Unavailable(self.unavailable))
        return request

    def schedule(self) -> list[int]:
        """Admit waiting requests into free slots, between decode steps; the slots filled. With every slot
        free it waits up to IDLE_POLL_SECONDS for a request."""
        filled = []
        for index, slot in enumerate(self.slots):
            if slot is not None:
                continue
            request = self._next_waiting(block=not any(self.slots) and not filled)
            if request is None:
                break
            self.slots[index] = Slot(request, request.max_tokens)     # first: a failing admit fails this request
            self.session.admit(index, request.prompt, request.max_tokens)
            filled.append(index)
        return filled

    def _next_waiting(self, block: bool) -> Request | None:
        """The oldest waiting request not cancelled, or None."""
        while True:
            try:
                request = self.waiting.get(timeout=IDLE_POLL_SECONDS) if block else self.waiting.get_nowait()
            except queue.Empty:
                return None
            if not request.cancelled:
                return request

    def step(self) -> None:
        """One decode step of the busy slots: each token to its request; a slot the device owes nothing
        more frees (its request Finished)."""
        if not any(self.slots):
            return
        for index, token in self.session.step().items():
            slot = self.slots[index]
            if slot.request is not None and slot.request.cancelled:
                slot.request = None             # ended early: the slot drains
            if slot.request is not None:
                slot.request.events.put(Token(token))
            slot.remaining -= 1
            if slot.remaining == 0:
                if slot.request is not None:
                    slot.request.events.put(Finished())
                self.slots[index] = None

    def _work(self) -> None:
        while not self._closing.is_set():
            try:
                self.schedule()
                self.step()
            except Exception as error:           # noqa: BLE001  (the device's failure ends its requests, not the server)
                if not isinstance(error, MmfreeError):
                    traceback.print_exc()        # a fault of this program, not of a request: worth its traceback
                self._fail(f"the device failed: {error}")
        self._fail_all(Unavailable(self.unavailable or "the server is stopping"))

    def _fail(self, message: str) -> None:
        """The busy slots' requests fail (DeviceFailure); the device is loaded again, or marked unavailable
        (every waiting and later request then fails with Unavailable)."""
        self.log(f"[serve] {message}")
        for slot in self.slots:
            if slot is not None and slot.request is not None:
                slot.request.events.put(Failed(DeviceFailure(message)))
        self.slots = [None] * len(self.slots)       # the device's slots start empty after the load
        if self._closing.is_set():                  # the server stops (its transport may be closed already)
            return
        try:
            self.session.recover()
            self.log("[serve] the device is loaded again")
        except Exception as error:               # noqa: BLE001
            self.unavailable = f"the device is unavailable: {message}; loading it again failed: {error}"
            self.log(f"[serve] {self.unavailable}")
            self._fail_all(Unavailable(self.unavailable))
            self._closing.set()

    def _fail_all(self, error: MmfreeError) -> None:
        """Every request in a slot or waiting fails with `error`."""
        for slot in self.slots:
            if slot is not None and slot.request is not None:
                slot.request.events.put(Failed(error))
        self.slots = [None] * len(self.slots)
        while True:
            try:
                self.waiting.get_nowait().events.put(Failed(error))
            except queue.Empty:
                return

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker after its current step (waiting requests fail with Unavailable)."""
        self.unavailable = self.unavailable or "the server is stopping"
        self._closing.set()
        self.worker.join(timeout)
