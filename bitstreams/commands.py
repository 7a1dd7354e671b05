"""`mmfree build` and `mmfree report`: the command-line front of the build flow and the projections."""

from __future__ import annotations

import sys
from pathlib import Path

from golden.errors import MmfreeError
from golden.zoo import DEFAULT_MODEL
from mmfree.specs import FORMATS, config_for, image_for, model_check, trit_format

from .targets import BOARDS

# --top: the whole device (controller, units, link, memory controller), or the ternary engine alone driven
# by an LFSR (a build of minutes: the toolchain flow, the engine's timing and size on the board).
TOPS = ("device", "engine-check")
ENGINE_CHECK_MAX_COLS = 1024


def add_commands(sub) -> None:
    """The `build` and `report` subcommands, on the `mmfree` parser's subparsers."""
    from .projection import TARGETS

    build = sub.add_parser("build", help="a bitstream for a board (Yosys + nextpnr from YoWASP)")
    build.add_argument("--board", choices=sorted(BOARDS), default="ulx3s-85f")
    build.add_argument("--top", choices=TOPS, default="device", help="what the bitstream holds: the whole device, "
                       "or the ternary engine alone, LFSR-driven (timing and size)")
    build.add_argument("--model", help="the model the device is sized for (layout:<preset> needs no weights; default: "
                       f"the board's, the largest released model its memory holds, else {DEFAULT_MODEL})")
    build.add_argument("--format", choices=sorted(FORMATS), help="weight packing the build reads (default: the "
                       "board's: base3 on the DDR3 boards, else 2bit)")
    build.add_argument("--lanes", type=int, help="engine lanes (default: the board's)")
    build.add_argument("--batch", type=int, default=1, help="Q slots: requests decoded together, prompts prefilled "
                       "B tokens a weight pass (the batched serving program; docs/serving.md); default %(default)s")
    build.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    build.add_argument("--out", dest="build_dir", help="build directory (default build/<board>[-engine-check])")
    build.add_argument("--report-dir", help="where the report's .json/.md go (default: the build directory)")
    build.set_defaults(func=cmd_build, checks=(model_check(layouts=True), check_build))

    report = sub.add_parser("report", help="projected decode tokens/s and watts of a model on a target")
    report.add_argument("--model", default="1.3B", help="preset (370M, 1.3B, 2.7B, …), shipped model or directory "
                        "with config.json")
    report.add_argument("--target", choices=sorted(TARGETS), default="ulx3s-85f")
    report.add_argument("--format", choices=sorted(FORMATS), help="weight packing of the image (default: the one the "
                        "target's build reads, base3 for a target not built)")
    report.add_argument("--bandwidth-gb-s", type=float, help="override the target's peak memory bandwidth")
    report.add_argument("--clock-mhz", type=float, help="override the target's clock")
    report.add_argument("--batch", type=int, default=8, help="Q slots of the prefill and batched-decode rows "
                        "(1: none; default %(default)s)")
    report.set_defaults(func=cmd_report, checks=(lambda args: config_for(args.model),))


def _device_top(board, args, lanes: int):
    from assembler.batch_compiler import compile_batched
    from assembler.compiler import compile_model

    from .flow import make_top

    _, info = image_for(args.model, args.format)
    # A DDR3 board's VMEM holds one step's working set: the recurrent states live in its DRAM (hw's VSTORE/VLOAD);
    # the batched program keeps every request slot's states there.
    compiled = (compile_batched(info, args.batch) if args.batch > 1 else
                compile_model(info, states_in_memory=board.states_in_memory))
    top = make_top(board, info.config, trit_format=info.trit_format, lanes=lanes, batch=args.batch,
                   program_instructions=len(compiled.program.instructions), vmem_words=compiled.program.vmem_words)
    parameters = {"model": args.model, "hidden_size": info.config.hidden_size, "layers": info.config.num_hidden_layers,
                  "vocab_size": info.config.vocab_size, "trit_format": info.trit_format.name, "lanes": lanes,
                  "vector_width": top.device.accelerator.vector_width,
                  "prefetch_bytes": top.device.accelerator.prefetch_bytes,
                  "program_words": top.device.accelerator.program_words,
                  "vmem_words": top.device.accelerator.vmem_words, "batch": args.batch}
    return top, (f"{args.model} ({info.trit_format.name}), {lanes} lanes, V {board.vector_width}"
                 + (f", batch {args.batch}" if args.batch > 1 else "")), parameters


