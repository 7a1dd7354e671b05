"""The build flow: the ECP5 PLL settings, nextpnr report parsing, the report, and a real bitstream of the
ternary engine on every board (ULX3S, iCEBreaker) through the same flow as `mmfree build` (YoWASP tools, fixed seed)."""

import json

import pytest

from bitstreams.flow import make_report, markdown, overflow, parse_nextpnr_report, run_build, write_report
from bitstreams.targets import BOARDS
from golden.packing import TritFormat
from hw.board import EcpPll, EngineCheckTop
from hw.ternary_engine import TernaryMatVec


@pytest.mark.parametrize("output_hz", [25e6, 37.5e6, 40e6, 50e6, 62.5e6, 100e6])
def test_ecp5_pll_settings_are_legal_and_exact(output_hz):
    pll = EcpPll.closest(25e6, output_hz)
    assert pll.output_hz == pytest.approx(output_hz)
    assert 400e6 <= pll.output_hz * pll.clkop_div <= 800e6           # VCO range (Lattice TN1263)
    assert 25e6 / pll.clki_div >= 3.125e6                             # phase detector input


@pytest.mark.parametrize("output_hz, secondary_hz", [(75e6, 50e6), (100e6, 50e6), (87.5e6, 50e6), (80e6, 60e6)])
def test_ecp5_pll_second_output_shares_the_vco(output_hz, secondary_hz):
    pll = EcpPll.closest(25e6, output_hz, secondary_hz)
    vco = pll.output_hz * pll.clkop_div
    assert 400e6 <= vco <= 800e6
    assert pll.output_hz == pytest.approx(output_hz) and pll.secondary_hz == pytest.approx(secondary_hz)
    assert vco / pll.clkos_div == pytest.approx(pll.secondary_hz)


def test_an_impossible_clock_is_refused():
    with pytest.raises(ValueError, match="no ECP5 PLL setting"):
        EcpPll.closest(25e6, 1e6)
    with pytest.raises(ValueError, match="no ECP5 PLL setting"):
        EcpPll.closest(25e6, 100e6, 2e6)                                # CLKOS_DIV stops at 128


def test_a_design_larger_than_the_part_is_named_cell_by_cell():
    board = BOARDS["icebreaker"]
    assert overflow(board, {"SB_LUT4": 5280, "SB_RAM40_4K": 30, "SB_DFF": 9000}) == []       # full is not over
    assert overflow(board, {"SB_LUT4": 30471, "SB_RAM40_4K": 345, "SB_SPRAM256KA": 4}) == [
        "SB_LUT4 30,471 of 5,280", "SB_RAM40_4K 345 of 30"]


def test_nextpnr_report_is_parsed(tmp_path):
    raw = {"fmax": {"$glbnet$clk": {"achieved": 61.234, "constraint": 50.0}},
           "utilization": {"TRELLIS_COMB": {"used": 123, "available": 83640}, "DCCA": {"used": 0, "available": 56}}}
    (tmp_path / "report.json").write_text(json.dumps(raw))
    parsed = parse_nextpnr_report(tmp_path / "report.json")
    assert parsed == {"fmax": {"clk": {"achieved_mhz": 61.23, "constraint_mhz": 50.0}},
                      "utilisation": {"TRELLIS_COMB": {"used": 123, "available": 83640}}}


# The logic cell of each family as nextpnr reports it, and the part's count (ECP5-85F, iCE40 UP5K): one board a
# family, the flow is the same for the family's other boards.
LOGIC_CELLS = {"ulx3s-85f": ("TRELLIS_COMB", 83640), "icebreaker": ("ICESTORM_LC", 5280)}


@pytest.mark.parametrize("name", sorted(LOGIC_CELLS))
def test_the_engine_builds_to_a_bitstream(tmp_path, name):
    board = BOARDS[name]
    engine = TernaryMatVec(lanes=board.lanes, trit_format=TritFormat.TRITS_2BIT, max_cols=1024)
    lines = []
    seconds = run_build(board, EngineCheckTop(engine), tmp_path / "build", seed=1, progress=lines.append)
    report = make_report(board, tmp_path / "build", parameters={"design": "engine-check", "lanes": board.lanes,
                                                                "seed": 1}, seconds=seconds)
    bitstream = tmp_path / "build" / report["bitstream"]["file"]
    assert bitstream.stat().st_size == report["bitstream"]["bytes"] > 100_000
    clock_mhz = board.platform_class()().default_clk_frequency / 1e6     # the engine runs on the board's oscillator
    assert report["parameters"]["clock_mhz"] == clock_mhz                # from nextpnr's constraint
    assert report["timing_met"] and report["fmax_mhz"] > clock_mhz
    cell, available = LOGIC_CELLS[name]
    used = report["utilisation"][cell]
    assert 20 * board.lanes < used["used"] < 5000 and used["available"] == available   # lanes of logic, not zero
    assert report["tools"][f"yowasp-nextpnr-{board.family}"] and report["yosys_cells"]
    json_path, md_path = write_report(report, tmp_path, name=f"{name}-engine-check")
    assert json_path.name == f"{name}-engine-check.json"
    assert json.loads(json_path.read_text()) == report and md_path.read_text() == markdown(report)
    assert md_path.read_text().startswith(f"# Build report: {name}, engine-check")


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_board_top_elaborates_for_its_platform(board):
    from assembler.compiler import compile_model
    from bitstreams.flow import make_top
    from golden.config import preset
    from golden.image import image_layout

    target = BOARDS[board]
    layout = image_layout(preset("tiny"), TritFormat.TRITS_2BIT)
    compiled = compile_model(layout)
    top = make_top(target, layout.config, trit_format=layout.trit_format, vmem_words=compiled.program.vmem_words,
                   program_instructions=len(compiled.program.instructions))
    plan = target.make_platform().prepare(top, name="top")
    files = dict(plan.files)
    assert "top.il" in files and "build_top.sh" in files
    rtlil = files["top.il"] if isinstance(files["top.il"], str) else files["top.il"].decode()
    assert ("EHXPLLL" in rtlil) == target.pll                       # the PLL only where the board needs one (a DDR3
    assert ("sdram" in rtlil) == (target.memory == "sdram")         # board's is in its LiteDRAM core)
    assert (f"litedram_{target.litedram}" in rtlil) == (target.memory == "ddr3")
    assert rtlil.count("SB_SPRAM256KA") == (4 if target.memory == "spram" else 0)  # instantiated, not inferred
