"""LiteEth's UDP/IP core as standalone Verilog, generated from a YAML config kept here (gmii_sim.yml for
simulation, ecp5_rgmii.yml for ECP5 boards) by LiteEth's own generator (liteeth.gen, `liteeth_gen`),
with two changes: the link's UDP port, and the ICMP echo (ping) left out where the config says `icmp: false`.

liteeth.gen's "raw" UDP port dispatches received datagrams on its transmit side's dst_port input, so a
device could only receive on the port it last answered to; here the raw port listens on the constant
host.protocol.UDP_PORT (the config's `link_port` section) and answers to any port. liteeth.gen always builds
LiteEthUDPIPCore with its ICMP echo; `icmp: false` passes with_icmp=False to it (the echo's FIFO and receive
FSM sit on the IP receive path's ready chain, which the ButterStick's build measured as the device clock's
critical path). The core's ports:

    link_source_*: received datagrams, a byte a beat: data, last, ip_address, src_port, length, error
    link_sink_*:   datagrams to send: data, last, ip_address, dst_port, src_port, length (set from the first beat)
    PHY pins (gmii_* or rgmii_*), sys_clock, sys_reset

Run as `python -m hw.liteeth.generate CONFIG OUT_DIR` (a separate process: Migen's and LiteX's global
state stays out of the caller); `liteeth_verilog(config)` does that once per config and caches the result.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
from pathlib import Path

from golden.errors import MmfreeError
from host.protocol import UDP_PORT

HERE = Path(__file__).resolve().parent
CONFIGS = {"gmii": HERE / "gmii_sim.yml", "ecp5-rgmii": HERE / "ecp5_rgmii.yml"}
CACHE = HERE.parent.parent / "build" / "liteeth"
MODULE = "liteeth_core"


def liteeth_verilog(phy: str = "gmii") -> Path:
    """The Verilog of the core for `phy` (a CONFIGS key), generated once per config and LiteEth version."""
    if phy not in CONFIGS:
        raise ValueError(f"phy must be one of {sorted(CONFIGS)}, got {phy!r}")
    import importlib.metadata
    try:
        version = importlib.metadata.version("liteeth")
    except importlib.metadata.PackageNotFoundError:
        raise MmfreeError("LiteEth is not installed: pip install -e '.[litedram]' (or make .venv/.installed-test)") from None
    text = CONFIGS[phy].read_text() + version + Path(__file__).read_text()
    key = hashlib.sha256(text.encode()).hexdigest()[:12]
    out = CACHE / f"{phy}-{key}"
    verilog = out / "gateware" / f"{MODULE}.v"
    if not verilog.is_file():
        out.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "hw.liteeth.generate", str(CONFIGS[phy]), str(out)],
                              capture_output=True, text=True, cwd=HERE.parent.parent)
        if done.returncode or not verilog.is_file():
            raise MmfreeError(f"LiteEth generation failed for {CONFIGS[phy].name}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return verilog


def _generate(config_path: str, out_dir: str) -> None:
    import yaml
    from liteeth import gen
    from litex.build.lattice.platform import LatticePlatform
    from litex.soc.integration.builder import Builder

    config = yaml.safe_load(Path(config_path).read_text())
    link_port = config.pop("link_port")
    icmp = config.pop("icmp", True)
    if not isinstance(icmp, bool):
        raise ValueError(f"{config_path}: icmp must be true or false, not {icmp!r}")
    if not icmp:                    # UDPCore names the class from its module's globals: this process only
        gen.LiteEthUDPIPCore = functools.partial(gen.LiteEthUDPIPCore, with_icmp=False)
    config["phy"] = getattr(gen.liteeth_phys, config["phy"])
    config["clk_freq"] = int(float(config["clk_freq"]))
    for key in ("phy_tx_delay", "phy_rx_delay"):               # seconds; YAML reads 2e-9 as a string
        if key in config:
            config[key] = float(config[key])
    if config["vendor"] != "lattice":
        raise ValueError(f"{config_path}: only vendor lattice (ECP5) is kept here, not {config['vendor']!r}")
    platform = LatticePlatform(config["device"], io=[], toolchain=config["toolchain"])
    platform.add_extension(gen._io)
    core = gen.UDPCore(platform, config)
    # The raw port of liteeth.gen (add_raw_port), with the port number a constant.
    width = link_port.get("data_width", 8)
    platform.add_extension(gen.get_udp_raw_port_ios("link", data_width=width))
    pads = platform.request("link")
    port = core.core.udp.crossbar.get_port(UDP_PORT, dw=width)
    core.comb += [
        port.sink.valid.eq(pads.sink_valid), port.sink.last.eq(pads.sink_last), pads.sink_ready.eq(port.sink.ready),
        port.sink.dst_port.eq(pads.sink_dst_port), port.sink.src_port.eq(UDP_PORT),
        port.sink.ip_address.eq(pads.sink_ip_address), port.sink.length.eq(pads.sink_length),
        port.sink.data.eq(pads.sink_data), port.sink.last_be.eq(pads.sink_last_be),
        pads.source_valid.eq(port.source.valid), pads.source_last.eq(port.source.last),
        port.source.ready.eq(pads.source_ready), pads.source_dst_port.eq(port.source.dst_port),
        pads.source_src_port.eq(port.source.src_port), pads.source_ip_address.eq(port.source.ip_address),
        pads.source_length.eq(port.source.length), pads.source_data.eq(port.source.data),
        pads.source_last_be.eq(port.source.last_be), pads.source_error.eq(port.source.error),
    ]
    builder = Builder(core, output_dir=out_dir, compile_gateware=False, csr_csv=str(Path(out_dir) / "csr.csv"))
    builder.build(build_name=MODULE)


if __name__ == "__main__":
    _generate(*sys.argv[1:3])
