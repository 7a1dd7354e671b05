"""pytest entry of the vector unit's cocotb testbench, per vector width V (one build each).

V = 1 and 8 run by default (V 8 with B 3 running ARGMAX bests, one a slot); V = 32 (a build of about two
minutes: 32 lanes, 32 sigmoid tables) is marked slow (`-m slow`)."""

import pytest

from sim.runner import run_cocotb
from sim.vector.harness import VectorUnitHarness

CASES = [pytest.param(1, 256, 150, 1, id="V1"), pytest.param(8, 256, 150, 3, id="V8-B3"),
         pytest.param(32, 512, 45, 1, id="V32", marks=pytest.mark.slow)]


@pytest.mark.parametrize("vector_width, words, trials, batch", CASES)
def test_vector_unit_matches_golden(vector_width, words, trials, batch):
    harness = VectorUnitHarness(words, vector_width, batch)
    unit = harness.unit
    run_cocotb(harness, toplevel="vector_unit_harness", test_module="sim.vector.tb_vector_unit",
               build_name=f"vector_unit_{words}_v{vector_width}_b{batch}",
               env={"VMEM_WORDS": str(words), "VECTOR_WIDTH": str(vector_width), "TRIALS": str(trials),
                    "BATCH": str(batch),
                    "LATENCY": str(unit.latency), "ARGMAX_LATENCY": str(unit.argmax_latency),
                    "PEAK_LATENCY": str(unit.peak_latency)})
