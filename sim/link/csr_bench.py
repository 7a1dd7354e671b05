"""The link's control-bus master (hw/link.py, hw/link_csr.py) in Amaranth's simulator, its Wishbone port answered
by the behavioural LiteDRAM CSR model (sim/litedram/csr_model.py), reached by the host driver through real frames.

    host.driver.Driver ── SteppedTransport (bytes; each read runs the simulation) ──► LinkFrontEnd rx / tx
                                                                                       │ control (Wishbone)
                                                                        TimedCsrSlave ◄┘ ── LiteDRAMCsrModel

TimedCsrSlave acknowledges each access ACK_LATENCY cycles after it starts (LiteX's wishbone2csr takes a couple),
and holds the model to the DFII's timing, which the model itself does not see: a phase's rddata is only valid
READ_DATA_CYCLES device cycles after its read command was issued (the ECP5 PHY's read latency, 13 cycles at 1:2,
plus the DFII's registers; host.ddr3_dfii waits 15), so reading it sooner raises ModelProtocolError. The bring-up
therefore passes only if the host's waits reach the device as WAIT operations.
"""

from __future__ import annotations

from collections import deque

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


class SteppedTransport:
    """A host.transport-like byte stream into `link` (a LinkFrontEnd with a control bus) in Amaranth's simulator:
    `read` runs the simulation until the device has answered and gone quiet, or `max_cycles` pass. Counts the
    frames the host sent by kind (`frames_sent`), bytes both ways and cycles."""

    def __init__(self, link, slave: TimedCsrSlave | None, *, max_cycles: int = 1 << 21, bus_answers: bool = True):
        self.link, self.slave, self.max_cycles, self.bus_answers = link, slave, max_cycles, bus_answers
        self.incoming: deque[int] = deque()
        self.outgoing = bytearray()
        self.cycle, self.idle = 0, True
        self.bytes_to_device = self.bytes_from_device = 0
        self.frames_sent: dict[int, int] = {}
        self.failure: BaseException | None = None
        self.simulator = Simulator(link)
        self.simulator.add_clock(1e-8)
        self.simulator.add_testbench(self._bench)

    async def _bench(self, ctx):
        link, bus = self.link, self.link.control if self.slave else None
        ctx.set(link.tx.ready, 1)
        started: int | None = None          # the cycle the current access started
        while True:
            presented = bool(self.incoming)             # bytes written while the bench waited wait a cycle
            ctx.set(link.rx.valid, presented)
            if presented:
                ctx.set(link.rx.payload, self.incoming[0])
            signals = [link.rx.ready, link.tx.valid, link.tx.payload, link.idle]
            if bus is not None:
                signals += [bus.cyc, bus.stb, bus.we, bus.adr, bus.dat_w, bus.ack]
            _, _, *sampled = await ctx.tick().sample(*signals)
            rx_ready, tx_valid, tx_payload, idle = sampled[:4]
            self.cycle += 1
            if presented and rx_ready:
                self.incoming.popleft()
            if tx_valid:
                self.outgoing.append(tx_payload)
            self.idle = bool(idle) and not self.incoming
            if bus is None:
                continue
            cyc, stb, we, adr, dat_w, ack = sampled[4:]
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

    def write(self, data: bytes) -> None:
        self.bytes_to_device += len(data)
        if data[:1] == bytes([p.SYNC]) and len(data) > 1:  # the driver writes a frame at a time (damaged or not)
            self.frames_sent[data[1]] = self.frames_sent.get(data[1], 0) + 1
        self.incoming.extend(data)

    def read(self, timeout: float) -> bytes:
        start = self.cycle
        while self.cycle - start < self.max_cycles:
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
