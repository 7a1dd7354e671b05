"""Elaborate the accelerator a projection assumes, to show the RTL builds it (measured: time and peak memory).

    .venv/bin/python bench/elaborate_projected.py --target hbm-u280 --batch 8 --model 2.7B

The target's batched build (bitstreams.projection.Target: batch_lanes trees side by side, V, memory beat,
write_bytes) sized for the model's rows (max_cols / max_rows / max_length: its widest matrix), elaborated to
RTLIL with Amaranth; nothing is synthesised. The result goes to stdout (bench/results/hbm_batching.txt keeps one).
"""

from __future__ import annotations

import argparse
import resource
import time

from amaranth.back import rtlil

from bitstreams.projection import TARGETS
from golden.config import preset
from golden.packing import TritFormat
from hw.accelerator import Accelerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="hbm-u280", choices=sorted(TARGETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--model", default="2.7B")
    args = parser.parse_args()
    target, config = TARGETS[args.target], preset(args.model)
    if not target.batch_lanes:
        raise SystemExit(f"{args.target} takes a batch's slots in turn: no side-by-side build to elaborate")
    widest = max(config.hidden_size, config.mlp_size)
    start = time.monotonic()
    accelerator = Accelerator(program_words=4096, vmem_words=1 << 16, lanes=target.batch_lanes,
                              trit_format=TritFormat.TRITS_BASE3, max_length=widest, max_cols=widest, max_rows=widest,
                              mem_bytes=target.mem_bytes, vector_width=target.vector_width,
                              prefetch_bytes=target.prefetch_bytes, batch=args.batch, parallel=True,
                              write_bytes=target.write_bytes)
    text = rtlil.convert(accelerator, name="accelerator")
    seconds = time.monotonic() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.target}, B {args.batch} side by side: {args.batch} trees of {target.batch_lanes} lanes (base-3), "
          f"V {target.vector_width}, {target.mem_bytes}-byte memory beats, VSTORE {target.write_bytes} B a write, "
          f"rows up to {widest}: elaborated to RTLIL ({len(text) / 1e6:.0f} M characters) in {seconds:.0f} s, "
          f"peak memory {peak_mib:,.0f} MiB (measured)")


if __name__ == "__main__":
    main()
