"""Byte transports of the host link: a board's serial port (or the simulated device's pseudo-terminal),
a TCP connection to a running simulated device, a simulated device of its own, or UDP datagrams (a board's
Ethernet port, or the Ethernet device in cocotb).

All offer write(bytes), read(timeout) -> bytes (what arrived within `timeout` seconds, possibly
nothing) and close(); the driver (host/driver.py) sees the same bytes on each.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time

from golden.errors import MmfreeError
from host.protocol import DATAGRAM_WINDOW, UDP_PORT


class SerialTransport:
    """A serial port (pyserial) at the UART rate of the board's build (bitstreams/targets.py): a board's
    USB-serial link, or the pseudo-terminal of `mmfree sim-device` (whose rate is ignored)."""

    def __init__(self, port: str, baudrate: int):
        import serial

        try:
            self.port = serial.Serial(port, baudrate=baudrate, timeout=0)
        except (serial.SerialException, OSError, ValueError) as error:
            raise self.cannot_open(port, error) from None

    @staticmethod
    def cannot_open(port: str, reason) -> MmfreeError:
        return MmfreeError(f"cannot open the serial port {port} ({reason}): check the path, your permissions "
                           "(e.g. the dialout group) and that the board is plugged in")

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def read(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            data = self.port.read(65536)
            if data or time.monotonic() >= deadline:
                return data
            time.sleep(0.001)

    def close(self) -> None:
        self.port.close()


class TcpTransport:
    """A TCP connection to a device's byte stream: a simulated device started by `mmfree sim-device`
    (or by SimTransport)."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 10.0):
        try:
            connection = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as error:
            raise MmfreeError(f"cannot connect to {host}:{port} ({error.strerror or error}): is the simulated "
                              "device running (mmfree sim-device)?") from None
        self._adopt(connection, f"the device at {host}:{port}")

    def _adopt(self, connection: socket.socket, where: str) -> None:
        """Use a connected socket; `where` names the other end in errors."""
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection, self.where = connection, where

    def write(self, data: bytes, timeout: float = 60.0) -> None:
        self.connection.settimeout(timeout)         # not the last read's (it may be a millisecond)
        try:
            self.connection.sendall(data)
        except OSError as error:
            raise MmfreeError(f"{self.where} closed the connection ({error})") from None

    def read(self, timeout: float) -> bytes:
        self.connection.settimeout(max(timeout, 1e-3))
        try:
            data = self.connection.recv(65536)
        except socket.timeout:
            return b""
        except OSError as error:
            raise MmfreeError(f"{self.where} closed the connection ({error})") from None
        if not data:
            raise MmfreeError(f"{self.where} closed the connection")
        return data

    def close(self) -> None:
        self.connection.close()


class SimTransport(TcpTransport):
    """A simulated device of its own (hw.device.Device in the fast Verilator harness, sim/fast), behind
    the memory model `memory` (sim.memory_model.MEMORIES), over a local TCP connection; it ends with the
    connection. The first start of a build compiles it (cached after). waves: an FST file to write;
    recipe: see sim.fast.build."""

    def __init__(self, device, *, memory: str, log_file=None, waves=None, log=None, recipe: str | None = None):
        from sim.fast import FastDevice
        from sim.memory_model import MEMORIES

        self.simulation = FastDevice(device, MEMORIES[memory], tcp_port=0, once=True, log_file=log_file,
                                     waves=waves, log=log, recipe=recipe)
        self.log_file = self.simulation.log_file
        try:
            super().__init__("127.0.0.1", self.simulation.tcp_port)
        except MmfreeError:
            self.simulation.close()
            raise

    def read(self, timeout: float) -> bytes:
        try:
            return super().read(timeout)
        except MmfreeError:
            self.simulation.check()                 # a harness error says more than a closed connection
            raise

    def close(self) -> None:
        super().close()
        self.simulation.close()
        self.simulation.check()


