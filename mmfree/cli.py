"""`mmfree`: the project's command line.

    mmfree demo        generate text with the golden models (float and hardware-exact), via a model image
    mmfree fidelity    hardware-exact vs float: logit error, top-1 agreement, perplexity
    mmfree image       compile a model to a model image
    mmfree image-info  describe (and fully validate) a model image
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from golden.errors import MmfreeError
from golden.zoo import DEFAULT_MODEL

FORMATS = {"base3": "TRITS_BASE3", "2bit": "TRITS_2BIT"}


def default_text() -> str:
    """Offline English text present on every machine: the source of Python's own `textwrap` module."""
    import textwrap
    return Path(textwrap.__file__).read_text(encoding="utf-8")


def cmd_demo(args) -> None:
    from golden.hwexact import HardwareExactModel
    from golden.image import read_image, write_image
    from golden.model import generate_greedy
    from golden.packing import TritFormat
    from golden.quantize import quantize_model
    from golden.tokenizer import ByteTokenizer
    from golden.zoo import load_model

    model = load_model(args.model)
    cfg = model.config
    tokenizer = ByteTokenizer(cfg.vocab_size)
    prompt = tokenizer.encode(args.prompt)
    print(f"model      {args.model}: {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
          f"vocab {cfg.vocab_size}" + ("   [random weights: the text is noise]" if args.model.startswith("random:") else ""))
    with tempfile.TemporaryDirectory() as tmp:
        qmodel = quantize_model(model)
        path = Path(tmp) / "model.mmfi"
        for fmt in TritFormat:
            size = write_image(qmodel, path, fmt)
            _, info = read_image(path)
            weights = sum(s.rows * s.cols for s in info.sections if s.kind.name == "TRITS")
            print(f"image      {fmt.name:12s} {size:9d} bytes, ternary {info.ternary_bytes()} bytes = "
                  f"{8 * info.ternary_bytes() / weights:.3f} bit/weight (measured)")
        image_model, _ = read_image(path)             # the hardware-exact model runs from the image
    start = time.perf_counter()
    float_tokens = generate_greedy(model, prompt, args.max_tokens)
    float_seconds = time.perf_counter() - start
    start = time.perf_counter()
    hw_tokens = HardwareExactModel(image_model).generate(prompt, args.max_tokens)
    hw_seconds = time.perf_counter() - start
    same = sum(a == b for a, b in zip(float_tokens, hw_tokens))
    print(f"prompt     {args.prompt!r}")
    print(f"float      {tokenizer.decode(float_tokens)!r}")
    print(f"hw-exact   {tokenizer.decode(hw_tokens)!r}")
    print(f"agreement  {same}/{len(float_tokens)} generated tokens identical (measured)")
    print(f"speed      golden float {len(float_tokens) / float_seconds:.1f} tok/s, hardware-exact "
          f"{len(hw_tokens) / hw_seconds:.1f} tok/s on this CPU (measured; Python models, not the accelerator)")


def cmd_fidelity(args) -> None:
    from golden.fidelity import measure_fidelity
    from golden.tokenizer import ByteTokenizer
    from golden.zoo import load_model

    model = load_model(args.model)
    text = Path(args.text).read_text(encoding="utf-8") if args.text else default_text()
    tokens = ByteTokenizer(model.config.vocab_size).encode(text)[:args.tokens]
    print(f"model {args.model}" + ("   [random weights: figures show arithmetic error, not quality]"
                                   if args.model.startswith("random:") else ""))
    print(f"text  {args.text or 'Python stdlib textwrap.py source'}: first {len(tokens)} bytes")
    for line in measure_fidelity(model, tokens).lines():
        print(line)


def cmd_image(args) -> None:
    from golden.image import read_image, write_image
    from golden.packing import TritFormat
    from golden.quantize import quantize_model
    from golden.zoo import load_model

    size = write_image(quantize_model(load_model(args.model)), args.out, TritFormat[FORMATS[args.format]])
    _, info = read_image(args.out)
    print(f"wrote {args.out}: {size} bytes, {len(info.sections)} sections, ternary {info.ternary_bytes()} bytes")


def cmd_image_info(args) -> None:
    from golden.image import read_image

    _, info = read_image(args.image)
    cfg = info.config
    print(f"{args.image}: format version {info.version}, {info.trit_format.name}, {info.size} bytes, all CRCs ok")
    print(f"config: layers {cfg.num_hidden_layers}, hidden {cfg.hidden_size}, inner {cfg.inner_size}, "
          f"mlp {cfg.mlp_size}, vocab {cfg.vocab_size}")
    for s in info.sections:
        print(f"  {s.offset:10d} {s.length:9d}  {s.kind.name:16s} {s.rows:6d}x{s.cols:<6d} {s.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmfree", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    model_help = f"checkpoint directory or random:<preset>[:seed] (default {DEFAULT_MODEL})"

    demo = sub.add_parser("demo", help="generate text with the golden models")
    demo.add_argument("--model", default=DEFAULT_MODEL, help=model_help)
    demo.add_argument("--prompt", default="The MatMul-free language model ")
    demo.add_argument("--max-tokens", type=int, default=32)
    demo.set_defaults(func=cmd_demo)

    fidelity = sub.add_parser("fidelity", help="hardware-exact vs float model on text")
    fidelity.add_argument("--model", default=DEFAULT_MODEL, help=model_help)
    fidelity.add_argument("--text", help="UTF-8 text file (default: Python's textwrap.py source)")
    fidelity.add_argument("--tokens", type=int, default=512, help="number of byte tokens to score")
    fidelity.set_defaults(func=cmd_fidelity)

    image = sub.add_parser("image", help="compile a model to a model image")
    image.add_argument("--model", default=DEFAULT_MODEL, help=model_help)
    image.add_argument("--out", required=True)
    image.add_argument("--format", choices=sorted(FORMATS), default="base3")
    image.set_defaults(func=cmd_image)

    info = sub.add_parser("image-info", help="validate and describe a model image")
    info.add_argument("image")
    info.set_defaults(func=cmd_image_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "max_tokens", 1) < 0 or getattr(args, "tokens", 2) < 2:
        print("error: token counts must be positive (--tokens at least 2)", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except MmfreeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
