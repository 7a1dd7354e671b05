"""Roofline of decode tokens/s against memory bandwidth for 370M / 1.3B / 2.7B, with our design points.

    .venv/bin/python bench/projection_plots.py [--out bench/results]

Per model: the memory roofline (bandwidth / bytes of weights per token), the cycle model of each target's
design (its lanes and clock) swept over bandwidth (derived / projected, bitstreams/projection.py), each
target at its own memory (marker), and the published figures (as reported). Needs matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bitstreams.comparison import MODELS, PUBLISHED  # noqa: E402
from bitstreams.projection import TARGETS, load_build_report, project  # noqa: E402
from golden.config import preset  # noqa: E402
from golden.packing import TritFormat  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = load_build_report("ulx3s-85f")
    sweep = np.logspace(-2, 3.5, 40)
    fig, axes = plt.subplots(1, len(MODELS), figsize=(15, 4.8), sharey=True)
    colors = {"ulx3s-85f": "#228833", "ddr4-pac": "#4477aa", "hbm-u280": "#aa3377"}
    for ax, model in zip(axes, MODELS):
        config = preset(model)
        lines = []
        for name, target in TARGETS.items():
            points = [project(config, target, TritFormat.TRITS_BASE3, report=report, bandwidth_gb_s=gb)
                      for gb in sweep]
            here = project(config, target, TritFormat.TRITS_BASE3, report=report)
            lines.append(ax.loglog(sweep, [p["tokens_per_s"].value for p in points], color=colors[name],
                                   label=f"ours, {name}: {target.lanes} lanes @ {here['clock'].value:g} MHz")[0])
            peak = here["bandwidth"].value / target.efficiency
            ax.plot([peak], [here["tokens_per_s"].value], "o", color=colors[name], markersize=8)
        roofline = [gb * 1e9 / points[0]["bytes_per_token"] for gb in sweep]
        ax.loglog(sweep, roofline, "k--", label="memory roofline (bandwidth / bytes per token)")
        for who, m, tokens, _, _, setting in PUBLISHED:
            if m == model:
                ax.plot([], [])
                ax.axhline(tokens, color="#888888", linestyle=":", linewidth=1)
                ax.text(sweep[0] * 1.2, tokens * 1.1, f"{who.split(' (')[0]}: {tokens:,} tok/s (reported)",
                        fontsize=7, color="#555555")
        ax.set_title(f"{model}: decode, base-3 weights ({points[0]['bytes_per_token'] / 1e6:.0f} MB/token)")
        ax.set_xlabel("memory bandwidth (GB/s, peak; marker = the target's own)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("tokens/s (derived on ULX3S, projected elsewhere)")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "roofline.png", dpi=110)
    print(f"wrote {out / 'roofline.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
