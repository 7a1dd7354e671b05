"""The driver's windowed image load over datagrams (host.protocol "Datagrams") against a device model
that loses and damages datagrams both ways: the device's memory ends up holding exactly the image (a
damaged frame writes nothing, lost ones are sent again from where the device's held sequence ends), or
the load fails with a LinkError; never a silent success with other bytes. The device model is the link's
reference (sim/link/reference.py: HeldImage) behind a datagram queue; no hardware here."""

from __future__ import annotations

import random
import struct
from collections import deque

import pytest

from host import protocol as p
from host.driver import Driver, LinkError
from sim.link.reference import HeldImage

CHUNK = p.MAX_PAYLOAD - 4


class LossyDatagramDevice:
    """A transport (lossy, windowed) to a device that takes datagrams in order: WRITE_IMAGE writes its
    memory and the held image, STATUS reports it. `faults` maps the n-th datagram from the host (1-based)
    or the n-th answer ("answer", n) to "drop" or "corrupt"."""

    lossy, window = True, p.DATAGRAM_WINDOW

    def __init__(self, size: int, faults: dict):
        self.memory, self.held, self.faults = bytearray(size), HeldImage(), faults
        self.answers: deque[bytes] = deque()
        self.sent = self.answered = 0

    def write(self, data: bytes) -> None:
        self.sent += 1
        fault = self.faults.get(self.sent)
        if fault == "drop":
            return
        if fault == "corrupt":
            data = data[:20] + bytes([data[20] ^ 0x04]) + data[21:]
        try:
            frames = p.Decoder().feed(data)
        except p.ProtocolError:
            return self._answer(p.Reply.NAK, bytes([data[1], p.NakCode.BAD_CRC]))
        for kind, payload in frames:
            if kind == p.Command.WRITE_IMAGE:
                (address,) = struct.unpack_from("<I", payload)
                self.memory[address:address + len(payload) - 4] = payload[4:]
                self.held.write(address, payload[4:])
                self._answer(p.Reply.ACK, bytes([kind]))
            elif kind == p.Command.STATUS:
                self._answer(p.Reply.STATUS_REPLY, p.STATUS_HEAD.pack(0, 0, 0, p.HOST_FIFO_WORDS, *self.held.reported))

    def _answer(self, kind, payload) -> None:
        self.answered += 1
        fault = self.faults.get(("answer", self.answered))
        frame = p.encode(kind, payload)
        if fault == "drop":
            return
        if fault == "corrupt":
            frame = frame[:-1] + bytes([frame[-1] ^ 1])
        self.answers.append(frame)

    def read(self, timeout: float) -> bytes:
        return self.answers.popleft() if self.answers else b""


@pytest.mark.parametrize("faults", [
    {},
    {3: "drop"},                                            # a frame of the first window lost
    {9: "corrupt"},                                         # a frame damaged: NAK BAD_CRC
    {("answer", 5): "drop", ("answer", 12): "corrupt"},     # answers lost and damaged
    {2: "drop", 3: "drop", 4: "corrupt", 30: "drop"},       # several in one window, and a lost STATUS
])
def test_the_windowed_load_leaves_exactly_the_image_in_memory(faults):
    image = random.Random(3).randbytes(23 * CHUNK + 100)
    device = LossyDatagramDevice(len(image), faults)
    driver = Driver(device, timeout=0.05, retries=3, counter_names=[])
    loaded = []
    driver.load_image(image, loaded.append)
    assert device.memory == image and device.held.reported == (len(image), p.crc32(image))
    assert sum(loaded) == len(image)
    frames = -(-len(image) // CHUNK)                        # each once, and the final STATUS; more after a fault
    assert device.sent == frames + 1 if not faults else device.sent > frames + 1


def test_a_device_that_loses_every_frame_makes_the_load_fail_not_hang():
    image = bytes(5 * CHUNK)
    device = LossyDatagramDevice(len(image), {n: "drop" for n in range(1, 1000) if n % 7 != 0})   # STATUS gets through at times
    driver = Driver(device, timeout=0.01, retries=2, counter_names=[])
    with pytest.raises(LinkError):
        driver.load_image(image)


def test_the_udp_transport_sends_a_frame_a_datagram_and_reads_what_came():
    import socket

    from golden.errors import MmfreeError
    from host.transport import UdpTransport

    assert UdpTransport.parse("udp://192.168.1.50") == ("192.168.1.50", p.UDP_PORT)
    assert UdpTransport.parse("udp://board.local:9000") == ("board.local", 9000)
    for bad in ("udp://", "udp://host:port", "udp://host:70000"):
        with pytest.raises(MmfreeError, match="udp://HOST"):
            UdpTransport.parse(bad)
    device = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    device.bind(("127.0.0.1", 0))
    link = UdpTransport(*device.getsockname())
    try:
        frames = [p.encode(p.Command.STATUS), p.encode(p.Command.HELLO, bytes([p.PROTOCOL_VERSION]))]
        for frame in frames:
            link.write(frame)
        received = [device.recvfrom(2048) for _ in frames]
        assert [datagram for datagram, _ in received] == frames
        for datagram, host in received:
            device.sendto(datagram, host)
        assert link.read(1.0) + link.read(0.2) == b"".join(frames)
        assert link.read(0.01) == b""
    finally:
        link.close()
        device.close()
