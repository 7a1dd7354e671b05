"""Board tops: the Device with a clock, a UART and a memory, on real pins.

    board clock ─► PLL (ECP5) ─► sync domain (CLKOP; reset by GSR) and memory domain (CLKOS), held until lock
    uart.rx ─► UART ─► Device ─► UART ─► uart.tx
               Device.mem_req/mem_resp/mem_write ─► memory backend:
                   "sdram": [MemoryClockCrossing ─►] SDRAMController ─► SDRAM pins (the chip's clock: the
                            controller's inverted, via a DDR output)
                   "spram": on-chip SPRAM (iCE40 UltraPlus), the image held on the FPGA

`BoardTop` is elaborated by an Amaranth platform (bitstreams/targets.py names the boards and builds).
"""

from __future__ import annotations

import dataclasses

from amaranth import ClockDomain, Const, Instance, Module, Signal
from amaranth.hdl import Elaboratable
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer

from .device import Device
from .lfsr_harness import LfsrHarness
from .memory_crossing import MemoryClockCrossing
from .sdram import SDRAMController
from .spram import SPRAMMemory
from .uart import UART


@dataclasses.dataclass(frozen=True)
class EcpPll:
    """EHXPLLL dividers for CLKOP = CLKI * CLKFB_DIV / CLKI_DIV, the VCO = CLKOP * CLKOP_DIV in 400..800 MHz
    and the phase detector input CLKI / CLKI_DIV >= 3.125 MHz (Lattice TN1263, ECP5 sysCLOCK PLL); an
    optional second output CLKOS = VCO / CLKOS_DIV (clkos_div 0: none)."""
    clki_div: int
    clkfb_div: int
    clkop_div: int
    input_hz: float
    clkos_div: int = 0

    @property
    def output_hz(self) -> float:
        return self.input_hz * self.clkfb_div / self.clki_div

    @property
    def secondary_hz(self) -> float | None:
        return self.output_hz * self.clkop_div / self.clkos_div if self.clkos_div else None

    @classmethod
    def closest(cls, input_hz: float, output_hz: float, secondary_hz: float | None = None) -> "EcpPll":
        """The setting whose outputs are nearest (CLKOP first, then CLKOS), each within 2 %."""
        best = None
        for clki_div in range(1, 129):
            if input_hz / clki_div < 3.125e6:
                break
            for clkfb_div in range(1, 81):
                out = input_hz * clkfb_div / clki_div
                for clkop_div in range(1, 129):
                    vco = out * clkop_div
                    if not 400e6 <= vco <= 800e6:
                        continue
                    clkos_div = min(128, max(1, round(vco / secondary_hz))) if secondary_hz else 0
                    error = (round(abs(out - output_hz)), abs(vco / clkos_div - secondary_hz) if clkos_div else 0)
                    if best is None or error < best[0]:
                        best = (error, cls(clki_div, clkfb_div, clkop_div, input_hz, clkos_div))
                    if not secondary_hz:
                        break                        # the lowest VCO in range: CLKOP alone does not care
        if best is None or best[0][0] > 0.02 * output_hz or (secondary_hz and best[0][1] > 0.02 * secondary_hz):
            wanted = f"{output_hz / 1e6} MHz" + (f" and {secondary_hz / 1e6} MHz" if secondary_hz else "")
            raise ValueError(f"no ECP5 PLL setting makes {wanted} from {input_hz / 1e6} MHz")
        return best[1]


