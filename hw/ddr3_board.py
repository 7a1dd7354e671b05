"""`DDR3BoardTop`: the Device on an ECP5 board with DDR3 behind a LiteDRAM core (ECPIX-5, ButterStick).

    board clock ─► LiteDRAM core (its PLL) ─► user_clk / user_rst ─► sync domain: the whole device, no clock crossing
    RGMII pins ─► hw.eth_device.EthernetDevice (LiteEth UDP, bridge, LinkSelect) ─► Device    (with `ethernet`)
    uart.rx ─► UART ───────────────────────────► serial link ─┘ (or straight to the Device without `ethernet`)
               Device.mem_req / mem_resp / mem_write ─► hw.axi.AXI4MemoryPort ─ axi ─► LiteDRAM ─► DDR3 pins
    Device.control (the link's CSR batches, hw/link_csr.py) ─ wb_ctrl ─► LiteDRAM's CSRs (init, DFII, read levelling)

With Ethernet the host reaches the device by UDP (`mmfree run --device udp://ADDRESS`, the core's address in
hw/liteeth/ecp5_rgmii.yml) and the UART stays a fallback: the device answers on whichever link the host last used
(hw/link_select.py). LiteEth's core runs its system side on user_clk and its PHY side on the PHY's 125 MHz
receive clock.

The accelerator's reads and the link's byte writes (image loading) both go through the one AXI port, which orders
them (hw/axi.py). The sync domain is reset by the core's user_rst (synchronous to user_clk, held until its PLL
locks); not by the global set/reset as on the ULX3S (hw/board.py): GSR would also hold the core's power-on counter,
whose end releases that reset.

The DDR3 is brought up by the host through wb_ctrl: `mmfree run` sends the init sequence and the read levelling as
CSR batches over the link (host/link_csr.py, host/ddr3_init.py; docs/ddr3-litedram.md) before it loads an image.
The Device must have a control bus (flow.py builds it with the board's host.protocol.ControlBus).
"""

from __future__ import annotations

from amaranth import ClockDomain, Module
from amaranth.hdl import Elaboratable
from amaranth.lib import io, wiring

from .axi import AXI4MemoryPort
from .board import heartbeat, uart_divisor, uart_link
from .butterstick_vccio import ButterStickVccio
from .device import Device
from .eth_device import EthernetDevice
from .litedram import LiteDRAM
from .uart import UART


class DDR3BoardTop(Elaboratable):
    """Parameters
    device: the hw.device.Device; dram: the hw.litedram.LiteDRAM core (its AXI data width the accelerator's memory
    beat); clock_hz: user_clk, the core's sys clock (the device runs on it); baud: the UART's rate;
    uart: the platform's UART resource name; led: (resource, subsignal or None) of an LED for the heartbeat, or None;
    vccio: the ButterStick's bank supplies (A, B, C volts, hw/butterstick_vccio.py), or None where the board's I/O
    banks are powered without gateware; ethernet: the platform's RGMII resource (amaranth-boards' "eth_rgmii"), or
    None for the UART alone."""

    def __init__(self, device: Device, *, dram: LiteDRAM, clock_hz: float, baud: int, uart: str = "uart",
                 led: tuple[str, str | None] | None = None, vccio: tuple[float, float, float] | None = None,
                 ethernet: str | None = None):
        acc = device.accelerator
        if 8 * acc.mem_bytes != dram.axi.signature.data_width:
            raise ValueError(f"the accelerator reads {acc.mem_bytes}-byte beats, the core's AXI port is "
                             f"{dram.axi.signature.data_width} bits wide")
        self.device, self.dram, self.clock_hz = device, dram, clock_hz
        self.uart_resource, self.led = uart, led
        self.uart = UART(divisor=uart_divisor(clock_hz, baud))
        axi = dram.axi.signature
        self.port = AXI4MemoryPort(data_bytes=acc.mem_bytes, addr_width=axi.addr_width, id_width=axi.id_width,
                                   beats_bits=acc.mem_req.payload.beats.shape().width)
        self.vccio = ButterStickVccio(vccio, clock_hz=clock_hz) if vccio else None
        # What the memory port, the control bus and the links attach to: the Device, or the Ethernet front around it.
        self.front = (EthernetDevice(device, phy="ecp5-rgmii", resource=ethernet, serial=True) if ethernet
                      else device)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dram = dram = self.dram
        m.submodules.board_clock = board_clock = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        m.d.comb += [dram.clk.eq(board_clock.i), dram.rst.eq(0)]   # the core's power-on reset starts its PLL
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += [sync.clk.eq(dram.user_clk), sync.rst.eq(dram.user_rst)]
        # nextpnr also derives it from the board clock through the core's PLL and CLKDIVF, which still holds where
        # Yosys keeps another of the net's names and nextpnr ignores this one (it says so).
        platform.add_clock_constraint(dram.user_clk, self.clock_hz)

        m.submodules.device = device = self.front
        m.submodules.uart = self.uart
        if device is self.device:
            uart_link(m, platform, self.uart, device.rx, device.tx, resource=self.uart_resource)
        else:
            uart_link(m, platform, self.uart, device.serial_rx, device.serial_tx, resource=self.uart_resource)

        m.submodules.axi_port = port = self.port
        wiring.connect(m, device.mem_write, port.write)
        wiring.connect(m, port.read_resp, device.mem_resp)
        # The request field by field: the beat count's width differs (the reader's burst, the port's field).
        m.d.comb += [port.read_req.valid.eq(device.mem_req.valid), device.mem_req.ready.eq(port.read_req.ready),
                     port.read_req.payload.addr.eq(device.mem_req.payload.addr),
                     port.read_req.payload.beats.eq(device.mem_req.payload.beats)]
        wiring.connect(m, port.axi, dram.axi)
        connect_control_bus(m, device, dram)

        if self.vccio is not None:
            m.submodules.vccio = self.vccio
        if self.led is not None:
            resource, subsignal = self.led
            pins = platform.request(resource, 0, dir="-")
            m.submodules.led = led = io.Buffer("o", getattr(pins, subsignal) if subsignal else pins)
            m.d.comb += led.o.eq(heartbeat(m, self.clock_hz))
        return m


def connect_control_bus(m, device: Device | EthernetDevice, dram: LiteDRAM) -> None:
    """The Device's control bus (hw.link_csr.ControlBusSignature, Wishbone classic) onto the core's wb_ctrl: the
    same signals by name, LiteDRAM's burst fields tied to classic cycles."""
    if "control" not in device.signature.members:
        raise ValueError("a DDR3 board's Device needs a control bus (Device(control_bus=...)): the host brings the "
                         "DRAM up through it")
    bus, control = dram.wb_ctrl, device.control
    m.d.comb += [bus.adr.eq(control.adr), bus.dat_w.eq(control.dat_w), bus.sel.eq(control.sel),
                 bus.cyc.eq(control.cyc), bus.stb.eq(control.stb), bus.we.eq(control.we),
                 bus.cti.eq(0), bus.bte.eq(0),
                 control.dat_r.eq(bus.dat_r), control.ack.eq(bus.ack), control.err.eq(bus.err)]
