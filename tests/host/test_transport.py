"""host.transport: a failure of the cocotb simulation thread that comes after the host's last read is reported
by close(), not lost (issue 21's finding); a clean end closes quietly."""

import socket
import threading

import pytest

from golden.errors import MmfreeError
from host.transport import CocotbTransport


def _transport_whose_simulation(outcome: BaseException | None) -> CocotbTransport:
    """A CocotbTransport connected to one end of a socket pair, its simulation thread already finished with
    `outcome` (None: it ended cleanly), as the thread records it (self.failure)."""
    transport = object.__new__(CocotbTransport)
    transport.listener = socket.create_server(("127.0.0.1", 0))
    near = socket.create_connection(transport.listener.getsockname())
    far, _ = transport.listener.accept()
    transport._adopt(near, "the cocotb simulation")
    transport._start_counting()                   # the device-cycle file its waits read (removed by close())
    transport.failure = None

    def simulate():
        if outcome is not None:
            transport.failure = outcome
        far.close()

    transport.thread = threading.Thread(target=simulate)
    transport.thread.start()
    return transport


def test_a_simulation_failure_after_the_last_read_surfaces_at_close():
    transport = _transport_whose_simulation(AssertionError("1 of 1 cocotb tests failed in sim.link.server"))
    with pytest.raises(MmfreeError, match="cocotb simulation failed: 1 of 1 cocotb tests failed"):
        transport.close()


def test_a_clean_end_closes_quietly():
    _transport_whose_simulation(None).close()
