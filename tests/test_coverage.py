"""sim.coverage: a bench's unhit bin fails its run, named; exports of several processes merge into the report."""

import numpy as np
import pytest

from sim.coverage import Coverage, report


def test_an_unhit_bin_fails_the_bench_and_the_report_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COVERAGE_DIR", str(tmp_path))
    bins = {"saturates +": "clamped high", "saturates -": "clamped low", "tie": "exactly half"}
    first = Coverage("unit", bins)
    first.hit("saturates +", np.array([True, False, True]))
    first.hit("tie", False)
    with pytest.raises(AssertionError, match="never hit: saturates -, tie"):
        first.finish()
    second = Coverage("unit", bins)              # another simulator process of the same unit
    second.hit("saturates -")
    with pytest.raises(AssertionError, match=r"never hit: saturates \+, tie"):
        second.finish()
    text = report(tmp_path)
    assert "unit                 2 /   3 bins hit" in text and "UNHIT tie: exactly half" in text
    assert "UNHIT saturates" not in text
    with pytest.raises(KeyError, match="no coverage bin"):
        first.hit("undeclared")
