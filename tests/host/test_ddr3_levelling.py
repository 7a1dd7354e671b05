"""DDR3 bring-up (host/ddr3_init.py, host/ddr3_levelling.py) against the behavioural model of the LiteDRAM core's
CSR space (sim/litedram/csr_model.py): the lanes' good (bitslip, delay) settings are the test's choice, the
expected outcome follows from them and from the BIOS's rules (best bitslip, centre of the longest window)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.ddr3_dfii import Dfii
from host.ddr3_init import DramInitError, bring_up, load_control
from host.ddr3_levelling import read_levelling
from sim.litedram.csr_model import LiteDRAMCsrModel, ModelProtocolError

CONTROL = load_control("ecpix5")
DELAYS, BITSLIPS, LANES = CONTROL.phy.delays, CONTROL.phy.bitslips, CONTROL.phy.strobes


def window(bitslip, first, last):
    return {(bitslip, delay) for delay in range(first, last + 1)}


def initialised_model(good, **options):
    """A model whose DRAM went through the init sequence (bring_up's first steps), DFII in software control."""
    from host.ddr3_init import run_init_sequence
    model = LiteDRAMCsrModel(CONTROL, good, **options)
    dfii = Dfii(model, CONTROL, pause=lambda seconds: None)
    dfii.software_control()
    run_init_sequence(dfii)
    return model, dfii


def level(good, **options):
    model, dfii = initialised_model(good, **options)
    return read_levelling(dfii), model


@st.composite
def lane_windows(draw):
    bitslip = draw(st.integers(0, BITSLIPS - 1))
    first = draw(st.integers(0, DELAYS - 1))
    last = draw(st.integers(first, DELAYS - 1))
    return bitslip, first, last


@settings(max_examples=40, deadline=None)
@given(st.lists(lane_windows(), min_size=LANES, max_size=LANES), st.integers(0, 2 ** 16))
def test_random_windows_give_their_bitslip_and_centre(windows, seed):
    lanes, _ = level([window(*lane) for lane in windows], seed=seed)
    for result, (bitslip, first, last) in zip(lanes, windows):
        assert (result.bitslip, result.window, result.delay) == (bitslip, (first, last), (first + last) // 2)


@pytest.mark.parametrize("first, last", [(0, 0), (7, 7), (3, 3), (0, 2), (5, 7), (0, 7), (6, 7), (0, 1)])
def test_edge_and_narrow_windows(first, last):
    lanes, _ = level([window(1, first, last), window(3, first, last)])
    assert [(lane.bitslip, lane.delay) for lane in lanes] == [(1, (first + last) // 2), (3, (first + last) // 2)]


def test_scan_passes_exactly_at_the_good_settings():
    good = [window(0, 2, 4) | window(2, 5, 6), window(3, 1, 5)]
    lanes, _ = level(good)
    for lane, settings_ in zip(lanes, good):
        for scan in lane.scans:
            passing = {(scan.bitslip, delay) for delay, errors in enumerate(scan.errors) if errors == 0}
            assert passing == {setting for setting in settings_ if setting[0] == scan.bitslip}


def test_the_bitslip_with_more_passing_delays_wins():
    # Lane 0: bitslip 0 passes at 2 delays, bitslip 2 at 3; lane 1: bitslip 3 at 4 delays, bitslip 1 at 1.
    lanes, _ = level([window(0, 0, 1) | window(2, 4, 6), window(1, 0, 0) | window(3, 2, 5)])
    assert [(lane.bitslip, lane.delay) for lane in lanes] == [(2, 5), (3, 3)]


@pytest.mark.parametrize("delays, expected_window", [
    ({1, 3, 4, 5}, (3, 5)),     # a lone pass before the window is skipped (edges can be spotty)
    ({0, 1, 3, 4}, (0, 1)),     # two runs of the same length: the first
    ({0, 1, 3, 4, 5}, (3, 5)),  # the longer run, though later
    ({0, 2, 4, 6}, (0, 0)),     # no two passes in a row: the first pass (the BIOS would leave delay 7 here)
])
def test_the_longest_window_that_starts_with_two_passes(delays, expected_window):
    good = {(2, delay) for delay in delays}
    lanes, _ = level([good, good])
    for lane in lanes:
        assert (lane.window, lane.delay) == (expected_window, sum(expected_window) // 2)


def test_a_lane_with_no_good_setting_fails_naming_the_lane_and_leaves_a_defined_state():
    model = LiteDRAMCsrModel(CONTROL, [window(1, 2, 5), set()])
    with pytest.raises(DramInitError) as caught:
        bring_up(model, CONTROL, pause=lambda seconds: None)
    message = str(caught.value)
    assert "byte lane 1" in message and "bitslips 0-3" in message and "delays 0-7" in message
    for bitslip in range(BITSLIPS):
        assert f"bitslip {bitslip}:" in message
    assert model.hardware_control and not model.user_port_open
    assert model.read(CONTROL.address("ddrctrl_init_error")) == 1
    assert model.read(CONTROL.address("ddrctrl_init_done")) == 1
    assert model.read(CONTROL.address("sdram_dfii_control")) == CONTROL.control_value("sel")   # the bus answers


def test_bring_up_opens_the_user_port():
    model = LiteDRAMCsrModel(CONTROL, [window(2, 2, 5), window(1, 4, 6)])
    report = bring_up(model, CONTROL, pause=lambda seconds: None)
    assert [(lane.bitslip, lane.delay) for lane in report.lanes] == [(2, 3), (1, 5)]
    assert model.hardware_control and model.user_port_open
    assert report.bursts_tested == 2 + sum(len(group) for group in (
        range(1 + CONTROL.dram.bankbits), range(1 + CONTROL.dram.colbits - 3), range(1 + CONTROL.dram.rowbits)))
    # No refresh in software control: each burst is read back within its group's writes and reads (32 accesses a
    # burst), not after the whole test.
    largest_group = 1 + CONTROL.dram.rowbits
    assert model.longest_unrefreshed <= largest_group * 32
    print(f"longest write-to-read gap of the memory test: {model.longest_unrefreshed} CSR accesses")


@pytest.mark.parametrize("kind, bits", [("bank", 3), ("row", 15), ("column", 10)])
def test_the_memory_test_finds_a_stuck_address_line(kind, bits):
    bit = random.Random(kind).randrange(3 if kind == "column" else 0, bits)
    model = LiteDRAMCsrModel(CONTROL, [window(0, 1, 4), window(0, 1, 4)], stuck_address_bits={kind: bit})
    with pytest.raises(DramInitError) as caught:
        bring_up(model, CONTROL, pause=lambda seconds: None)
    line = {"bank": f"BA{bit}", "row": f"row bit {bit} (A{bit})", "column": f"column bit {bit} (A{bit})"}[kind]
    assert "memory test failed" in str(caught.value) and f"address line {line} is stuck" in str(caught.value)
    assert not model.user_port_open and model.hardware_control


def test_levelling_needs_the_init_sequence():
    model = LiteDRAMCsrModel(CONTROL, [window(0, 0, 7), window(0, 0, 7)])
    dfii = Dfii(model, CONTROL, pause=lambda seconds: None)
    dfii.software_control()
    with pytest.raises(DramInitError, match="byte lane 0"):
        read_levelling(dfii)        # the DRAM never drives DQS: no lane passes anywhere


def test_the_model_refuses_what_the_core_would_not_do():
    model = LiteDRAMCsrModel(CONTROL, [window(0, 0, 7), window(0, 0, 7)])
    dfii = Dfii(model, CONTROL, pause=lambda seconds: None)
    with pytest.raises(ModelProtocolError, match="hardware control"):
        dfii.activate()
    with pytest.raises(ModelProtocolError, match="no CSR"):
        model.read(0x2000)
    with pytest.raises(ModelProtocolError, match="read-only"):
        model.write(CONTROL.address("ddrphy_burstdet_seen"), 0)
    model, dfii = initialised_model([window(0, 0, 7), window(0, 0, 7)])
    with pytest.raises(ModelProtocolError, match="no row open"):
        dfii.read_command()
    dfii.activate()
    with pytest.raises(ModelProtocolError, match="phase"):
        dfii.command(1 - CONTROL.phy.rdphase, CONTROL.command_value("cas", "cs", "rddata"))


def test_csr_accesses_of_a_calibration_follow_the_bios_loops():
    """The count the docs state: every access of the BIOS's loops, none more (the per-bitslip display centring
    aside). Per pattern test: activate, write, read, precharge (address, baddress, command, issue: 4 x 4), the
    wrdata words and rddata words of every phase, burstdet clear and read; a lane action is 5 writes."""
    phy = CONTROL.phy
    data_words = phy.nphases * CONTROL.csr_words["sdram_dfii_pi0_wrdata"]
    pattern = 4 * 4 + 2 * data_words + 2
    test = 3 * pattern                                  # seeds 42, 84, 36
    action = 5
    lanes_good = [window(2, 2, 5), window(1, 4, 6)]
    model, dfii = initialised_model(lanes_good)
    before = model.accesses
    lanes = read_levelling(dfii)
    expected = 0
    for lane in lanes:
        expected += 2 * action                                              # sdram_leveling's resets
        expected += action + BITSLIPS * (action + DELAYS * (test + action)) + (BITSLIPS - 1) * action  # the scans
        expected += action + lane.bitslip * action                          # the best bitslip set
        expected += action + (DELAYS + 1) * test + (DELAYS - 1) * action    # the centring scan
        expected += action + lane.delay * action + test                     # the centre set and checked
    assert model.accesses - before == expected
    print(f"read levelling of {LANES} lanes: {expected} CSR accesses")


@pytest.mark.parametrize("drift_after", ["scans", "centring"])
def test_a_lane_that_drifts_fails_with_what_was_found(monkeypatch, drift_after):
    """The lane's window vanishes after its bitslip scans (the centring finds nothing) or after the centring scan
    (the 8 checks at the centre fail): DramInitError naming the lane and the setting, controller given back."""
    import host.ddr3_levelling as levelling
    model = LiteDRAMCsrModel(CONTROL, [window(0, 1, 4), window(2, 3, 6)])
    find_window = levelling.find_window

    def drifting(dfii, lane):
        if lane == 1 and drift_after == "scans":
            model.good[1] = frozenset()
        found = find_window(dfii, lane)
        if lane == 1:
            model.good[1] = frozenset()
        return found

    monkeypatch.setattr(levelling, "find_window", drifting)
    with pytest.raises(DramInitError) as caught:
        bring_up(model, CONTROL, pause=lambda seconds: None)
    message = str(caught.value)
    assert "byte lane 1" in message
    if drift_after == "scans":
        assert "bitslip 2 passed in its scan but no delay passed when centring" in message
    else:
        assert "bitslip 2, delay 4 (centre of passing delays 3-6) failed 8 checks" in message
    assert model.hardware_control and not model.user_port_open
