"""cocotb testbench of VectorUnit (V lanes) against golden.fixedpoint, operation by operation.

Protocol checked: VMEM filled through the host port; a command {opcode, length, d, x, y, z} with
row-aligned (multiple of V) addresses; the unit owns VMEM until it offers `done` (held until ready;
random delays on ready), exactly its pass(es) plus its derived drain after the command; every read
port enabled for exactly the rows the operation reads (and the harness poisons rows read without
`en`); VMEM read back. The reference applies the same golden function to a Python copy of VMEM; every
word of VMEM (not just the destination) must then agree, so a stray write anywhere — a lane past the
end of the last row included — is caught.

Vectors: random, all zero, the adversarial values (ACT_MIN, ACT_MAX, 0, +-1.0, the sigmoid table's ends
and segment edges, huge multipliers that set the largest block shift); lengths 1, V-1, V, V+1, 2V+1
and others not multiples of V; in place (d = x, y or z) and out of place. The words past the end of a
source's last row hold values that would win ARGMAX (ACT_MAX) or set the largest block shift (ACT_MIN)
if a lane past the end counted. ARGMAX: ties within a row (across lanes) and across rows; ARGMAXC: the
running best carried over the commands between, ties with it across chunks, bases up to 65535; with
BATCH B > 1 each search goes to a random A slot, whose best is carried over the other slots' searches.
"""

import os

import cocotb
import numpy as np

from golden import fixedpoint as fxp
from golden import formats as fmt
from hw.vector_unit import VectorCommand, VectorOp
from sim.clocking import command_until_done, start_unit_test
from sim.coverage import Coverage
from sim.vmem import fill, read_all

WORDS = int(os.environ["VMEM_WORDS"])
V = int(os.environ["VECTOR_WIDTH"])
BATCH = int(os.environ.get("BATCH", "1"))
LATENCY, ARGMAX_LATENCY, PEAK_LATENCY = (int(os.environ[n]) for n in ("LATENCY", "ARGMAX_LATENCY", "PEAK_LATENCY"))
LAYOUT = VectorCommand(WORDS)
LIMIT = fmt.SIGMOID_RANGE << fmt.ACT_FRAC
SPECIAL = [fmt.ACT_MIN, fmt.ACT_MAX, 0, 1, -1, fmt.ACT_ONE, -fmt.ACT_ONE, LIMIT, -LIMIT, LIMIT - 1, 1 - LIMIT,
           LIMIT + 1, 1 << 11, (1 << 11) - 1, -(1 << 11), 5 << 16, -(5 << 16), (1 << 30), -(1 << 30),
           (1 << 17) - 1, 1 << 17, -(1 << 17)]
REGION = WORDS // 4                      # x, y, z, d each in a quarter of VMEM (row-aligned)
READS = {VectorOp.VZERO: (0, 0, 0), VectorOp.ARGMAX: (1, 0, 0), VectorOp.ARGMAXC: (1, 0, 0), VectorOp.VADD: (1, 1, 0),
         VectorOp.VMUL: (1, 2, 0), VectorOp.VMULADD: (1, 2, 1)}       # rows read per port, in rows of the vector


COVERAGE = Coverage(f"vector V{V}", {
    **{f"op {op.name}": f"{op.name} executed" for op in VectorOp},
    "add saturates +": "VADD (or VMULADD's add) clamped to ACT_MAX", "add saturates -": "clamped to ACT_MIN",
    "mul saturates +": "VMUL's product clamped to ACT_MAX", "mul saturates -": "clamped to ACT_MIN",
    "mul rounding tie": "a VMUL product exactly half an ACT unit (rounded away from zero)",
    "mul block shift": "y beyond 18 bits: the block shift of y's mantissas > 0",
    "mul block shift maximum": "y holds ACT_MIN: the largest block shift",
    "sigmoid past the table": "|x| beyond the sigmoid table's range (the output pinned)",
    "sigmoid negative": "a negative sigmoid input (odd symmetry)",
    "argmax tie in a vector": "the maximum at several indices of one search",
    "argmaxc keeps a tie": "an ARGMAXC chunk whose maximum equals A's value (A's lower index kept)",
    "argmaxc takes a greater": "an ARGMAXC chunk beating A",
    "length 1": "a one-element vector", "length off the lanes": "a length not a multiple of V",
    "longest vector": "a vector filling its quarter of VMEM",
    "in place": "the destination one of the sources",
})


