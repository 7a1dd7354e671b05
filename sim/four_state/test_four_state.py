"""The four-state checks (sim/xcheck.py) can fail, and a few unit benches under Icarus: the default run's
Icarus subset (the whole of `pytest sim` under Icarus: `pytest -m icarus`, sim/four_state/test_icarus_suite.py).
Skipped, saying why, only where Icarus is not installed (.ci/run installs it)."""

import pytest

from hw.rsqrt import ReciprocalSqrt
from hw.uart import UART
from sim.four_state.forwarder import PayloadForwarder
from sim.runner import icarus_missing, run_cocotb
from sim.xcheck import port_roles

needs_icarus = pytest.mark.skipif(icarus_missing() is not None, reason=icarus_missing() or "")


def run_forwarder(careless: bool, log_file):
    run_cocotb(PayloadForwarder(careless=careless), toplevel="payload_forwarder",
               test_module="sim.four_state.tb_forwarder", build_name=f"forwarder_careless_{careless}", env={},
               log_file=log_file, simulator="icarus")


def test_port_roles_follow_the_signature():
    roles = port_roles(ReciprocalSqrt())
    assert roles == {"outputs": {"request__ready": None, "response__payload": "response__valid",
                                 "response__valid": None},
                     "dont_care": ["request__payload"]}


@needs_icarus
def test_a_design_that_keeps_dont_care_payloads_inside_passes(tmp_path):
    run_forwarder(False, tmp_path / "log")


@needs_icarus
def test_a_dont_care_payload_forwarded_to_an_output_is_caught(tmp_path):
    log = tmp_path / "log"
    with pytest.raises(SystemExit):                     # how cocotb's runner fails a test under pytest
        run_forwarder(True, log)
    assert "seen is" in log.read_text() and "(X or Z)" in log.read_text()


@needs_icarus
def test_rsqrt_under_icarus():
    run_cocotb(ReciprocalSqrt(), toplevel="reciprocal_sqrt", test_module="sim.rsqrt.tb_rsqrt",
               build_name="rsqrt", env={"COUNT": "100"}, simulator="icarus")


@needs_icarus
def test_uart_under_icarus():
    run_cocotb(UART(divisor=4), toplevel="uart", test_module="sim.uart.tb_uart", build_name="uart_4",
               env={"DIVISOR": "4"}, simulator="icarus")
