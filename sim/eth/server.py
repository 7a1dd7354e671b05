"""cocotb module: the Ethernet device (hw.eth_device.EthernetDevice: LiteEth's core, the datagram bridge,
the link front end, the accelerator) served to a host driver over real UDP datagrams on localhost.

The host (host.transport.CocotbUdpTransport) binds a UDP socket on HOST_UDP_PORT and starts this
simulation; the testbench binds its own, says it is ready with an empty datagram, then carries each of the
host's datagrams to the device as a real Ethernet/IPv4/UDP frame on the GMII receive pins
(cocotbext-eth's GmiiSource: preamble, FCS), and each frame on the GMII transmit pins (GmiiSink; FCS,
IPv4 header checksum and lengths checked here) back to the host as a datagram from the device's port.
It answers the core's ARP requests for the host's address, as the host's network stack would.

FAULTS (optional, e.g. "drop:2,corrupt:4"): the n-th WRITE_IMAGE datagram from the host (1-based,
resends counted) is dropped, or has one payload bit flipped (Ethernet FCS recomputed: only the link's CRC
can catch it). STATS_FILE: where the load's timing goes (JSON: image bytes and frames, the cycles from the
first WRITE_IMAGE frame on the wire to the last WRITE_IMAGE ACK, the device's NAKs). The simulation ends when the host sends
an empty datagram.
"""

import json
import logging
import os
import select
import socket
import struct
import zlib

import cocotb
from cocotb.clock import Clock
from cocotb.queue import QueueEmpty
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.eth import GmiiFrame, GmiiSink, GmiiSource

from host import protocol as p
from sim.clocking import CLOCK_PERIOD_NS
from sim.link.cycle_clock import CycleCounter
from sim.memory_model import MEMORIES, ExternalMemory

DEVICE_MAC, DEVICE_IP = bytes.fromhex("10e2d5000001"), bytes([192, 168, 1, 50])     # hw/liteeth/gmii_sim.yml
HOST_MAC, HOST_IP = bytes.fromhex("020000000064"), bytes([192, 168, 1, 100])
ETH_IPV4, ETH_ARP = 0x0800, 0x0806
POLL_CYCLES = 32            # cycles between socket polls


def ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(payload: bytes, *, src_port: int, ident: int) -> bytes:
    """An Ethernet frame (no preamble, no FCS) holding an IPv4/UDP datagram from the host to the device
    (UDP checksum 0: none, as IPv4 allows)."""
    udp = struct.pack("!HHHH", src_port, p.UDP_PORT, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0x4000, 64, 17, 0, HOST_IP, DEVICE_IP)
    header = header[:10] + struct.pack("!H", ip_checksum(header)) + header[12:]
    return DEVICE_MAC + HOST_MAC + struct.pack("!H", ETH_IPV4) + header + udp


def arp_reply(request: bytes) -> bytes | None:
    """The host's answer to an ARP request for its address (None for any other ARP packet)."""
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack("!HHBBH6s4s6s4s", request[:28])
    if op != 1 or tpa != HOST_IP:
        return None
    body = struct.pack("!HHBBH6s4s6s4s", 1, ETH_IPV4, 6, 4, 2, HOST_MAC, HOST_IP, sha, spa)
    return sha + HOST_MAC + struct.pack("!H", ETH_ARP) + body


def udp_payload(frame: bytes) -> tuple[int, bytes]:
    """(destination port, payload) of the device's IPv4/UDP frame; AssertionError for a malformed one."""
    assert frame[:6] == HOST_MAC and frame[6:12] == DEVICE_MAC, frame[:12].hex()
    header = frame[14:34]
    assert header[0] == 0x45 and header[9] == 17 and ip_checksum(header) == 0, header.hex()
    assert header[12:16] == DEVICE_IP and header[16:20] == HOST_IP
    total = struct.unpack("!H", header[2:4])[0]
    src_port, dst_port, length, checksum = struct.unpack("!HHHH", frame[34:42])
    assert src_port == p.UDP_PORT and length == total - 20, (src_port, length, total)
    return dst_port, frame[42:42 + length - 8]


class LoadTiming:
    """The load's span in cycles: from the first WRITE_IMAGE frame on the wire to the last one's ACK."""

    def __init__(self):
        self.first = self.last = None
        self.frames = self.image_bytes = 0
        self.naks: list[str] = []           # the device's NAKs (command, code), hex

    def sent(self, datagram: bytes) -> None:
        if len(datagram) > 1 and datagram[1] == p.Command.WRITE_IMAGE:
            self.first = _cycle() if self.first is None else self.first
            self.frames += 1
            self.image_bytes += len(datagram) - p.HEAD.size - p.CRC.size - 4

    def answered(self, datagram: bytes) -> None:
        if datagram[1:2] == bytes([p.Reply.ACK]) and datagram[4:5] == bytes([p.Command.WRITE_IMAGE]):
            self.last = _cycle()
        if datagram[1:2] == bytes([p.Reply.NAK]):
            self.naks.append(datagram[4:6].hex())


