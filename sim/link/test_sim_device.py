"""`mmfree sim-device`: the simulated device as a standalone server, reached over its pseudo-terminal
(pyserial, as a board's serial port) and its TCP port, by clients that come and go. `mmfree run` through
either prints exactly what `mmfree run --device sim` prints, and a second run does not reload the image.
"""

import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from host import protocol as p
from mmfree.cli import main

MODEL = ["--model", "random:tiny:8", "--format", "2bit", "--lanes", "16", "--memory", "sdram",
         "--timeout-cycles", "256"]                      # the device the other link tests build (one Verilator build)
RUN = ["--prompt", "ab", "--max-tokens", "5", "--timeout", "60"]


@pytest.fixture(scope="module")
def server():
    process = subprocess.Popen([sys.executable, "-c", "import sys; from mmfree.cli import main; sys.exit(main())",
                                "sim-device", *MODEL], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    endpoints, seen = {}, []
    deadline = time.monotonic() + 600                    # the first start builds the device (cached after)
    while len(endpoints) < 2 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if match := re.match(r"listening on (tcp:\S+)", line):
            endpoints["tcp"] = match.group(1)
        elif match := re.match(r"serial port (\S+)", line):
            endpoints["pty"] = match.group(1)
    assert len(endpoints) == 2, "".join(seen)
    yield process, endpoints
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[0]
    assert process.returncode == 0, rest
    assert re.search(r"stopped after [\d,]+ cycles .* cycles/s \(measured\)", rest), rest


def run(capsys, device):
    code = main(["run", *MODEL, *RUN, "--device", device])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured


def test_pty_and_tcp_clients_get_what_the_simulated_run_prints(server, capsys):
    _, endpoints = server
    alone = run(capsys, "sim")                            # a simulated device of its own
    through_pty = run(capsys, endpoints["pty"])
    assert through_pty.out == alone.out and "[load] 0" not in through_pty.err
    again = run(capsys, endpoints["pty"])                 # the client left and came back: no reload
    assert again.out == alone.out and "not sent again" in again.err
    over_tcp = run(capsys, endpoints["tcp"])
    assert over_tcp.out == alone.out and "not sent again" in over_tcp.err


def test_the_server_survives_clients_that_vanish_mid_frame(server, capsys):
    _, endpoints = server
    host, port = endpoints["tcp"][4:].rsplit(":", 1)
    for cut in (1, 3, 7):                                 # a HELLO frame cut short, then the client is gone
        with socket.create_connection((host, int(port))) as client:
            client.sendall(p.encode(p.Command.HELLO, bytes([p.PROTOCOL_VERSION]))[:cut])
    busy = socket.create_connection((host, int(port)))    # a second client while one is connected: refused
    try:
        other = socket.create_connection((host, int(port)))
        other.settimeout(10)
        assert other.recv(1) == b""
        other.close()
    finally:
        busy.close()
    result = run(capsys, endpoints["tcp"])
    assert result.out.startswith("ab") and "cycles/token" in result.err