def sample_coverage(op: VectorOp, xs, ys, zs, length, in_place, running_before):
    """COVERAGE's bins of one command, from the reference's intermediates (golden.fixedpoint's formulas)."""
    cover = COVERAGE.hit
    cover(f"op {op.name}")
    cover("length 1", length == 1)
    cover("length off the lanes", length % V != 0 or V == 1)
    cover("longest vector", length == REGION)
    cover("in place", in_place and op not in (VectorOp.ARGMAX, VectorOp.ARGMAXC, VectorOp.VZERO))
    if op in (VectorOp.VMUL, VectorOp.VMULADD, VectorOp.VSILU):
        b = ys if op is not VectorOp.VSILU else fxp.vsigmoid(xs)
        b_mant, shift = fxp.block_normalize(b)
        product, right = xs * b_mant, fmt.ACT_FRAC - shift
        rounded = fxp.round_shift(product, right)
        cover("mul saturates +", rounded > fmt.ACT_MAX)
        cover("mul saturates -", rounded < fmt.ACT_MIN)
        cover("mul rounding tie", right > 0 and (np.abs(product) % (1 << right) == 1 << (right - 1)).any())
        cover("mul block shift", shift > 0)
        cover("mul block shift maximum", shift == fxp.block_shift(1 << (fmt.ACT_BITS - 1)))
        if op is VectorOp.VMULADD:
            total = fxp.vmul(xs, ys) + zs
            cover("add saturates +", total > fmt.ACT_MAX)
            cover("add saturates -", total < fmt.ACT_MIN)
    if op is VectorOp.VADD:
        cover("add saturates +", xs + ys > fmt.ACT_MAX)
        cover("add saturates -", xs + ys < fmt.ACT_MIN)
    if op in (VectorOp.VSIGMOID, VectorOp.VSILU):
        cover("sigmoid past the table", np.abs(xs) >= (fmt.SIGMOID_RANGE << fmt.ACT_FRAC))
        cover("sigmoid negative", xs < 0)
    if op in (VectorOp.ARGMAX, VectorOp.ARGMAXC):
        cover("argmax tie in a vector", (xs == xs.max()).sum() > 1)
        if op is VectorOp.ARGMAXC and running_before is not None:
            cover("argmaxc keeps a tie", xs.max() == running_before[0])
            cover("argmaxc takes a greater", xs.max() > running_before[0])


class RunningBest:
    """A, the ISA's running ARGMAX best (value, index), as assembler.isa states it; None: empty."""
    best: tuple[int, int] | None = None


def reference(op: VectorOp, vmem: np.ndarray, length, d, x, y, z, base=0, running=RunningBest()):
    xs, ys, zs = (vmem[a:a + length].copy() for a in (x, y, z))
    if op in (VectorOp.ARGMAX, VectorOp.ARGMAXC):
        j = int(np.argmax(xs))
        if op is VectorOp.ARGMAX or running.best is None or xs[j] > running.best[0]:
            running.best = (int(xs[j]), base + j)
        return running.best[1]
    result = {
        VectorOp.VZERO: lambda: np.zeros(length, dtype=np.int64),
        VectorOp.VCOPY: lambda: xs,
        VectorOp.VADD: lambda: fxp.vadd(xs, ys),
        VectorOp.VMUL: lambda: fxp.vmul(xs, ys),
        VectorOp.VMULADD: lambda: fxp.vadd(fxp.vmul(xs, ys), zs),
        VectorOp.VSIGMOID: lambda: fxp.vsigmoid(xs),
        VectorOp.VSILU: lambda: fxp.vsilu(xs),
        VectorOp.VONEMINUS: lambda: fxp.saturate(fmt.ACT_ONE - xs, fmt.ACT_BITS),
    }[op]()
    vmem[d:d + length] = result
    return 0


