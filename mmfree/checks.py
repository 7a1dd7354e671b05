"""What a command's arguments must satisfy, checked before the command does any work.

`mmfree.cli.main` runs `check_arguments` on every parsed command line, then (unless asked only to validate)
creates the output directories (`prepare_outputs`) and runs the command. The checks are the commands' own: a
command never repeats one, so `main(argv, validate_only=True)` answers exactly as the real command would up to
its first piece of real work (a model load, a Verilator build, place and route) and never starts one.

The arguments are checked by what they are (their argparse dest), whichever command holds them:
  NUMBER_RANGES          every numeric option's allowed range
  INPUT_FILES            files read: they exist and are files
  OUTPUT_FILES / _DIRS   files and directories written, under the output rule below
and a command adds its own checks (a model spec, an engine's parameters, a --device) through
`set_defaults(checks=(...))`, each a function of the parsed arguments that raises MmfreeError.

The output rule, for every file or directory any command writes: missing parent directories are created,
and the command says so on stderr ("[mmfree] created directory ..."); a path that cannot be written (a
directory where a file is expected, a file where a directory is expected, a parent that is a file, no
write permission) is refused with one error line before anything runs.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from assembler.isa import MAX_BATCH
from golden.errors import MmfreeError
from golden.formats import MAX_ENGINE_LANES

# dest -> (least, greatest) allowed (None: no bound); a float option must also be finite.
NUMBER_RANGES = {
    "max_tokens": (0, None), "window": (2, None), "windows": (1, None),
    "lanes": (1, MAX_ENGINE_LANES), "max_cols": (1, None), "mem_bytes": (1, 1024), "vector_lanes": (1, 1024),
    "vector_width": (1, 1024), "prefetch_bytes": (0, None), "memory_latency": (0, None), "batch": (1, MAX_BATCH),
    "timeout_cycles": (1, None), "baud": (1, None), "port": (0, 65535), "queue": (1, None), "seed": (0, 2**31 - 1),
    "bytes_per_cycle": (1e-6, None), "timeout": (1e-3, None), "clock_mhz": (1e-3, None), "bandwidth_gb_s": (1e-6, None),
}
INPUT_FILES = ("text", "source", "binary", "image")
OUTPUT_FILES = ("out", "asm", "log", "waves")
OUTPUT_DIRS = ("build_dir", "report_dir")


# dest -> how the command line spells it, where that is not --dest-with-dashes
OPTION_NAMES = {"build_dir": "--out", "source": "source", "binary": "binary", "image": "image"}


def option_name(dest: str) -> str:
    return OPTION_NAMES.get(dest, "--" + dest.replace("_", "-"))


def check_arguments(args) -> None:
    """Every check of a parsed command line (see the module's docstring); raises MmfreeError at the first
    argument that fails."""
    for dest, (least, greatest) in NUMBER_RANGES.items():
        value = getattr(args, dest, None)
        if value is not None:
            check_number(value, option_name(dest), least, greatest)
    for dest in INPUT_FILES:
        if getattr(args, dest, None) is not None:
            check_input_file(getattr(args, dest), option_name(dest))
    for dests, directory in ((OUTPUT_FILES, False), (OUTPUT_DIRS, True)):
        for dest in dests:
            if getattr(args, dest, None) is not None:
                check_output(getattr(args, dest), option_name(dest), directory=directory)
    for check in getattr(args, "checks", ()):
        check(args)


def check_number(value, option: str, least, greatest) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise MmfreeError(f"{option} {value}: not a finite number")
    if (least is not None and value < least) or (greatest is not None and value > greatest):
        allowed = f"{least}..{greatest}" if greatest is not None else f">= {least}"
        raise MmfreeError(f"{option} {value}: out of range (allowed {allowed})")


def check_input_file(value: str, option: str) -> None:
    path = Path(value)
    if not value:
        raise MmfreeError(f"{option}: an empty path")
    if "\0" in value:
        raise MmfreeError(f"{option} {value!r}: a path cannot hold a NUL byte")
    if not path.exists():
        raise MmfreeError(f"{option} {value}: no such file")
    if not path.is_file():
        raise MmfreeError(f"{option} {value}: not a file (a directory?)")
    if not os.access(path, os.R_OK):
        raise MmfreeError(f"{option} {value}: not readable (check its permissions)")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output(value, option: str, *, directory: bool = False) -> None:
    """The output rule's refusals (see the module's docstring); creates nothing."""
    path = Path(value)
    if not str(value):
        raise MmfreeError(f"{option}: an empty path")
    if "\0" in str(value):
        raise MmfreeError(f"{option} {str(value)!r}: a path cannot hold a NUL byte")
    if path.exists():
        if directory and not path.is_dir():
            raise MmfreeError(f"{option} {value}: exists and is not a directory")
        if not directory and path.is_dir():
            raise MmfreeError(f"{option} {value}: is a directory; give a file name")
        if not os.access(path, os.W_OK):
            raise MmfreeError(f"{option} {value}: not writable (check its permissions)")
        return
    ancestor = _nearest_existing(path.absolute().parent)
    if not ancestor.is_dir():
        raise MmfreeError(f"{option} {value}: {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise MmfreeError(f"{option} {value}: cannot create files in {ancestor} (check its permissions)")
    if option == "--waves":
        from sim.fast import wave_format
        wave_format(path)


def prepare_outputs(args) -> None:
    """The output rule's creations: every missing directory an output needs, each said on stderr."""
    for dests, directory in ((OUTPUT_FILES, False), (OUTPUT_DIRS, True)):
        for dest in dests:
            if getattr(args, dest, None) is None:
                continue
            path = Path(getattr(args, dest))
            needed = path if directory else path.parent
            if not needed.exists():
                needed.mkdir(parents=True)
                print(f"[mmfree] created directory {needed} for {option_name(dest)}", file=sys.stderr)


def nonempty(*dests: str):
    """A check: these string options hold something."""
    def check(args) -> None:
        for dest in dests:
            if getattr(args, dest) == "":
                raise MmfreeError(f"{option_name(dest)}: empty")
    return check
