"""Test scheduling: with pytest-xdist (`make test` runs `pytest -n 2 --dist loadfile`: a file's tests stay
on one worker, in order, as the link sessions need), the longest files are started first so that no
worker ends the run alone with a long one. The order below is by measured duration (pytest --durations),
longest first; everything else follows in collection order.

(--dist loadgroup would keep only the link files together, but pytest-xdist 3.8 marks groups through
`item._nodeid`, which pytest 9.2 no longer reads: the groups are silently ignored.)"""

from hypothesis import HealthCheck, settings

# Hypothesis's wall-clock checks (how fast examples are drawn, a deadline per example) measure the shared 2-core
# machine, not the code: CI failed a protocol test whose six random 1 KB frames took 2 s to draw under load. The
# examples themselves are unchanged; speed is measured in bench/, not in unit tests.
settings.register_profile("shared-cores", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("shared-cores")

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
    "sim/",                                        # every other cocotb bench (a Verilator build each)
    "tests/bitstreams/",
    "tests/test_cli.py",                           # then the quick Python tests fill the gaps
)


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        return next((index for index, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
                    len(LONGEST_FIRST))
    items.sort(key=rank)                          # stable: collection order within a rank


def pytest_configure(config):
    """One folder of functional-coverage exports a session (sim.coverage): the workers and the simulators they
    start inherit it; the controller merges it at the end."""
    if not hasattr(config, "workerinput"):
        import os
        import time

        from sim.coverage import DEFAULT_DIR
        os.environ["COVERAGE_DIR"] = str(DEFAULT_DIR / f"session-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The session's functional coverage, per unit (bins hit / declared; each bench fails on an unhit bin)."""
    if hasattr(config, "workerinput"):
        return
    import os
    from pathlib import Path

    from sim.coverage import report

    folder = Path(os.environ["COVERAGE_DIR"])
    if folder.is_dir():
        text = report(folder)
        (folder / "report.txt").write_text(text + "\n")
        terminalreporter.write_line(text)
