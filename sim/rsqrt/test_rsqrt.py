"""pytest entry of the reciprocal-square-root unit's cocotb testbench."""

from hw.rsqrt import ReciprocalSqrt
from sim.runner import run_cocotb


def test_rsqrt_matches_golden():
    run_cocotb(ReciprocalSqrt(), toplevel="reciprocal_sqrt", test_module="sim.rsqrt.tb_rsqrt",
               build_name="rsqrt", env={"COUNT": "600"})
