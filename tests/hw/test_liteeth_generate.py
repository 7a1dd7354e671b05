"""hw.liteeth.generate: LiteEth's core generated from each kept config, with the link's raw UDP port
(the constant host.protocol.UDP_PORT, not liteeth_gen's dst_port dispatch) and the PHY's pins that
hw.eth_device.EthernetDevice connects."""

import re

import pytest

from host import protocol as p
from hw.eth_device import PHY_PINS
from hw.liteeth.generate import CONFIGS, MODULE, liteeth_verilog


@pytest.mark.parametrize("phy", sorted(CONFIGS))
def test_the_core_has_the_ports_the_device_connects(phy):
    text = liteeth_verilog(phy).read_text()
    header = text[text.index(f"module {MODULE} ("):text.index(");", text.index(f"module {MODULE} ("))]
    ports = dict((name, direction) for direction, name in re.findall(r"(input|output)\s+(?:wire|reg)\s+(?:\[\d+:0\]\s+)?(\w+)", header))
    for name, direction, _ in PHY_PINS[phy]:
        assert ports.get(name) == {"i": "input", "o": "output"}[direction], name
    for name in ("link_source_valid", "link_source_data", "link_source_last", "link_source_error", "link_source_ip_address",
                 "link_source_src_port", "link_sink_ready"):
        assert ports.get(name) == "output", name
    for name in ("link_sink_valid", "link_sink_data", "link_sink_last", "link_sink_ip_address", "link_sink_dst_port",
                 "link_sink_length", "sys_clock", "sys_reset"):
        assert ports.get(name) == "input", name
    # The raw port dispatches on the constant port number, not on an input.
    assert re.search(rf"dst_port == \d+'d{p.UDP_PORT}\)", text)
    if phy == "ecp5-rgmii":
        assert "IDDRX1F" in text and "ODDRX1F" in text            # the ECP5's DDR I/O: boards only, not simulated


def test_an_unknown_phy_is_refused():
    with pytest.raises(ValueError, match="phy must be one of"):
        liteeth_verilog("rmii")


@pytest.mark.parametrize("phy", sorted(CONFIGS))
def test_the_kept_configs_leave_the_icmp_echo_out(phy):
    # `icmp: false`: liteeth.gen always builds the echo; the generator passes with_icmp=False instead.
    assert "icmp" not in liteeth_verilog(phy).read_text().lower()


def test_an_icmp_setting_that_is_not_a_boolean_is_refused(tmp_path):
    from hw.liteeth.generate import _generate
    config = tmp_path / "bad.yml"
    config.write_text(CONFIGS["gmii"].read_text().replace("icmp:         false", "icmp:         off-ish"))
    with pytest.raises(ValueError, match="icmp must be true or false"):
        _generate(str(config), str(tmp_path / "out"))