async def execute(dut, op: VectorOp, length, d, x, y, z, rng, base=0, fresh=0, slot=0) -> tuple[int, int, list[int]]:
    """Run one command; (ARGMAX index, cycle `done` was first offered, rows read per port)."""
    fields = {"opcode": op.value, "length": length, "d": d, "x": x, "y": y, "z": z, "base": base, "fresh": fresh,
              "slot": slot}
    payload = sum(value << LAYOUT[name].offset for name, value in fields.items())
    index, offered, cycle, reads = [], [], [0], [0, 0, 0]

    def sample(ready):
        enables = int(dut.read_en.value)
        for port in range(3):
            reads[port] += enables >> port & 1
        if dut.done__valid.value == 1:
            offered.append(cycle[0])
            if ready:
                index.append(int(dut.done__payload.value))
        cycle[0] += 1

    rows = -(-length // V)
    await command_until_done(dut, payload, rng, max_cycles=2 * rows + 2 * LATENCY + 60, ready_rate=0.6,
                             sample=sample)
    return index[0], offered[0], reads


def random_vector(rng: np.random.Generator, length: int, kind: str) -> np.ndarray:
    if kind == "special":
        return rng.choice(np.array(SPECIAL, dtype=np.int64), size=length)
    if kind == "gate":                               # sigmoid-like values in [0, 1.0]
        return rng.integers(0, fmt.ACT_ONE + 1, size=length)
    if kind == "small":
        return rng.integers(-(8 << 16), 8 << 16, size=length)
    if kind == "zero":
        return np.zeros(length, dtype=np.int64)
    if kind == "extreme":                            # saturation: +-max int32
        return rng.choice(np.array([fmt.ACT_MIN, fmt.ACT_MAX], dtype=np.int64), size=length)
    return rng.integers(fmt.ACT_MIN, fmt.ACT_MAX + 1, size=length, dtype=np.int64)


def tied_vector(rng: np.random.Generator, length: int) -> np.ndarray:
    """ARGMAX ties: the maximum at several indices, in one row (across lanes) and in several rows."""
    style = int(rng.integers(0, 4))
    if style == 0:                                   # all equal
        return np.full(length, int(rng.choice(SPECIAL)), dtype=np.int64)
    if style == 1:                                   # few distinct values
        return rng.choice(np.array(rng.choice(SPECIAL, size=3), dtype=np.int64), size=length)
    if style == 2:                                   # small values, the maximum (or ACT_MAX) at 2..4 places
        xs = rng.integers(-(1 << 20), 1 << 20, size=length)
        top = int(rng.choice([int(xs.max()), fmt.ACT_MAX]))
    else:                                            # ACT_MIN, ties just above it
        xs, top = np.full(length, fmt.ACT_MIN, dtype=np.int64), fmt.ACT_MIN + 1
    xs[rng.choice(length, size=min(length, int(rng.integers(2, 5))), replace=False)] = top
    return xs


def lengths() -> list[int]:
    wanted = {1, 2, V - 1, V, V + 1, 2 * V - 1, 2 * V + 1, 3 * V - 2, 7, 33, 48, REGION - 1, REGION}
    return sorted(n for n in wanted if 1 <= n <= REGION)


@cocotb.test()
async def every_operation_matches_golden(dut):
    rng, py_rng = await start_unit_test(dut, low=("cmd__valid", "done__ready"), seed=1)
    vmem = np.zeros(WORDS, dtype=np.int64)
    bests = [RunningBest() for _ in range(BATCH)]           # A[slot]
    ops = list(VectorOp)
    kinds = ["wide", "small", "special", "gate", "zero", "extreme"]
    choices = lengths()
    for trial in range(int(os.environ.get("TRIALS", "40"))):
        op = ops[trial % len(ops)]
        length = choices[trial // len(ops) % len(choices)] if trial < 2 * len(ops) * len(choices) else \
            int(rng.choice(choices))
        rows = -(-length // V)
        x, y, z, d = (V * int(rng.integers(0, REGION // V - rows + 1)) + k * REGION for k in range(4))
        place = trial % 4
        if place == 1:
            d = x                                    # in place
        elif place == 2:
            d = y
        elif place == 3:
            d = z
        if trial % 7 == 6:
            y = x                                    # one vector as both sources (x * x)
        for base in (x, y, z):
            vmem[base:base + length] = random_vector(rng, length, kinds[int(rng.integers(0, len(kinds)))])
        slot = int(rng.integers(0, BATCH))
        running = bests[slot]
        if op in (VectorOp.ARGMAX, VectorOp.ARGMAXC) and trial % 2:
            vmem[x:x + length] = tied_vector(rng, length)
        if op is VectorOp.ARGMAXC and running.best is not None and trial % 4 == 1 and running.best[0] < fmt.ACT_MAX:
            # A chunk that beats A by the least step.
            vmem[x:x + length] = np.minimum(vmem[x:x + length], running.best[0])
            vmem[x + int(rng.integers(0, length))] = running.best[0] + 1
        if op is VectorOp.ARGMAXC and running.best is not None and trial % 4 == 3:
            # A tie across chunks: this chunk's maximum equals A's value, which must keep A's (lower) index.
            vmem[x:x + length] = np.minimum(vmem[x:x + length], running.best[0])
            vmem[x + int(rng.integers(0, length))] = running.best[0]
        # Past the end of the last row: values a lane past the end would let win ARGMAX / set the shift.
        vmem[x + length:x + rows * V] = fmt.ACT_MAX
        if y != x:
            vmem[y + length:y + rows * V] = fmt.ACT_MIN
        await fill(dut, vmem)
        # ARGMAXC continues the best the last ARGMAX / ARGMAXC left, across the other commands in between;
        # `fresh` as the controller sets it (ARGMAX, or nothing searched yet). Bases up to the field's top.
        base = int(rng.choice([0, 1, (1 << 16) - 1, int(rng.integers(0, 1 << 16))]))
        fresh = int(op is VectorOp.ARGMAX or running.best is None)
        sample_coverage(op, *(vmem[a:a + length].copy() for a in (x, y, z)), length, d in (x, y, z), running.best)
        want_index = reference(op, vmem, length, d, x, y, z, base, running)
        index, offered, reads = await execute(dut, op, length, d, x, y, z, py_rng, base, fresh, slot)
        got = await read_all(dut, WORDS)
        where = f"trial {trial} {op.name} len {length} d={d} x={x} y={y} z={z} slot {slot}"
        bad = np.nonzero(got != vmem)[0]
        assert bad.size == 0, (f"{where}: VMEM differs at {bad[:8].tolist()}: got {got[bad[:8]].tolist()} "
                               f"want {vmem[bad[:8]].tolist()}")
        assert index == want_index, f"{where}: ARGMAX got {index}, want {want_index}"
        want_reads = [rows * n for n in READS.get(op, (1, 0, 0))]
        assert reads == want_reads, f"{where}: rows read on x, y, z: {reads}, want {want_reads}"
        # One row a cycle: done is first offered when the last row's write (and ARGMAX fold) is done,
        # the derived drain after the main pass (after the y pass, its drain and the shift for VMUL/VMULADD).
        peak_pass = rows + PEAK_LATENCY + 1 if op in (VectorOp.VMUL, VectorOp.VMULADD) else 0
        want_offered = peak_pass + rows + max(LATENCY, ARGMAX_LATENCY)
        assert offered == want_offered, f"{where}: done offered after {offered} cycles, want {want_offered}"
    COVERAGE.finish()
