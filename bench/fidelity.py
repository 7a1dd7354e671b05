"""Hardware-exact vs float fidelity over models and seeds (measured on the golden models).

    .venv/bin/python bench/fidelity.py [--windows 8] [--window 1024] [--seeds 3] [--models stdlib-256 random:tiny ...]

Prints one row per model: max/mean logit error, top-1 agreement, perplexity of both. Random models
measure arithmetic error only (their text is noise); the trained model measures quality kept.
"""

from __future__ import annotations

import argparse

from golden.fidelity import measure_fidelity, spread_windows
from golden.tokenizer import ByteTokenizer
from golden.zoo import heldout_text, load_model
from mmfree.cli import default_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["stdlib-256", "random:tiny"])
    args = parser.parse_args()
    text = default_text()
    print(f"{'model':24s} {'max|err|':>9s} {'mean|err|':>10s} {'logit std':>9s} {'top-1':>7s} "
          f"{'ppl float':>10s} {'ppl hw':>10s} {'ratio':>8s}   (all measured)")
    for spec in args.models:
        specs = [f"{spec}:{seed}" for seed in range(args.seeds)] if spec.startswith("random:") else [spec]
        for one in specs:
            model = load_model(one)
            heldout = None if one.startswith("random:") else heldout_text(one)
            tokens = list(heldout) if heldout else ByteTokenizer(model.config.vocab_size).encode(text)
            r = measure_fidelity(model, spread_windows(tokens, args.window, args.windows))
            print(f"{one:24s} {r.max_logit_error:9.5f} {r.mean_logit_error:10.6f} {r.logit_std:9.4f} "
                  f"{100 * r.top1_agreement:6.2f}% {r.perplexity_float:10.3f} {r.perplexity_hw:10.3f} "
                  f"{r.perplexity_ratio:8.5f}")


if __name__ == "__main__":
    main()
