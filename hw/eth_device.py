"""`EthernetDevice`: the device (hw.device.Device: accelerator + link front end) reached over Gigabit
Ethernet: LiteEth's UDP/IP core (hw/liteeth, Verilog generated from a kept config) and the datagram bridge
(hw/eth_link.py) in front of the same link front end, with a serial link beside it as a fallback where asked.

    PHY pins ─► liteeth_core (Instance) ─ link_source/link_sink ─► DatagramBridge ─┬─ LinkSelect ─ rx/tx ─► Device
                                                              serial_rx/serial_tx ─┘  (with `serial` only)

The core runs in this design's sync domain (its sys_clock / sys_reset); its PHY side takes the PHY's clocks.
The core's received beats pass one register before the bridge: they leave the core at the end of a long
combinational chain (its MAC's CRC checker through the IP and UDP depacketizers), which ended in the bridge's
ring logic on the ButterStick's critical path (measured, bitstreams/reports); the bridge never stalls them, so
the register needs no ready of its own.
The PHY's pins are ports of this component (GMII in simulation: cocotbext-eth drives them) or, on a board
(`resource`), the platform's pins passed straight to the core, whose ECP5 DDR I/O primitives must sit at the pads;
the board build then also takes the core's Verilog and constrains the PHY's receive clock. Other ports: the
Device's memory ports, `quiet` and, where it has one, its `control` bus (hw.link_csr). A simulation adds the
core's Verilog itself (hw.liteeth.generate.liteeth_verilog(phy)).
"""

from __future__ import annotations

from amaranth import ClockSignal, Instance, Module, ResetSignal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .device import Device
from .eth_link import DatagramBridge, DatagramLayout
from .link_select import LinkSelect

# The PHY pins of each kept config, as (name, direction, width); names as liteeth_core's ports.
PHY_PINS = {
    "gmii": [("gmii_clocks_rx", "i", 1), ("gmii_clocks_tx", "i", 1), ("gmii_clocks_gtx", "o", 1),
             ("gmii_rx_data", "i", 8), ("gmii_rx_dv", "i", 1), ("gmii_rx_er", "i", 1), ("gmii_col", "i", 1),
             ("gmii_crs", "i", 1), ("gmii_int_n", "i", 1), ("gmii_mdio", "i", 1), ("gmii_mdc", "o", 1),
             ("gmii_rst_n", "o", 1), ("gmii_tx_data", "o", 8), ("gmii_tx_en", "o", 1), ("gmii_tx_er", "o", 1)],
    "ecp5-rgmii": [("rgmii_clocks_rx", "i", 1), ("rgmii_clocks_tx", "o", 1), ("rgmii_int_n", "i", 1),
                   ("rgmii_mdio", "i", 1), ("rgmii_mdc", "o", 1), ("rgmii_rst_n", "o", 1), ("rgmii_rx_ctl", "i", 1),
                   ("rgmii_rx_data", "i", 4), ("rgmii_tx_ctl", "o", 1), ("rgmii_tx_data", "o", 4)],
}
# The core's RGMII pins by amaranth-boards' eth_rgmii subsignal names (ECPIX-5 says tx_ctrl, ButterStick tx_ctl).
# rst is PinsN there: the raw pin is the PHY's active-low reset, as the core's rst_n. The core leaves MDIO alone
# (the PHY's strap pins set it up) and ignores its interrupt, tied inactive here.
RGMII_SUBSIGNALS = {"rgmii_clocks_rx": ("rx_clk",), "rgmii_clocks_tx": ("tx_clk",), "rgmii_rst_n": ("rst",),
                    "rgmii_mdio": ("mdio",), "rgmii_mdc": ("mdc",), "rgmii_rx_ctl": ("rx_ctl", "rx_ctrl"),
                    "rgmii_rx_data": ("rx_data",), "rgmii_tx_ctl": ("tx_ctl", "tx_ctrl"), "rgmii_tx_data": ("tx_data",)}
RGMII_CLOCK_HZ = 125e6                    # the receive clock at 1000BASE-T: the core's PHY side runs on it


