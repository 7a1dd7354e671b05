"""Fmax of each unit of the ULX3S device alone, to find what limits the whole build's clock.

    .venv/bin/python bench/unit_timing.py [--units controller vector norm matvec mover image_check beat_reader link sdram]

Each unit of the device `mmfree build` makes (same parameters) is placed and routed alone on the ECP5-85F
inside hw.lfsr_harness.LfsrHarness: a 64-bit LFSR drives every input port, every output port is folded into
one register (nextpnr-ecp5, fixed seed). Printed: Fmax (measured, from nextpnr's --report through
bitstreams.flow.parse_nextpnr_report) and the critical path's end points (from nextpnr's log).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_synth import fmax_mhz, place_and_route_ecp5  # noqa: E402
from hw.lfsr_harness import harness_verilog  # noqa: E402


def place_and_route(unit, work: Path, seed: int = 1) -> tuple[float | None, str, str]:
    """Fmax (MHz), the critical path's design names in order, and nextpnr's whole printout of that path."""
    report, log = place_and_route_ecp5(harness_verilog(unit, reset=True), work, seed=seed, freq_mhz=100)
    start = log.rfind("(posedge -> posedge)")
    path = log[start:log.find("\n\n", start)] if start >= 0 else ""
    ends = re.findall(r"(?:Source|Sink) (\S+)", path)
    # The path through the design's names (cell names cut at the first primitive suffix), in order.
    names = []
    for end in ends:
        short = re.split(r"_(?:TRELLIS|LUT4|CCU2C|PFUMX|L6MUX21|DP16KD|MULT18X18D|ALU54B|DPR16X4)", end)[0]
        if not names or names[-1] != short:
            names.append(short)
    where = " -> ".join(names) if names else "?"
    return fmax_mhz(report), where, path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", nargs="+", default=["controller", "vector", "norm", "matvec", "mover",
                                                       "image_check", "beat_reader", "link", "sdram"])
    parser.add_argument("--model", default="stdlib-256")
    parser.add_argument("--paths", action="store_true", help="print nextpnr's whole critical path of each unit")
    args = parser.parse_args()
    from assembler.compiler import compile_model
    from bitstreams.flow import make_top
    from bitstreams.targets import BOARDS
    from golden.image import image_layout
    from golden.packing import TritFormat
    from golden.zoo import load_model

    config = load_model(args.model).config
    layout = image_layout(config, TritFormat.TRITS_2BIT)
    compiled = compile_model(layout)

    def fresh():
        return make_top(BOARDS["ulx3s-85f"], config, trit_format=layout.trit_format,
                        program_instructions=len(compiled.program.instructions), vmem_words=compiled.program.vmem_words)

    for name in args.units:
        top = fresh()
        acc = top.device.accelerator
        unit = {"link": top.device.link, "sdram": top.memory, "accelerator": acc}.get(name) or getattr(acc, name)
        with tempfile.TemporaryDirectory() as tmp:
            fmax, where, path = place_and_route(unit, Path(tmp))
        print(f"{name:12s} Fmax {fmax} MHz (measured, nextpnr-ecp5 alone in an LFSR harness); critical path {where}",
              flush=True)
        if args.paths:
            print(path, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
