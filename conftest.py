"""Test scheduling: with pytest-xdist (`make test` runs `pytest -n 2`), the longest tests are started
first so that no worker ends the run alone with a long one. The order below is by measured duration
(pytest --durations), longest first; everything else follows in collection order."""

LONGEST_FIRST = (
    "sim/engine/test_ternary_engine_formal.py::test_stream_contract_holds",     # SymbiYosys proofs, minutes each
    "sim/link/test_agreement.py",                  # the same request on the cocotb bench and the fast harness
    "sim/accelerator/test_accelerator.py",
    "tests/bitstreams/test_flow.py::test_the_engine_builds_to_a_bitstream",
    "sim/image_check/",
    "sim/engine/test_ternary_engine.py",
    "sim/sdram/",
    "sim/controller/",
    "sim/matvec/",
    "sim/link/",
)


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        return next((index for index, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
                    len(LONGEST_FIRST))
    items.sort(key=rank)                          # stable: collection order within a rank
