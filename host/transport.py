"""Byte transports of the host link: a board's serial port, or the simulated device.

Both offer write(bytes), read(timeout) -> bytes (what arrived within `timeout` seconds, possibly
nothing) and close(); the driver (host/driver.py) sees the same bytes on either.
"""

from __future__ import annotations

import socket
import threading
import time

from golden.errors import MmfreeError


class SerialTransport:
    """A board's USB-serial link (pyserial; `pip install pyserial`) at the UART rate of the board's build
    (bitstreams/targets.py)."""

    def __init__(self, port: str, baudrate: int):
        try:
            import serial
        except ImportError:
            raise MmfreeError("a serial device needs pyserial: pip install pyserial") from None
        self.port = serial.Serial(port, baudrate=baudrate, timeout=0)

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


class SimTransport:
    """The device (hw.device.Device) in cocotb + Verilator, its rx/tx bytes over a local TCP socket
    (sim/link/server.py). Building the simulation takes a while the first time (cached after)."""

    def __init__(self, device, *, memory: str, build_name: str, connect_timeout: float = 900.0,
                 log_file=None):
        """log_file: where the build's and the simulator's output go (default: the terminal)."""
        from sim.runner import run_cocotb

        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        port = self.listener.getsockname()[1]
        self.failure: BaseException | None = None

        def simulate():
            try:
                run_cocotb(device, toplevel="device", test_module="sim.link.server", build_name=build_name,
                           env={"LINK_PORT": str(port), "MEMORY": memory,
                                "MEMORY_BYTES": str(device.build.memory_bytes)}, log_file=log_file)
            except BaseException as error:         # reported by the next read or close
                self.failure = error

        self.thread = threading.Thread(target=simulate, daemon=True)
        self.thread.start()
        self.listener.settimeout(1.0)
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.connection, _ = self.listener.accept()
                break
            except socket.timeout:
                if self.failure or not self.thread.is_alive():
                    raise MmfreeError(f"the simulation did not start: {self.failure}")
                if time.monotonic() > deadline:
                    raise MmfreeError(f"the simulation did not connect within {connect_timeout:g} s")
        self.connection.settimeout(None)

    def write(self, data: bytes) -> None:
        self.connection.sendall(data)

    def read(self, timeout: float) -> bytes:
        self.connection.settimeout(max(timeout, 1e-3))
        try:
            data = self.connection.recv(65536)
        except socket.timeout:
            return b""
        if not data:
            raise MmfreeError(f"the simulation ended ({self.failure or 'connection closed'})")
        return data

    def close(self) -> None:
        self.connection.close()
        self.listener.close()
        self.thread.join(timeout=60)
