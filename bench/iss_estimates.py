"""Program sizes and ISS cycle estimates per decode token for the released model shapes.

    python bench/iss_estimates.py [--lanes 256] [--vector-lanes 1 8] [--bytes-per-cycle 2 8 32]

Compiles each model's image layout (no weights needed) and runs one decode step through the
instruction-level simulator's cost model (assembler.iss.CostModel): figures are *derived*.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assembler.compiler import compile_model  # noqa: E402
from assembler.iss import CostModel, decode_step_counters  # noqa: E402
from golden.config import preset  # noqa: E402
from golden.image import image_layout  # noqa: E402
from golden.packing import TritFormat  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["370M", "1.3B", "2.7B"])
    parser.add_argument("--lanes", type=int, default=256)
    parser.add_argument("--vector-lanes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--bytes-per-cycle", type=float, nargs="+", default=[2, 8, 32])
    args = parser.parse_args()
    fixed = {k: v for k, v in CostModel(lanes=args.lanes).__dict__.items() if k not in ("bytes_per_cycle", "vector_lanes")}
    print(f"derived (ISS cost model), base-3 weights (1.6 bit/weight); {fixed}; bandwidth (B/cyc) and vector lanes (vec) as listed")
    print(f"{'model':6s} {'instr':>6s} {'bytes':>7s} {'VMEM words':>10s} {'B/token':>11s} {'B/cyc':>6s} {'vec':>4s} "
          f"{'cycles/token':>13s} {'roofline':>11s} {'% roofline':>10s} {'engine %':>8s}")
    for name in args.models:
        layout = image_layout(preset(name), TritFormat.TRITS_BASE3)
        compiled = compile_model(layout)
        size = len(compiled.program.to_bytes())
        for vector_lanes in args.vector_lanes:
            for bandwidth in args.bytes_per_cycle:
                cost = CostModel(lanes=args.lanes, bytes_per_cycle=bandwidth, vector_lanes=vector_lanes)
                step = decode_step_counters(compiled.program.instructions, layout.trit_format, cost)
                roofline = step.bytes_read / bandwidth
                print(f"{name:6s} {len(compiled.program.instructions):6d} {size:7d} {compiled.program.vmem_words:10d} "
                      f"{step.bytes_read:11d} {bandwidth:6g} {vector_lanes:4d} {step.cycles:13d} {roofline:11.0f} "
                      f"{100 * roofline / step.cycles:9.1f}% {100 * step.engine_cycles / step.cycles:7.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
