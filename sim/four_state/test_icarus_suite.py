"""The whole of `pytest sim` under Icarus (SIM=icarus, four-state: sim/xcheck.py's checks live), behind the
`icarus` marker: `pytest -m icarus` (too slow for the default run, which has sim/four_state/test_four_state.py's
subset). The inner run's output stays on the terminal: each test's duration and the whole run's. ICARUS_WORKERS:
its pytest-xdist workers (default 2)."""

import os
import subprocess
import sys
import time

import pytest

from sim.runner import ROOT, icarus_missing


@pytest.mark.icarus
def test_every_cocotb_bench_passes_under_icarus(capfd):
    if (reason := icarus_missing()) is not None:
        pytest.skip(reason)
    # The SymbiYosys proofs (engine formal) use no simulator: they are the default run's.
    command = [sys.executable, "-m", "pytest", "sim", "-q", "-p", "no:cacheprovider", "-n", os.environ.get("ICARUS_WORKERS", "2"),
               "--durations=0", "--deselect", "sim/engine/test_ternary_engine_formal.py"]
    started = time.monotonic()
    with capfd.disabled():
        result = subprocess.run(command, cwd=ROOT, env={**os.environ, "SIM": "icarus"})
        print(f"\n`SIM=icarus pytest sim`: {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, "a cocotb bench failed under Icarus (its report is above)"