class _DeviceTime:
    """For a transport to a device simulated in cocotb on a thread (`self.thread`, `self.failure`): the bench counts
    the device's cycles into CYCLE_FILE (sim/link/cycle_clock.py) and every wait counts them, not wall-clock
    seconds, so a timeout is the same stretch of device time under Verilator and the slower Icarus."""

    def _start_counting(self) -> None:
        from sim.link.cycle_clock import CycleCounter
        self.cycle_file = tempfile.NamedTemporaryFile(prefix="device-cycles-", delete=False).name
        self.counter = CycleCounter(self.cycle_file, create=True)

    def _stop_counting(self) -> None:
        os.unlink(self.cycle_file)

    def clock(self) -> float:
        """The device's time: its cycles at sim/link/cycle_clock.py's nominal pace (the driver's waits count it)."""
        return self.counter.seconds()

    def read(self, timeout: float) -> bytes:
        """What arrives within `timeout` seconds of device time (self.clock)."""
        deadline = self.clock() + timeout
        while True:
            try:
                data = super().read(0.05)
            except MmfreeError as ended:
                raise MmfreeError(f"{ended} ({self.failure or 'it ended'})") from None
            if data or self.clock() >= deadline:
                return data
            if self.failure or not self.thread.is_alive():
                raise MmfreeError(f"the cocotb simulation ended ({self.failure or 'no failure reported'})")


class CocotbTransport(_DeviceTime, TcpTransport):
    """The device (hw.device.Device) in cocotb + Verilator, its rx/tx bytes over a local TCP socket
    (sim/link/server.py), a Python step per cycle: the cycle-level reference for the fast harness
    (SimTransport). Building the simulation takes a while the first time (cached after)."""

    def __init__(self, device, *, memory: str, build_name: str, connect_timeout: float = 900.0,
                 log_file=None, env: dict[str, str] | None = None):
        """log_file: where the build's and the simulator's output go (default: the terminal); env: more of the
        bench's settings (sim/link/server.py: the control bus's model)."""
        from sim.runner import run_cocotb

        self._start_counting()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        port = self.listener.getsockname()[1]
        self.failure: BaseException | None = None

        def simulate():
            try:
                run_cocotb(device, toplevel="device", test_module="sim.link.server", build_name=build_name,
                           env={"LINK_PORT": str(port), "CYCLE_FILE": self.cycle_file, "MEMORY": memory,
                                "MEMORY_BYTES": str(device.build.memory_bytes), **(env or {})}, log_file=log_file)
            except BaseException as error:         # reported by the next read or close
                self.failure = error

        self.thread = threading.Thread(target=simulate, daemon=True)
        self.thread.start()
        self.listener.settimeout(1.0)
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                connection, _ = self.listener.accept()
                break
            except socket.timeout:
                if self.failure or not self.thread.is_alive():
                    raise MmfreeError(f"the simulation did not start: {self.failure}")
                if time.monotonic() > deadline:
                    raise MmfreeError(f"the simulation did not connect within {connect_timeout:g} s")
        self._adopt(connection, "the cocotb simulation")

    def close(self) -> None:
        super().close()
        self.listener.close()
        self._stop_counting()
        self.thread.join(timeout=60)
        if self.failure:                            # a failure after the last read is not lost
            raise MmfreeError(f"the cocotb simulation failed: {self.failure}")


