"""Long fuzz run of the assembler and disassembler (see assembler/fuzz.py); prints the case counts.

    python bench/fuzz_assembler.py [--cases N] [--seed S]     (N inputs of each of four kinds)
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assembler.fuzz import fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    start = time.perf_counter()
    stats = fuzz(args.cases, args.seed)
    seconds = time.perf_counter() - start
    print(f"fuzz (measured): {stats['cases']} inputs, seed {args.seed}, {seconds:.1f} s, no crash")
    for key in ("binary accepted", "binary rejected", "text accepted", "text rejected"):
        print(f"  {key:16s} {stats[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