class BoardTop(Elaboratable):
    """Parameters
    device: the hw.device.Device to place; memory: "sdram" (a SDRAMController, built for memory_clock_hz)
    or "spram" (iCE40 UltraPlus SPRAM); clock_hz: the sync clock; baud: the UART's bit rate;
    pll: use the ECP5 PLL to make clock_hz from the board clock (else the board clock is the sync clock);
    memory_clock_hz: the SDRAM controller's own clock, the PLL's second output, across
    hw.memory_crossing (None: the controller runs on the sync clock).
    """

    def __init__(self, device: Device, *, memory: SDRAMController | SPRAMMemory, clock_hz: float, baud: int,
                 pll: bool, memory_clock_hz: float | None = None):
        divisor = uart_divisor(clock_hz, baud)
        if memory_clock_hz is not None:
            if not (pll and isinstance(memory, SDRAMController)):
                raise ValueError("a memory clock of its own needs the PLL and an SDRAM controller")
            if memory_clock_hz > clock_hz:
                # the response FIFO is drained a beat per sync cycle (hw/memory_crossing.py)
                raise ValueError(f"memory_clock_hz {memory_clock_hz / 1e6} MHz must not exceed the sync clock "
                                 f"{clock_hz / 1e6} MHz")
            if abs(memory.clock_hz - memory_clock_hz) > 1:
                raise ValueError("the SDRAM controller must be built for memory_clock_hz")
        self.device, self.memory, self.clock_hz, self.pll = device, memory, clock_hz, pll
        self.memory_clock_hz = memory_clock_hz
        self.uart = UART(divisor=divisor)

    def elaborate(self, platform):
        m = Module()
        # With the ECP5 PLL the sync domain is reset by the global set/reset network (below), not by a
        # routed reset: a reset net to every flip-flop of the device is as long as the chip is wide.
        m.domains.sync = sync = ClockDomain("sync", reset_less=self.pll)
        board_clock = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        m.submodules.board_clock = board_clock
        if self.pll:
            pll = EcpPll.closest(platform.default_clk_frequency, self.clock_hz, self.memory_clock_hz)
            locked = Signal()
            secondary = {}
            if self.memory_clock_hz is not None:
                m.domains.memory = memory_domain = ClockDomain("memory")
                secondary = dict(p_CLKOS_DIV=pll.clkos_div, p_CLKOS_CPHASE=(pll.clkos_div - 1) // 2, p_CLKOS_FPHASE=0,
                                 p_CLKOS_ENABLE="ENABLED", a_FREQUENCY_PIN_CLKOS=str(round(pll.secondary_hz / 1e6, 3)),
                                 o_CLKOS=memory_domain.clk)
                platform.add_clock_constraint(memory_domain.clk, pll.secondary_hz)
                m.submodules.memory_reset = ResetSynchronizer(~locked, domain="memory")
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=str(round(pll.input_hz / 1e6, 3)),
                a_FREQUENCY_PIN_CLKOP=str(round(pll.output_hz / 1e6, 3)),
                p_CLKI_DIV=pll.clki_div, p_CLKFB_DIV=pll.clkfb_div, p_CLKOP_DIV=pll.clkop_div,
                p_CLKOP_CPHASE=(pll.clkop_div - 1) // 2, p_CLKOP_FPHASE=0, p_CLKOP_ENABLE="ENABLED",
                p_FEEDBK_PATH="CLKOP", p_OUTDIVIDER_MUXA="DIVA", p_PLLRST_ENA="DISABLED",
                p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
                i_CLKI=board_clock.i, i_CLKFB=sync.clk, o_CLKOP=sync.clk, o_LOCK=locked,
                i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
                i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0, **secondary)
            platform.add_clock_constraint(sync.clk, pll.output_hz)
            # Until the PLL locks, GSR holds every flip-flop at its initial value; its release is synchronised
            # to the sync clock (as amaranth.vendor's ECP5 platform does for its own sync domain).
            running, released = Signal(), Signal()
            m.submodules.gsr_sync0 = Instance("FD1S3AX", p_GSR="DISABLED", i_CK=sync.clk, i_D=locked, o_Q=running)
            m.submodules.gsr_sync1 = Instance("FD1S3AX", p_GSR="DISABLED", i_CK=sync.clk, i_D=running, o_Q=released)
            m.submodules.gsr = Instance("SGSR", i_CLK=sync.clk, i_GSR=released)         # GSR is active low
        else:
            m.d.comb += sync.clk.eq(board_clock.i)
            m.submodules.reset = ResetSynchronizer(Const(0), domain="sync")

        m.submodules.device = device = self.device
        m.submodules.uart = self.uart
        uart_link(m, platform, self.uart, device.rx, device.tx)

        memory = self.memory
        if self.memory_clock_hz is not None:
            memory = MemoryClockCrossing(memory, domain="memory")
        m.submodules.memory = memory
        wiring.connect(m, device.mem_write, memory.write)
        wiring.connect(m, memory.read_resp, device.mem_resp)
        # Requests field by field: the memory's beat address is narrower than the device's (its own size).
        m.d.comb += [memory.read_req.valid.eq(device.mem_req.valid), device.mem_req.ready.eq(memory.read_req.ready),
                     memory.read_req.payload.addr.eq(device.mem_req.payload.addr),
                     memory.read_req.payload.beats.eq(device.mem_req.payload.beats)]
        if isinstance(self.memory, SDRAMController):
            self._sdram_pins(m, platform, memory, domain="sync" if self.memory_clock_hz is None else "memory")

        m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.d.comb += led.o.eq(heartbeat(m, self.clock_hz))
        return m

    @staticmethod
    def _sdram_pins(m, platform, sdram, *, domain: str):
        """The SDRAM controller's (or its clock crossing's) pins; `domain` is the controller's clock."""
        pins = platform.request("sdram", 0, dir="-")
        # The chip's clock is the controller's clock inverted: it samples commands mid-cycle (hw/sdram.py).
        m.submodules.sdram_clk = clk = io.DDRBuffer("o", pins.clk, o_domain=domain)
        m.d.comb += [clk.o[0].eq(0), clk.o[1].eq(1)]
        # cs/we/ras/cas are active-low pins (PinsN): their buffers take the asserted level.
        levels = {"clk_en": sdram.cke, "cs": ~sdram.cs_n, "we": ~sdram.we_n, "ras": ~sdram.ras_n,
                  "cas": ~sdram.cas_n, "ba": sdram.ba, "a": sdram.a, "dqm": sdram.dqm}
        for name, level in levels.items():
            m.submodules[f"sdram_{name}"] = buffer = io.Buffer("o", getattr(pins, name))
            m.d.comb += buffer.o.eq(level)
        m.submodules.sdram_dq = dq = io.Buffer("io", pins.dq)
        m.d.comb += [dq.o.eq(sdram.dq_o), dq.oe.eq(sdram.dq_oe), sdram.dq_i.eq(dq.i)]


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit of the UART; refused unless the rate is within 2 % of `baud`."""
    divisor = round(clock_hz / baud)
    if abs(clock_hz / divisor - baud) > 0.02 * baud:
        raise ValueError(f"{baud} baud is not within 2 % of {clock_hz / 1e6} MHz / an integer")
    return divisor


def uart_link(m, platform, uart: UART, rx, tx, *, resource: str = "uart") -> None:
    """A link's bytes through `uart` on the platform's UART pins: rx, the link's byte stream in (a Device's rx);
    tx, its byte stream out."""
    pins = platform.request(resource, 0, dir="-")
    m.submodules.uart_rx = rx_pin = io.Buffer("i", pins.rx)
    m.submodules.uart_tx = tx_pin = io.Buffer("o", pins.tx)
    m.d.comb += [uart.rx_pin.eq(rx_pin.i), tx_pin.o.eq(uart.tx_pin)]
    wiring.connect(m, uart.rx, rx)
    wiring.connect(m, tx, uart.tx)


def heartbeat(m, clock_hz: float):
    """A signal that toggles every half second of the sync clock: an LED shows the clock runs."""
    count = Signal(range(int(clock_hz) // 2), name="heartbeat")
    blink = Signal(name="blink")
    m.d.sync += count.eq(count + 1)
    with m.If(count == int(clock_hz) // 2 - 1):
        m.d.sync += [count.eq(0), blink.eq(~blink)]
    return blink


class EngineCheckTop(Elaboratable):
    """The ternary engine alone on a board, on the board clock, in an LfsrHarness (hw/lfsr_harness.py: every
    input LFSR-driven, every output folded onto an LED: `led` is its (resource, subsignal or None)): a build of
    minutes that checks the toolchain flow end to end (bitstreams/flow.py)."""

    def __init__(self, engine, *, led: tuple[str, str | None] = ("led", None)):
        self.engine, self.led = engine, led

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync", reset_less=True)
        m.submodules.board_clock = board_clock = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        m.d.comb += sync.clk.eq(board_clock.i)
        m.submodules.harness = harness = LfsrHarness(self.engine)
        resource, subsignal = self.led
        pins = platform.request(resource, 0, dir="-")
        m.submodules.led = led = io.Buffer("o", getattr(pins, subsignal) if subsignal else pins)
        m.d.comb += led.o.eq(harness.out)
        return m
