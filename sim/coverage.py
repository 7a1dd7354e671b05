"""Functional coverage of the cocotb benches (issue 21): the arithmetic corners and protocol cases a bench
declares as named bins, the hits it records, checked complete at the end of its run.

    coverage = Coverage("norm", {"y saturates +": "an RMSNORM output clamped to ACT_MAX", ...})
    coverage.hit("y saturates +", condition)          # counts when condition holds
    ...
    coverage.finish()        # JSON into COVERAGE_DIR; AssertionError naming every declared bin left unhit

Bins are sampled from the reference model's intermediates (what golden.fixedpoint computes on the bench's
stimulus), so a bin says the checked output went through that path. Every simulator process keeps its own
counts and exports them on finish(); the pytest run merges a session's exports into a report per unit (bins hit /
declared, each unhit bin named): conftest.py prints it and writes COVERAGE_DIR/report.txt
(`python -m sim.coverage DIR` does the same for any folder of exports).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections import Counter
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "sim_build" / "coverage"


def coverage_dir() -> Path:
    """Where exports go: COVERAGE_DIR (a pytest session sets one of its own), else sim_build/coverage."""
    return Path(os.environ.get("COVERAGE_DIR", DEFAULT_DIR))


class Coverage:
    """unit: the bench's name in the report; bins: {name: what reaching it means}."""

    def __init__(self, unit: str, bins: dict[str, str]):
        if not bins:
            raise ValueError("a coverage model needs at least one bin")
        self.unit, self.bins, self.counts = unit, dict(bins), Counter()

    def hit(self, name: str, condition=True, count: int = 1) -> None:
        """Count `name` when `condition` holds (a bool, or an array: how many of its elements are true)."""
        if name not in self.bins:
            raise KeyError(f"{self.unit}: no coverage bin {name!r} declared")
        hits = int(condition.sum()) if hasattr(condition, "sum") else int(bool(condition)) * count
        self.counts[name] += hits

    @property
    def unhit(self) -> list[str]:
        return [name for name in self.bins if not self.counts[name]]

    def finish(self) -> None:
        """Export the counts, then fail if any declared bin was never hit."""
        folder = coverage_dir()
        folder.mkdir(parents=True, exist_ok=True)
        record = {"unit": self.unit, "bins": self.bins, "counts": {name: self.counts[name] for name in self.bins}}
        (folder / f"{self.unit}-{uuid.uuid4().hex[:12]}.json").write_text(json.dumps(record))
        missing = self.unhit
        assert not missing, f"{self.unit}: coverage bins never hit: {', '.join(missing)}"


def merge(folder: Path) -> dict[str, dict]:
    """{unit: {"bins": {name: doc}, "counts": {name: hits summed over the exports}}} of a folder of exports."""
    units: dict[str, dict] = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        unit = units.setdefault(record["unit"], {"bins": {}, "counts": Counter()})
        unit["bins"].update(record["bins"])
        unit["counts"].update(record["counts"])
    return units


def report(folder: Path) -> str:
    """The merged report: a line per unit, then its unhit bins (none when every declared bin was reached)."""
    units = merge(folder)
    if not units:
        return f"functional coverage: no exports in {folder}"
    lines = [f"functional coverage (measured; {folder}):"]
    for name, unit in sorted(units.items()):
        hit = sum(1 for bin_ in unit["bins"] if unit["counts"][bin_])
        lines.append(f"  {name:18} {hit:3} / {len(unit['bins']):3} bins hit")
        lines += [f"      UNHIT {bin_}: {doc}" for bin_, doc in unit["bins"].items() if not unit["counts"][bin_]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1]) if len(sys.argv) > 1 else coverage_dir()))
