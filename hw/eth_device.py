"""`EthernetDevice`: the device (hw.device.Device: accelerator + link front end) reached over Gigabit
Ethernet instead of a UART: LiteEth's UDP/IP core (hw/liteeth, Verilog generated from a kept config) and
the datagram bridge (hw/eth_link.py) in front of the same link front end.

    PHY pins ─► liteeth_core (Instance) ─ link_source/link_sink ─► DatagramBridge ─ rx/tx ─► Device

The core runs in this design's sync domain (its sys_clock / sys_reset); its PHY side takes the PHY's
clocks. Ports: the PHY's pins (GMII in simulation, RGMII on ECP5 boards) and the Device's memory ports,
`quiet` and, where it has one, its `control` bus (hw.link_csr). A build must add the core's Verilog (hw.liteeth.generate.liteeth_verilog(phy)).
"""

from __future__ import annotations

from amaranth import ClockSignal, Instance, Module, ResetSignal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .device import Device
from .eth_link import DatagramBridge

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


class EthernetDevice(wiring.Component):
    """Parameters: device (hw.device.Device), phy ("gmii" or "ecp5-rgmii", a hw.liteeth.generate config)."""

    def __init__(self, device: Device, *, phy: str = "gmii"):
        if not isinstance(device, Device):
            raise TypeError(f"device must be a hw.device.Device, not {device!r}")
        if phy not in PHY_PINS:
            raise ValueError(f"phy must be one of {sorted(PHY_PINS)}, got {phy!r}")
        self.device, self.phy, self.build = device, phy, device.build
        members = {name: (In if direction == "i" else Out)(width) for name, direction, width in PHY_PINS[phy]}
        members.update({"mem_req": Out(device.mem_req.signature), "mem_resp": In(device.mem_resp.signature.flip()),
                        "mem_write": Out(device.mem_write.signature), "quiet": Out(1)})
        if device.link.has_control_bus:
            members["control"] = Out(device.control.signature)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.device = device = self.device
        m.submodules.bridge = bridge = DatagramBridge()
        wiring.connect(m, bridge.rx, device.rx)
        wiring.connect(m, device.tx, bridge.tx)
        for name in ("mem_req", "mem_write"):
            wiring.connect(m, getattr(device, name), wiring.flipped(getattr(self, name)))
        wiring.connect(m, wiring.flipped(self.mem_resp), device.mem_resp)
        if self.device.link.has_control_bus:
            wiring.connect(m, device.control, wiring.flipped(self.control))
        received, sent = bridge.udp_rx, bridge.udp_tx
        ports = {f"{'i' if direction == 'i' else 'o'}_{name}": getattr(self, name)
                 for name, direction, _ in PHY_PINS[self.phy]}
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
        m.d.comb += self.quiet.eq(device.quiet & ~received.valid & ~device.rx.valid & ~device.tx.valid)
        return m
