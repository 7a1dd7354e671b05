"""The projection's logic: monotone in bandwidth and clock, never above the memory roofline, reaching it
when memory-bound; power adds up and grows with traffic; every coefficient has a source; docs current."""

import copy
import dataclasses
from pathlib import Path

import pytest

from bitstreams import projection as p
from golden.config import preset
from golden.packing import TritFormat

# A build report shaped like nextpnr's (independent of the real build: the logic is under test).
REPORT = {"parameters": {"clock_mhz": 50.0, "lanes": 16}, "timing_met": True, "fmax_mhz": 55.0,
          "utilisation": {"TRELLIS_COMB": {"used": 20000, "available": 83640},
                          "TRELLIS_FF": {"used": 9000, "available": 83640},
                          "DP16KD": {"used": 90, "available": 208}, "MULT18X18D": {"used": 20, "available": 156}}}
BASE3 = TritFormat.TRITS_BASE3


@pytest.mark.parametrize("target", sorted(p.TARGETS))
def test_tokens_per_second_is_monotone_in_bandwidth_and_bounded_by_the_roofline(target):
    rates = []
    for gb_s in [0.01, 0.05, 0.1, 0.5, 1, 5, 20, 100, 500, 2000]:
        result = p.project(preset("370M"), p.TARGETS[target], BASE3, report=REPORT, bandwidth_gb_s=gb_s)
        tokens, roofline = result["tokens_per_s"].value, result["roofline_tokens_per_s"].value
        assert tokens <= roofline * (1 + 1e-9), f"{gb_s} GB/s: {tokens} tokens/s above the roofline {roofline}"
        rates.append(tokens)
    assert rates == sorted(rates), rates
    assert rates[-1] < rates[0] * 1e6            # compute-bound at the top: the cycle model, not the bandwidth


def test_a_memory_bound_target_runs_near_the_roofline():
    # 16 lanes consume 2 bytes a clock with room to spare: decode is memory-bound on the ULX3S.
    result = p.project(preset("1.3B"), p.TARGETS["ulx3s-85f"], BASE3, report=REPORT)
    assert result["percent_of_roofline"] > 95
    assert result["bandwidth"].value == pytest.approx(2 * 50e6 * p.TARGETS["ulx3s-85f"].efficiency / 1e9)
    assert result["clock"].tag == "measured" and result["tokens_per_s"].tag == "derived"
    assert not result["fits"]                    # a 1.3B image does not fit 32 MB: said, not hidden


def test_a_compute_bound_design_stays_below_the_roofline():
    # 16 lanes behind HBM-class bandwidth: the lanes, not the memory, set the rate.
    target = p.TARGETS["ulx3s-85f"]
    result = p.project(preset("370M"), target, BASE3, report=REPORT, bandwidth_gb_s=400)
    assert result["percent_of_roofline"] < 5
    assert result["tokens_per_s"].value == pytest.approx(50e6 / result["cycles_per_token"].value)


def test_clock_scales_a_compute_bound_rate_and_an_unmet_build_uses_its_fmax():
    target = p.TARGETS["hbm-u280"]
    slow = p.project(preset("370M"), target, BASE3, report=REPORT, clock_mhz=100)
    fast = p.project(preset("370M"), target, BASE3, report=REPORT, clock_mhz=200)
    assert fast["tokens_per_s"].value > slow["tokens_per_s"].value
    unmet = copy.deepcopy(REPORT)
    unmet.update(timing_met=False, fmax_mhz=41.5)
    result = p.project(preset("370M"), p.TARGETS["ulx3s-85f"], BASE3, report=unmet)
    assert result["clock"].value == 41.5


