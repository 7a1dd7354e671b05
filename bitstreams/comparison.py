"""The README's comparison: our projections for the paper's model sizes next to published FPGA figures.

    python -m bitstreams.comparison      # rewrites the block between the markers in README.md

Published figures are quoted as their authors report them (../shared/DESIGN.md, "Anchors"); ours come from
bitstreams.projection over the reference build report in bitstreams/reports/.
"""

from __future__ import annotations

from pathlib import Path

from golden.config import preset
from golden.packing import TritFormat

from .projection import REPORTS, TARGETS, load_build_report, project

MODELS = ["370M", "1.3B", "2.7B"]
BEGIN, END = "<!-- comparison:begin (generated: python -m bitstreams.comparison) -->", "<!-- comparison:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"

# (who, model, tokens/s, watts or None, tokens/J, setting) as published.
PUBLISHED = [
    ("Zhu et al. 2024, FPGA core (paper)", "1.3B", 23.8, 13.0, 23.8 / 13.0, "single core, ~60 MHz, 42 ms/token"),
    ("TerEffic (arXiv 2502.16473)", "370M", 16_300, None, 455.0, "on-chip weights over several FPGAs"),
    ("TerEffic (arXiv 2502.16473)", "2.7B", 727, 46.0, 727 / 46.0, "HBM FPGA card"),
]


def rows(trit_format: TritFormat | None = None) -> list[dict]:
    """Each target over its own build's report where one is kept (the boards: their measured clock and cells, the
    packing they read), else the reference build's (the projected cards scale its cells; base-3); a board not built
    yet has no row. trit_format: one packing for every row instead."""
    reference, reports = load_build_report("ulx3s-85f"), {}
    for name, target in TARGETS.items():
        if (REPORTS / f"{target.build}.json").exists():
            reports[name] = load_build_report(target.build)
        elif target.clock_mhz is not None:
            reports[name] = reference
    return [{"model": model, "target": target, **project(preset(model), TARGETS[target], trit_format, report=report)}
            for model in MODELS for target, report in reports.items()]


def markdown() -> str:
    lines = ["| model | design | decode tokens/s | % of memory roofline | watts | tokens/J | note |",
             "|---|---|---|---|---|---|---|"]
    for r in rows():
        t = TARGETS[r["target"]]
        note = f"{r['lanes']} lanes, V {t.vector_width}, at {r['clock'].value:g} MHz ({r['clock'].tag}), {t.memory} " \
               f"{r['bandwidth'].value:.3g} GB/s sustained"
        if not r["fits"]:
            note += f"; the {r['image_bytes'] / 2 ** 20:,.0f} MiB image does not fit its {t.capacity_bytes / 2 ** 20:,.0f} MiB"
        lines.append(f"| {r['model']} | ours, {r['target']} | {r['tokens_per_s'].value:,.3g} ({r['tokens_per_s'].tag}) | "
                     f"{r['percent_of_roofline']:.1f} | {r['watts']['total'].value:.3g} (projected) | "
                     f"{r['tokens_per_joule'].value:.3g} (projected) | {note} |")
    for who, model, tokens, watts, per_joule, setting in PUBLISHED:
        watts_cell = f"{watts:g} (reported)" if watts else "not reported"
        joule_tag = "reported" if watts is None else "from the reported figures"
        lines.append(f"| {model} | {who} | {tokens:,} (reported) | | {watts_cell} | {per_joule:.3g} ({joule_tag}) | "
                     f"{setting} |")
    return "\n".join(lines)


def block() -> str:
    return f"{BEGIN}\n{markdown()}\n{END}"


def update_readme(path: Path = README) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + block() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    update_readme()
