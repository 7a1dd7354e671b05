"""SymbiYosys checks of the engine's stream contract (sim/engine/formal_ternary_engine.py).

Bounded model checks from reset, with every input free in every cycle. Depths: the control properties
(beats, commands, results owed, valid held, bounded response) to CONTROL_DEPTH cycles, where the cover
shows two products answered with the result credits exhausted first reached at step ~21; the payload
rule, which brings the whole datapath into the solver, to PAYLOAD_DEPTH cycles (results first leave at
step ~8). The smallest engines are checked: the sequencing and credit logic does not depend on LANES,
only the pipeline depth does, and that enters the response bound.
"""

import pytest

from golden.packing import TritFormat
from hw.ternary_engine import TernaryMatVec
from sim.engine.formal_ternary_engine import EngineStreamContract
from sim.formal import run_sby

CONTROL_DEPTH = 24
PAYLOAD_DEPTH = 14
# rows up to 15 > result FIFO depth, so the credit limit is reached; 3 beats per row at most.
SHAPES = [(4, TritFormat.TRITS_2BIT, 12, 15), (5, TritFormat.TRITS_BASE3, 15, 15)]
IDS = [f"{l}lanes-{f.name}" for l, f, *_ in SHAPES]


def _contract(lanes, trit_format, max_cols, max_rows, **kwargs):
    engine = TernaryMatVec(lanes=lanes, trit_format=trit_format, max_cols=max_cols, max_rows=max_rows)
    return EngineStreamContract(engine, **kwargs)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_stream_contract_holds(shape):
    contract = _contract(*shape, check_payload=False)
    result = run_sby(contract, contract.ports(), name=f"engine_control_{IDS[SHAPES.index(shape)]}",
                     mode="bmc", depth=CONTROL_DEPTH)
    assert result.passed, result.log[-3000:]


def test_result_payload_held_until_taken():
    contract = _contract(*SHAPES[0])
    result = run_sby(contract, contract.ports(), name="engine_payload", mode="bmc", depth=PAYLOAD_DEPTH)
    assert result.passed, result.log[-3000:]


def test_depth_reaches_credit_exhaustion_and_two_products():
    contract = _contract(*SHAPES[0], check_payload=False)
    result = run_sby(contract, contract.ports(), name="engine_cover", mode="cover", depth=CONTROL_DEPTH)
    assert result.passed, result.log[-3000:]
    assert result.reached_cover_step() < CONTROL_DEPTH


def test_response_bound_is_tight():
    """One cycle less than the stated bound is refuted: the checker sees a slow result (it can fail)."""
    engine = TernaryMatVec(lanes=4, max_cols=12, max_rows=15)
    contract = EngineStreamContract(engine, check_payload=False, response_bound=engine.pipeline_depth + 1)
    result = run_sby(contract, contract.ports(), name="engine_tight_bound", mode="bmc", depth=CONTROL_DEPTH)
    assert not result.passed
    assert "Assert failed" in result.log, result.log[-3000:]
