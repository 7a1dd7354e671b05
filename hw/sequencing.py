"""FSM states shared by the units (inside `with m.FSM()`): a vector streamed through a pipeline, a
pipeline drained, a command handed to a unit and its completion taken (`dispatch`: both)."""

from contextlib import contextmanager

from amaranth import Mux


def element_pass(m, state: str, *, issue, index, length, next_state: str, enable=1) -> None:
    """State `state` puts element `index` into the pipeline each cycle `enable` is high (issue), for
    indices 0 .. length - 1, then moves to `next_state` with index back at 0."""
    last = index + 1 == length
    with m.State(state):
        m.d.comb += issue.eq(enable)
        with m.If(enable):
            m.d.sync += index.eq(Mux(last, 0, index + 1))
            with m.If(last):
                m.next = next_state


def wait_cycles(m, state: str, *, counter, cycles: int, next_state: str) -> None:
    """State `state` lasts `cycles` cycles (a pipeline draining), counting on `counter`."""
    with m.State(state):
        m.d.sync += counter.eq(counter + 1)
        with m.If(counter == cycles - 1):
            m.d.sync += counter.eq(0)
            m.next = next_state


def offer_done(m, state: str, *, done, next_state: str = "IDLE") -> None:
    """State `state` offers `done` (a stream without payload) until it is taken."""
    with offer(m, state, command=done, next_state=next_state):
        pass


@contextmanager
def offer(m, state: str, *, command, next_state: str):
    """State `state` offers `command` (a stream; the body sets its payload) and moves to `next_state`
    once it is taken."""
    with m.State(state):
        m.d.comb += command.valid.eq(1)
        yield
        with m.If(command.ready):
            m.next = next_state


@contextmanager
def on_completion(m, state: str, *, done):
    """State `state` takes `done` (a stream, always ready); the body runs in the cycle it arrives and
    chooses the next state."""
    with m.State(state):
        m.d.comb += done.ready.eq(1)
        with m.If(done.valid):
            yield


def dispatch_states(state: str) -> tuple[str, str]:
    """The states `dispatch(m, state, ...)` defines: the command offered, then its completion awaited."""
    return state, f"{state}_WAIT"


@contextmanager
def dispatch(m, state: str, *, command, done):
    """A unit's command and its completion: state `state` offers `command` (a stream; its payload is
    driven outside the FSM, it only counts while valid) until taken, then state `state`_WAIT takes `done`
    (see on_completion); the body runs in the cycle done arrives and chooses the next state."""
    offered, waiting = dispatch_states(state)
    with offer(m, offered, command=command, next_state=waiting):
        pass
    with on_completion(m, waiting, done=done):
        yield