class UdpTransport:
    """The link over UDP (host.protocol, "Datagrams"): a board's Gigabit Ethernet port (hw/eth_link.py), or
    its simulation. Each write is one frame in one datagram; read returns the datagrams that arrived.
    Datagrams may be lost (`lossy`): the driver resends, and keeps `window` WRITE_IMAGE frames in flight."""

    lossy = True
    window = DATAGRAM_WINDOW

    def __init__(self, host: str, port: int = UDP_PORT, *, connection: socket.socket | None = None):
        try:
            self.connection = connection or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.connection.connect((host, port))      # replies from elsewhere are not ours
        except OSError as error:
            raise MmfreeError(f"cannot reach {host}:{port} over UDP ({error.strerror or error}): check the "
                              "address and the route to the board") from None
        self.where = f"the device at udp://{host}:{port}"

    @staticmethod
    def parse(device: str) -> tuple[str, int]:
        """udp://HOST[:PORT] -> (HOST, PORT) (host.protocol.UDP_PORT by default)."""
        address = device.removeprefix("udp://")
        host, _, port = address.rpartition(":") if ":" in address else (address, "", str(UDP_PORT))
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise MmfreeError(f"--device {device}: expected udp://HOST[:PORT]")
        return host, int(port)

    def write(self, data: bytes) -> None:
        try:
            self.connection.send(data)
        except OSError as error:
            raise MmfreeError(f"cannot send to {self.where} ({error.strerror or error})") from None

    def read(self, timeout: float) -> bytes:
        self.connection.settimeout(max(timeout, 1e-3))
        chunks = []
        try:
            chunks.append(self.connection.recv(65536))
            self.connection.setblocking(False)
            while True:                                 # whatever else has already arrived
                chunks.append(self.connection.recv(65536))
        except (socket.timeout, BlockingIOError):
            pass
        except ConnectionRefusedError:
            raise MmfreeError(f"{self.where} refused the datagrams (nothing listens on that port)") from None
        except OSError as error:
            raise MmfreeError(f"{self.where}: {error.strerror or error}") from None
        return b"".join(chunks)

    def close(self) -> None:
        self.connection.close()


class CocotbUdpTransport(_DeviceTime, UdpTransport):
    """hw.eth_device.EthernetDevice in cocotb + Verilator (sim/eth/server.py): the host driver's datagrams
    become real Ethernet/IPv4/UDP frames on the simulated GMII pins. env: more variables for the testbench
    (FAULTS, STATS_FILE); the first build takes a while (cached after)."""

    def __init__(self, device, *, memory: str, build_name: str, env: dict[str, str] | None = None,
                 connect_timeout: float = 900.0, log_file=None):
        from hw.eth_device import EthernetDevice
        from hw.liteeth.generate import liteeth_verilog
        from sim.runner import ROOT, run_cocotb

        connection = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        connection.bind(("127.0.0.1", 0))
        self.failure: BaseException | None = None
        top = EthernetDevice(device, phy="gmii")
        self._start_counting()
        variables = {"HOST_UDP_PORT": str(connection.getsockname()[1]), "CYCLE_FILE": self.cycle_file, "MEMORY": memory,
                     "MEMORY_BYTES": str(device.build.memory_bytes), **(env or {})}

        def simulate():
            try:
                run_cocotb(top, toplevel="eth_device", test_module="sim.eth.server", build_name=build_name,
                           env=variables, log_file=log_file,
                           extra_sources=(liteeth_verilog("gmii"), ROOT / "sim" / "eth" / "primitives.v"))
            except BaseException as error:         # reported by the next read or close
                self.failure = error

        self.thread = threading.Thread(target=simulate, daemon=True)
        self.thread.start()
        connection.settimeout(1.0)
        deadline = time.monotonic() + connect_timeout
        while True:                                 # the testbench's empty datagram: it is ready
            try:
                _, address = connection.recvfrom(16)
                break
            except socket.timeout:
                if self.failure or not self.thread.is_alive():
                    connection.close()
                    raise MmfreeError(f"the simulation did not start: {self.failure}")
                if time.monotonic() > deadline:
                    connection.close()
                    raise MmfreeError(f"the simulation did not start within {connect_timeout:g} s")
        super().__init__(*address, connection=connection)

    def close(self) -> None:
        try:
            self.connection.send(b"")               # the testbench's signal to end
        except OSError:
            pass
        super().close()
        self.thread.join(timeout=120)
        self._stop_counting()
        if self.failure:
            raise MmfreeError(f"the cocotb simulation failed: {self.failure}")