def test_batched_rows_gain_up_to_b_and_turn_compute_bound_where_the_engine_is_narrow():
    """The prefill / batched-decode rows (`mmfree report`): one request's rate is the projection's own decode
    rate; B slots gain at most Bx; a memory-bound target (16 lanes behind 0.02 GB/s) gains nearly Bx, the same
    engine behind fast memory (compute-bound already at B 1: the engine takes the B slots one after another)
    about nothing."""
    target = p.TARGETS["ulx3s-85f"]
    slow = p.project(preset("370M"), target, BASE3, report=REPORT, bandwidth_gb_s=0.02, batch=4)
    fast = p.project(preset("370M"), target, BASE3, report=REPORT, bandwidth_gb_s=50, batch=4)
    for result in (slow, fast):
        rows = result["batching"]
        assert rows["decode_one"].value == pytest.approx(result["tokens_per_s"].value, rel=1e-12)
        assert rows["prefill"].tag == rows["decode"].tag == "projected"
        for name in ("prefill", "decode"):
            assert rows[name].value / rows[f"{name}_one"].value <= 4 + 1e-9, (name, rows)
    for name in ("prefill", "decode"):
        assert slow["batching"][name].value / slow["batching"][f"{name}_one"].value > 3.5
        assert 0.9 < fast["batching"][name].value / fast["batching"][f"{name}_one"].value < 1.5
    assert p.project(preset("370M"), target, BASE3, report=REPORT, batch=1)["batching"] is None


def test_slots_side_by_side_gain_where_slots_in_turn_lose():
    """The HBM target's batched build puts the slots side by side (batch_lanes): behind its bandwidth one engine
    taking B slots in turn is slower than one request, B trees are faster, and never more than Bx."""
    side_by_side = p.TARGETS["hbm-u280"]
    in_turn = dataclasses.replace(side_by_side, batch_lanes=0)
    rows = {name: p.project(preset("370M"), target, BASE3, report=REPORT, batch=4)["batching"]
            for name, target in (("side by side", side_by_side), ("in turn", in_turn))}
    gain = {name: r["decode"].value / r["decode_one"].value for name, r in rows.items()}
    assert gain["in turn"] < 1 < 2 < gain["side by side"] <= 4 + 1e-9, gain
    assert "side by side" in rows["side by side"]["engine"] and "in turn" in rows["in turn"]["engine"]


def test_power_adds_up_and_grows_with_traffic_and_clock():
    target = p.TARGETS["ulx3s-85f"]
    usage = p.scaled_utilisation(REPORT, 16)
    idle = p.power(target, usage, 50e6, 0.0)
    busy = p.power(target, usage, 50e6, 90e6)
    faster = p.power(target, usage, 100e6, 90e6)
    for watts in (idle, busy, faster):
        assert watts["total"].value == pytest.approx(sum(f.value for n, f in watts.items() if n != "total"))
        assert all(f.tag == "projected" for f in watts.values())
    assert busy["dram"].value > idle["dram"].value and busy["memory_io"].value > 0 == idle["memory_io"].value
    assert faster["logic"].value == pytest.approx(2 * busy["logic"].value)
    assert idle["dram"].value == pytest.approx(p.power_coefficients()["sdr_background_w"].value)


def test_more_lanes_add_the_measured_per_lane_cells():
    base, wide = p.scaled_utilisation(REPORT, 16), p.scaled_utilisation(REPORT, 272)
    assert wide["lut"] - base["lut"] == pytest.approx(256 * p.LUT_PER_LANE)
    assert wide["ff"] - base["ff"] == pytest.approx(256 * p.FF_PER_LANE)


def test_every_coefficient_is_sourced_and_used():
    text = Path(p.__file__).read_text()
    for name, c in p.power_coefficients().items():
        assert c.source and c.unit and c.status in ("measured", "transcribed", "literature", "assumption"), name
        assert text.count(f'"{name}"') >= 2, f"{name} is defined but never used"


def test_power_doc_is_current():
    doc = Path(p.__file__).resolve().parents[1] / "docs" / "power.md"
    assert doc.read_text(encoding="utf-8") == p.markdown(), "run: python -m bitstreams.projection"


def test_readme_comparison_is_current():
    from bitstreams import comparison
    text = comparison.README.read_text(encoding="utf-8")
    assert comparison.block() in text, "run: python -m bitstreams.comparison"


@pytest.mark.parametrize("board", ["ecpix5-85f", "butterstick"])
def test_ddr3_targets_hold_the_memory_their_litedram_core_drives(board):
    """The projection's capacity is the DRAM behind the core the board's bitstream builds (bitstreams/litedram/)."""
    pytest.importorskip("litedram")
    from bitstreams.litedram import LiteDRAMConfig

    assert p.TARGETS[board].capacity_bytes == LiteDRAMConfig.load(board.removesuffix("-85f")).size_bytes
