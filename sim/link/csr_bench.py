"""The link's control-bus master (hw/link.py, hw/link_csr.py) in Amaranth's simulator, its Wishbone port answered
by the behavioural LiteDRAM CSR model (sim/litedram/csr_model.py), reached by the host driver through real frames.

    host.driver.Driver ── SteppedTransport (bytes; each read runs the simulation) ──► LinkFrontEnd rx / tx
                          (or datagrams: a frame each, through hw.eth_link.DatagramBridge)  │ control (Wishbone)
                                                                        TimedCsrSlave ◄┘ ── LiteDRAMCsrModel

TimedCsrSlave acknowledges each access ACK_LATENCY cycles after it starts (LiteX's wishbone2csr takes a couple),
and holds the model to the DFII's timing, which the model itself does not see: a phase's rddata is only valid
READ_DATA_CYCLES device cycles after its read command was issued (the ECP5 PHY's read latency, 13 cycles at 1:2,
plus the DFII's registers; host.ddr3_dfii waits 15), so reading it sooner raises ModelProtocolError. The bring-up
therefore passes only if the host's waits reach the device as WAIT operations.
"""

from __future__ import annotations

from collections import deque

from amaranth import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from host import protocol as p
from sim.litedram.csr_model import LiteDRAMCsrModel, ModelProtocolError

ACK_LATENCY = 2                     # cycles from cyc & stb to ACK
READ_DATA_CYCLES = 15               # device cycles from a DFII read command to valid rddata


class TimedCsrSlave:
    """The model behind a Wishbone port, with the DFII read latency checked (module docstring)."""

    def __init__(self, model: LiteDRAMCsrModel):
        self.model, control = model, model.control
        rdphase = control.phy.rdphase
        self.read_issue = control.address(f"sdram_dfii_pi{rdphase}_command_issue")
        self.read_command = control.address(f"sdram_dfii_pi{rdphase}_command")
        self.rddata = {control.address(f"sdram_dfii_pi{phase}_rddata") + 4 * word
                       for phase in range(control.phy.nphases) for word in range(control.csr_words[f"sdram_dfii_pi{phase}_rddata"])}
        self.read_issued_at: int | None = None
        self.accesses = 0
        self.log: list = []                              # (cycle, "write" | "read", byte address) of every access
        self.shortest_read_delay: int | None = None     # cycles between a read command and its first rddata read

    def access(self, cycle: int, address: int, write: bool, value: int) -> int:
        self.accesses += 1
        self.log.append((cycle, "write" if write else "read", address))
        if write:
            if address == self.read_issue and self.model.read(self.read_command) & self.model.control.dfii_command["rddata"]:
                self.read_issued_at = cycle
            self.model.write(address, value)
            return 0
        if address in self.rddata and self.read_issued_at is not None:
            delay = cycle - self.read_issued_at
            if delay < READ_DATA_CYCLES:
                raise ModelProtocolError(f"rddata read {delay} cycles after the read command (valid after {READ_DATA_CYCLES})")
            self.shortest_read_delay = min(delay, self.shortest_read_delay or delay)
            self.read_issued_at = None
        return self.model.read(address)


class BridgedLink(Elaboratable):
    """The link behind the datagram bridge (hw/eth_link.py), as hw.eth_device.EthernetDevice has it, without LiteEth."""

    def __init__(self, link):
        from hw.eth_link import DatagramBridge
        self.link, self.bridge = link, DatagramBridge()

    def elaborate(self, platform):
        m = Module()
        m.submodules.link, m.submodules.bridge = self.link, self.bridge
        wiring.connect(m, self.bridge.rx, self.link.rx)
        wiring.connect(m, self.link.tx, self.bridge.tx)
        return m


