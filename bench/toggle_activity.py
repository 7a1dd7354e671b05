"""Toggle rate of the accelerator's nets over decode, measured in simulation (Verilator toggle coverage).

    .venv/bin/python bench/toggle_activity.py [--hidden 256] [--tokens 3] [--out bench/results]

The ULX3S configuration (16 lanes, 2-bit weights, the SDRAM-like memory) runs the end-to-end testbench
(sim/accelerator, random model, bit-exact checks included) built with `--coverage-toggle`; Verilator counts
every transition of every net bit. Toggle rate = transitions / (net bits x clock cycles of the run). The
power projection (bitstreams/projection.py) reads toggle_activity.json: *measured*.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from golden.config import HGRNBitConfig  # noqa: E402
from golden.packing import TritFormat  # noqa: E402
from sim.accelerator.harness import run_model  # noqa: E402
from sim.clocking import CLOCK_PERIOD_NS  # noqa: E402

POINT = re.compile(r"^C '(.*)' (\d+)$")


def toggles(coverage: Path) -> tuple[int, int, dict[str, int]]:
    """(total transitions, points, transitions by top-level unit) from a Verilator coverage.dat."""
    total, points, by_unit = 0, 0, {}
    for line in coverage.read_text(errors="replace").splitlines():
        match = POINT.match(line)
        if not match or "v_toggle" not in match.group(1):
            continue
        fields = dict(part.split("\x02", 1) for part in match.group(1).split("\x01") if "\x02" in part)
        count = int(match.group(2))
        total, points = total + count, points + 1
        scope = fields.get("h", fields.get("page", "")).split(".")
        unit = scope[1] if len(scope) > 1 else "(top)"
        by_unit[unit] = by_unit.get(unit, 0) + count
    return total, points, by_unit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    config = HGRNBitConfig(vocab_size=256, hidden_size=args.hidden, num_hidden_layers=1, bos_token_id=None,
                           eos_token_id=None)
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        build = run_model(config, seed=11, trit_format=TritFormat.TRITS_2BIT, memory="sdram", lanes=16,
                          emit_logits=False, build_name=f"bench_toggle_{args.hidden}",
                          env={"PROMPT": "1", "TOKENS": str(args.tokens), "HOST_RATE": "1.0",
                               "RESULTS_FILE": str(results)},
                          extra_build_args=("--coverage-toggle",))
        run = json.loads(results.read_text())
    sim_ns = max(float(prop.get("value")) for prop in ElementTree.parse(build / "results.xml").iter("property")
                 if prop.get("name") == "sim_time_stop")                    # both tests of the run, in ns
    cycles = int(sim_ns / CLOCK_PERIOD_NS)
    total, points, by_unit = toggles(build / "coverage.dat")
    # Verilator has one point per bit and direction (0->1, 1->0): bits = points / 2, a toggle = one transition.
    bits = points // 2
    rate = total / (bits * cycles)
    report = {"toggle_rate": rate, "transitions": total, "net_bits": bits, "cycles": cycles,
              "configuration": "16 lanes, 2-bit, SDRAM-like memory; random model hidden "
                               f"{args.hidden}, 1 layer; {args.tokens} tokens", "decode_step_cycles": run["decode_steps"],
              "transitions_by_unit": by_unit,
              "tag": "measured (Verilator toggle coverage over the end-to-end testbench)"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "toggle_activity.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"toggle rate {rate:.4f} transitions per net bit per cycle ({total:,} transitions, {bits:,} net bits, "
          f"{cycles:,} cycles) (measured); by unit: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_unit.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