class EthernetDevice(wiring.Component):
    """Parameters: device (hw.device.Device), phy ("gmii" or "ecp5-rgmii", a hw.liteeth.generate config);
    resource: the platform's RGMII resource (amaranth-boards' "eth_rgmii") whose pins the core takes, or None
    for the pins as ports; serial: add serial_rx / serial_tx (8-bit streams, e.g. a UART's) as a second host
    link, hw.link_select.LinkSelect choosing between them."""

    def __init__(self, device: Device, *, phy: str = "gmii", resource: str | None = None, serial: bool = False):
        if not isinstance(device, Device):
            raise TypeError(f"device must be a hw.device.Device, not {device!r}")
        if phy not in PHY_PINS:
            raise ValueError(f"phy must be one of {sorted(PHY_PINS)}, got {phy!r}")
        if resource is not None and phy != "ecp5-rgmii":
            raise ValueError(f"the pins of a platform resource are taken for the ecp5-rgmii PHY only, not {phy!r}")
        self.device, self.phy, self.resource, self.serial, self.build = device, phy, resource, serial, device.build
        members = {} if resource else {name: (In if direction == "i" else Out)(width)
                                       for name, direction, width in PHY_PINS[phy]}
        if serial:
            members.update({"serial_rx": In(device.rx.signature.flip()), "serial_tx": Out(device.tx.signature)})
        members.update({"mem_req": Out(device.mem_req.signature), "mem_resp": In(device.mem_resp.signature.flip()),
                        "mem_write": Out(device.mem_write.signature), "quiet": Out(1)})
        if device.link.has_control_bus:
            members["control"] = Out(device.control.signature)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.device = device = self.device
        m.submodules.bridge = bridge = DatagramBridge()
        if self.serial:
            m.submodules.select = select = LinkSelect(2)           # link 0: Ethernet, 1: the serial fallback
            wiring.connect(m, bridge.rx, select.link_rx[0])
            wiring.connect(m, select.link_tx[0], bridge.tx)
            wiring.connect(m, wiring.flipped(self.serial_rx), select.link_rx[1])
            wiring.connect(m, select.link_tx[1], wiring.flipped(self.serial_tx))
            wiring.connect(m, select.rx, device.rx)
            wiring.connect(m, device.tx, select.tx)
            m.d.comb += select.quiet.eq(device.quiet)
        else:
            wiring.connect(m, bridge.rx, device.rx)
            wiring.connect(m, device.tx, bridge.tx)
        for name in ("mem_req", "mem_write"):
            wiring.connect(m, getattr(device, name), wiring.flipped(getattr(self, name)))
        wiring.connect(m, wiring.flipped(self.mem_resp), device.mem_resp)
        if self.device.link.has_control_bus:
            wiring.connect(m, device.control, wiring.flipped(self.control))
        received, sent = stream.Signature(DatagramLayout()).create(), bridge.udp_tx
        m.d.comb += received.ready.eq(bridge.udp_rx.ready)
        m.d.sync += [bridge.udp_rx.valid.eq(received.valid), bridge.udp_rx.payload.eq(received.payload)]
        if self.resource is None:
            ports = {f"{'i' if direction == 'i' else 'o'}_{name}": getattr(self, name)
                     for name, direction, _ in PHY_PINS[self.phy]}
        else:
            ports = self._board_pins(platform)
        m.submodules.liteeth = Instance(
            "liteeth_core", i_sys_clock=ClockSignal("sync"), i_sys_reset=ResetSignal("sync"), **ports,
            o_link_source_valid=received.valid, i_link_source_ready=received.ready,
            o_link_source_data=received.payload.data, o_link_source_last=received.payload.last,
            o_link_source_ip_address=received.payload.remote_ip, o_link_source_src_port=received.payload.remote_port,
            o_link_source_length=received.payload.length, o_link_source_error=received.payload.error,
            i_link_sink_valid=sent.valid, o_link_sink_ready=sent.ready, i_link_sink_data=sent.payload.data,
            i_link_sink_last=sent.payload.last, i_link_sink_last_be=sent.payload.last,
            i_link_sink_ip_address=sent.payload.remote_ip, i_link_sink_dst_port=sent.payload.remote_port,
            i_link_sink_src_port=0, i_link_sink_length=sent.payload.length)
        # quiet: the Device's, and nothing on the way in the bridge (a simulation may then stop the clock;
        # the core itself keeps its own timers, so this is only a hint here).
        m.d.comb += self.quiet.eq(device.quiet & ~received.valid & ~bridge.udp_rx.valid & ~device.rx.valid &
                                  ~device.tx.valid)
        return m

    def _board_pins(self, platform) -> dict:
        """The core's PHY ports onto the raw pins of the platform's RGMII resource; the core's Verilog added to the
        build and its receive clock constrained."""
        from .liteeth.generate import MODULE, liteeth_verilog

        if platform is None:
            raise ValueError(f"an EthernetDevice on the platform's {self.resource!r} pins is elaborated for a platform")
        pins = platform.request(self.resource, 0, dir="-")
        ports = {}
        for name, direction, width in PHY_PINS[self.phy]:
            if name not in RGMII_SUBSIGNALS:
                ports[f"i_{name}"] = 1                                  # rgmii_int_n: no interrupt
                continue
            subsignal = next((s for s in RGMII_SUBSIGNALS[name] if hasattr(pins, s)), None)
            if subsignal is None:
                raise ValueError(f"the platform's {self.resource!r} has none of {RGMII_SUBSIGNALS[name]}")
            port = getattr(pins, subsignal).io
            if len(port) != width:
                raise ValueError(f"the core's {name} is {width} bits wide, the board's {subsignal} {len(port)}")
            ports[f"{direction}_{name}"] = port
        platform.add_clock_constraint(getattr(pins, "rx_clk").io, RGMII_CLOCK_HZ)
        platform.add_file(f"{MODULE}.v", liteeth_verilog(self.phy).read_text())
        return ports