class SteppedTransport:
    """A host.transport-like byte stream into `link` (a LinkFrontEnd with a control bus) in Amaranth's simulator:
    `read` runs the simulation until the device has answered and gone quiet, or has been quiet (nothing under way:
    a lost datagram) for `quiet_cycles`; host time plays no part (the driver's timeouts then only bound that). Counts the
    frames the host sent by kind (`frames_sent`), bytes both ways and cycles. datagrams: each write is a UDP
    datagram into the bridge (BridgedLink; `drop(data)` true: lost on the way), each frame back one datagram;
    the driver then treats it as host.transport.UdpTransport (lossy, a window of image frames)."""

    def __init__(self, link, slave: TimedCsrSlave | None, *, quiet_cycles: int = 20_000, bus_answers: bool = True,
                 datagrams: bool = False, drop=lambda data: False):
        self.link, self.slave, self.quiet_cycles, self.bus_answers = link, slave, quiet_cycles, bus_answers
        self.datagrams, self.drop = datagrams, drop
        self.lossy, self.window = datagrams, p.DATAGRAM_WINDOW if datagrams else 1
        self.sent: deque[bytes] = deque()               # datagrams not yet (wholly) delivered
        self.top = BridgedLink(link) if datagrams else link
        self.incoming: deque[int] = deque()
        self.outgoing = bytearray()
        self.cycle, self.idle, self.busy_at = 0, True, 0     # busy_at: the last cycle something was under way
        self.bytes_to_device = self.bytes_from_device = 0
        self.frames_sent: dict[int, int] = {}
        self.failure: BaseException | None = None
        self.simulator = Simulator(self.top)
        self.simulator.add_clock(1e-8)
        self.simulator.add_testbench(self._bench)

    async def _bench(self, ctx):
        link, bus = self.link, self.link.control if self.slave else None
        started: int | None = None          # the cycle the current access started
        if self.datagrams:
            signals, step = await self._datagram_step(ctx)
        else:
            signals, step = await self._byte_step(ctx)
        if bus is not None:
            signals += [bus.cyc, bus.stb, bus.we, bus.adr, bus.dat_w, bus.ack]
        while True:
            presented = step()
            _, _, *sampled = await ctx.tick().sample(*signals)
            self.cycle += 1
            self.idle = self._after_tick(presented, sampled[:-6] if bus is not None else sampled)
            if not self.idle:
                self.busy_at = self.cycle
            if bus is None:
                continue
            cyc, stb, we, adr, dat_w, ack = sampled[-6:]
            ctx.set(bus.ack, 0)
            if not (cyc and stb) or ack or not self.bus_answers:
                started = None
                continue
            started = self.cycle if started is None else started
            if self.cycle - started + 1 >= ACK_LATENCY:
                try:
                    ctx.set(bus.dat_r, self.slave.access(self.cycle, adr << 2, bool(we), dat_w))
                except BaseException as error:
                    self.failure = error
                    raise
                ctx.set(bus.ack, 1)
                started = None

    async def _byte_step(self, ctx):
        """The link's byte streams: what to sample, and the step that drives rx before each tick."""
        link = self.link
        ctx.set(link.tx.ready, 1)

        def step():
            presented = bool(self.incoming)             # bytes written while the bench waited wait a cycle
            ctx.set(link.rx.valid, presented)
            if presented:
                ctx.set(link.rx.payload, self.incoming[0])
            return presented

        def after(presented, sampled):
            rx_ready, tx_valid, tx_payload, idle = sampled
            if presented and rx_ready:
                self.incoming.popleft()
            if tx_valid:
                self.outgoing.append(tx_payload)
            return bool(idle) and not self.incoming
        self._after_tick = after
        return [link.rx.ready, link.tx.valid, link.tx.payload, link.idle], step

    async def _datagram_step(self, ctx):
        """The bridge's datagram streams, as LiteEth's core drives them: a datagram a byte a cycle, never stalled."""
        bridge, link = self.top.bridge, self.link
        ctx.set(bridge.udp_tx.ready, 1)
        at, answer = 0, bytearray()

        def step():
            nonlocal at
            presented = bool(self.sent)
            ctx.set(bridge.udp_rx.valid, presented)
            if presented:
                datagram = self.sent[0]
                ctx.set(bridge.udp_rx.payload.data, datagram[at])
                ctx.set(bridge.udp_rx.payload.last, at == len(datagram) - 1)
                at += 1
                if at == len(datagram):
                    self.sent.popleft()
                    at = 0
            return presented

        def after(presented, sampled):
            tx_valid, tx_data, tx_last, idle, rx_valid = sampled
            if tx_valid:
                answer.append(tx_data)
                if tx_last:
                    self.outgoing += answer
                    answer.clear()
            return bool(idle) and not self.sent and not rx_valid and not answer
        self._after_tick = after
        return [bridge.udp_tx.valid, bridge.udp_tx.payload.data, bridge.udp_tx.payload.last, link.idle,
                bridge.rx.valid], step

    def write(self, data: bytes) -> None:
        self.bytes_to_device += len(data)
        if data[:1] == bytes([p.SYNC]) and len(data) > 1:  # the driver writes a frame at a time (damaged or not)
            self.frames_sent[data[1]] = self.frames_sent.get(data[1], 0) + 1
        if not self.datagrams:
            self.incoming.extend(data)
        elif not self.drop(data):
            self.sent.append(bytes(data))

    def read(self, timeout: float) -> bytes:
        start = self.cycle
        while self.cycle - max(start, self.busy_at) < self.quiet_cycles:
            self.simulator.advance()
            if self.failure:
                raise self.failure
            if self.outgoing and self.idle:
                break
        data, self.outgoing = bytes(self.outgoing), bytearray()
        self.bytes_from_device += len(data)
        return data

    def close(self) -> None:
        pass