def _cycle() -> int:
    return int(get_sim_time("ns") // CLOCK_PERIOD_NS)


@cocotb.test()
async def serve(dut):
    # One clock for the core's system side and its GMII side (hw/liteeth/gmii_sim.yml): a byte a cycle each way.
    cocotb.start_soon(Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start())
    cocotb.start_soon(Clock(dut.gmii_clocks_rx, CLOCK_PERIOD_NS, unit="ns").start())
    for name in ("gmii_clocks_tx", "gmii_col", "gmii_crs", "gmii_mdio", "gmii_rx_er", "gmii_rx_dv"):
        getattr(dut, name).value = 0
    dut.gmii_int_n.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 8)
    dut.rst.value = 0
    source = GmiiSource(dut.gmii_rx_data, dut.gmii_rx_er, dut.gmii_rx_dv, dut.clk)
    sink = GmiiSink(dut.gmii_tx_data, dut.gmii_tx_er, dut.gmii_tx_en, dut.clk)
    for endpoint in (source, sink):
        endpoint.log.setLevel(logging.WARNING)              # not a line per frame
    memory = ExternalMemory(dut, b"", MEMORIES[os.environ["MEMORY"]], writable=True, size=int(os.environ["MEMORY_BYTES"]))
    memory.start()
    faults = {int(n): kind for kind, n in (item.split(":") for item in os.environ.get("FAULTS", "").split(",") if item)}
    timing, image_frames_seen, ident = LoadTiming(), 0, 0

    counter = CycleCounter(os.environ["CYCLE_FILE"])           # the host's waits count these cycles
    host = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    host.bind(("127.0.0.1", 0))
    host.connect(("127.0.0.1", int(os.environ["HOST_UDP_PORT"])))
    host.send(b"")                                          # ready
    host.setblocking(False)
    await ClockCycles(dut.clk, 64)                          # the core's reset synchronisers
    while True:
        await ReadOnly()
        quiet = dut.quiet.value == 1 and dut.gmii_tx_en.value == 0 and source.empty() and sink.empty()
        waiting, _, _ = select.select([host], [], [], 0.01 if quiet else 0)
        if waiting:
            try:
                datagram = host.recv(65536)
            except ConnectionRefusedError:                  # the host has gone
                break
            if not datagram:
                break
            ident += 1
            frame = bytearray(udp_frame(datagram, src_port=int(os.environ["HOST_UDP_PORT"]), ident=ident))
            fault = None
            if datagram[1:2] == bytes([p.Command.WRITE_IMAGE]):
                image_frames_seen += 1
                fault = faults.get(image_frames_seen)
            if fault == "corrupt":
                frame[42 + 20] ^= 0x10                      # an image byte of the link frame
            if fault != "drop":
                timing.sent(datagram)
                await RisingEdge(dut.clk)
                source.send_nowait(GmiiFrame.from_payload(bytes(frame)))
            if fault:
                dut._log.info(f"WRITE_IMAGE datagram {image_frames_seen}: {fault}")
        while True:
            try:
                received = sink.recv_nowait()
            except QueueEmpty:
                break
            assert received.check_fcs(), "the device sent a frame with a bad FCS"
            frame = bytes(received.get_payload())
            ethertype = struct.unpack("!H", frame[12:14])[0]
            if ethertype == ETH_ARP:
                reply = arp_reply(frame[14:])
                if reply:
                    await RisingEdge(dut.clk)
                    source.send_nowait(GmiiFrame.from_payload(reply))
            elif ethertype == ETH_IPV4:
                port, payload = udp_payload(frame)
                assert port == int(os.environ["HOST_UDP_PORT"]), port
                timing.answered(payload)
                host.send(payload)
        await ClockCycles(dut.clk, POLL_CYCLES)
        counter.cycles = _cycle()
    if os.environ.get("STATS_FILE"):
        with open(os.environ["STATS_FILE"], "w") as out:
            json.dump({"image_frames": timing.frames, "image_bytes": timing.image_bytes, "first_cycle": timing.first,
                       "last_ack_cycle": timing.last, "datagrams": ident, "naks": timing.naks}, out)
    host.close()