def _engine_check_top(board, args, lanes: int):
    from hw.board import EngineCheckTop
    from hw.ternary_engine import TernaryMatVec

    engine = TernaryMatVec(lanes=lanes, trit_format=trit_format(args.format), max_cols=ENGINE_CHECK_MAX_COLS)
    parameters = {"trit_format": engine.trit_format.name, "lanes": lanes, "max_cols": ENGINE_CHECK_MAX_COLS}
    what = f"the ternary engine alone ({engine.trit_format.name}), {lanes} lanes"
    return EngineCheckTop(engine, led=board.led), what, parameters


def check_build(args) -> None:
    """The engine's lanes for the packing the build reads (hw.ternary_engine.TernaryMatVec.check_parameters),
    and an LED on the board for the engine check's output."""
    from hw.ternary_engine import TernaryMatVec

    board = BOARDS[args.board]
    try:
        TernaryMatVec.check_parameters(lanes=args.lanes or board.lanes,
                                       trit_format=trit_format(args.format or board.trit_format))
    except (TypeError, ValueError) as error:
        raise MmfreeError(f"--lanes: {error}") from None
    if args.top == "engine-check" and board.led is None:
        raise MmfreeError(f"{board.name} names no LED for the engine's folded output (bitstreams/targets.py)")


def cmd_build(args) -> None:
    from .flow import BuildError, make_report, run_build, write_report

    board = BOARDS[args.board]
    lanes = args.lanes or board.lanes
    args.model = args.model or board.model or DEFAULT_MODEL
    args.format = args.format or board.trit_format
    try:
        top, what, parameters = (_device_top if args.top == "device" else _engine_check_top)(board, args, lanes)
    except (TypeError, ValueError) as error:
        raise MmfreeError(str(error)) from None
    name = board.name if args.top == "device" else f"{board.name}-{args.top}"
    out = Path(args.build_dir or f"build/{name}")
    print(f"[build] {board.description}: {what}, {board.clock_hz / 1e6:g} MHz, seed {args.seed}; "
          f"tool output in {out / 'build.log'}", file=sys.stderr)
    try:
        seconds = run_build(board, top, out, seed=args.seed, progress=lambda line: print(line, file=sys.stderr))
    except BuildError as error:
        raise MmfreeError(str(error)) from None
    report = make_report(board, out, parameters={"design": args.top, **parameters, "seed": args.seed},
                         seconds=seconds)
    paths = write_report(report, Path(args.report_dir) if args.report_dir else out, name=name)
    utilisation = ", ".join(f"{cell} {v['used']:,}/{v['available']:,}" for cell, v in report["utilisation"].items())
    print(f"[build] {out / report['bitstream']['file']}: Fmax {report['fmax_mhz']} MHz "
          f"(timing {'met' if report['timing_met'] else 'NOT met'} at {board.clock_hz / 1e6:g} MHz), {utilisation} "
          f"(measured, nextpnr); reports {paths[0]} and {paths[1]}")


def cmd_report(args) -> None:
    from .projection import TARGETS, format_projection, project

    config = config_for(args.model)
    try:
        result = project(config, TARGETS[args.target], trit_format(args.format) if args.format else None,
                         bandwidth_gb_s=args.bandwidth_gb_s, clock_mhz=args.clock_mhz, batch=args.batch)
    except FileNotFoundError as error:
        raise MmfreeError(str(error)) from None
    print(format_projection(args.model, result))

