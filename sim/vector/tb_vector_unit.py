"""cocotb testbench of VectorUnit against golden.fixedpoint, operation by operation.

Protocol checked: VMEM filled through the host port; a command {opcode, length, d, x, y, z}; the unit
owns VMEM until it offers `done` (held until ready; random delays on ready); VMEM read back. The
reference applies the same golden function to a Python copy of VMEM; every word of VMEM (not just
the destination) must then agree, so a stray write anywhere is caught. Vectors: random, and the
adversarial values (ACT_MIN, ACT_MAX, 0, +-1.0, the sigmoid table's ends and segment edges, huge
multipliers that set the largest block shift), lengths 1..48, in place and out of place.
"""

import os
import random

import cocotb
import numpy as np

from golden import fixedpoint as fxp
from golden import formats as fmt
from hw.vector_unit import VectorOp, VectorUnit
from sim.clocking import command_until_done, start_and_reset
from sim.vmem import fill, read_all

WORDS = int(os.environ["VMEM_WORDS"])
_UNIT = VectorUnit(vmem_words=WORDS)
_UNIT._MustUse__silence = True       # only its command layout is used here; the DUT is the built Verilog
LAYOUT = _UNIT.cmd.payload.shape()
LIMIT = fmt.SIGMOID_RANGE << fmt.ACT_FRAC
SPECIAL = [fmt.ACT_MIN, fmt.ACT_MAX, 0, 1, -1, fmt.ACT_ONE, -fmt.ACT_ONE, LIMIT, -LIMIT, LIMIT - 1, 1 - LIMIT,
           LIMIT + 1, 1 << 11, (1 << 11) - 1, -(1 << 11), 5 << 16, -(5 << 16), (1 << 30), -(1 << 30)]


def reference(op: VectorOp, vmem: np.ndarray, length, d, x, y, z):
    xs, ys, zs = (vmem[a:a + length].copy() for a in (x, y, z))
    if op is VectorOp.ARGMAX:
        return int(np.argmax(xs))
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


async def execute(dut, op: VectorOp, length, d, x, y, z, rng: random.Random) -> tuple[int, int]:
    """Run one command; (ARGMAX index, cycles from the command until `done` was taken)."""
    fields = {"opcode": op.value, "length": length, "d": d, "x": x, "y": y, "z": z}
    payload = sum(value << LAYOUT[name].offset for name, value in fields.items())
    index = []

    def sample(ready):
        if ready and dut.done__valid.value == 1:
            index.append(int(dut.done__payload.value))

    cycles = await command_until_done(dut, payload, rng, max_cycles=4 * length + 40, ready_rate=0.6, sample=sample)
    return index[0], cycles


def random_vector(rng: np.random.Generator, length: int, kind: str) -> np.ndarray:
    if kind == "special":
        return rng.choice(np.array(SPECIAL, dtype=np.int64), size=length)
    if kind == "gate":                               # sigmoid-like values in [0, 1.0]
        return rng.integers(0, fmt.ACT_ONE + 1, size=length)
    if kind == "small":
        return rng.integers(-(8 << 16), 8 << 16, size=length)
    return rng.integers(fmt.ACT_MIN, fmt.ACT_MAX + 1, size=length, dtype=np.int64)


@cocotb.test()
async def every_operation_matches_golden(dut):
    await start_and_reset(dut, low=("cmd__valid", "host_write__en", "done__ready"), high=("host_read__en",))
    rng = np.random.default_rng(int(os.environ.get("SEED", "1")))
    py_rng = random.Random(2)
    vmem = np.zeros(WORDS, dtype=np.int64)
    await fill(dut, vmem)
    ops = list(VectorOp)
    kinds = ["wide", "small", "special", "gate"]
    for trial in range(int(os.environ.get("TRIALS", "40"))):
        op = ops[trial % len(ops)]
        length = int(rng.choice([1, 2, 7, 16, 33, 48]))
        region = WORDS // 4
        x, y, z, d = (int(rng.integers(0, region - length)) + k * region for k in range(4))
        if trial % 3 == 0:
            d = x                                    # in place
        for base in (x, y, z):
            vmem[base:base + length] = random_vector(rng, length, kinds[int(rng.integers(0, len(kinds)))])
        if op is VectorOp.ARGMAX and trial % 2:
            vmem[x:x + length] = vmem[x]             # all tied: the lowest index wins
        await fill(dut, vmem)
        want_index = reference(op, vmem, length, d, x, y, z)
        index, cycles = await execute(dut, op, length, d, x, y, z, py_rng)
        got = await read_all(dut, WORDS)
        bad = np.nonzero(got != vmem)[0]
        assert bad.size == 0, (f"trial {trial} {op.name} len {length} d={d} x={x} y={y} z={z}: VMEM differs at "
                               f"{bad[:8].tolist()}: got {got[bad[:8]].tolist()} want {vmem[bad[:8]].tolist()}")
        assert index == want_index, f"trial {trial} ARGMAX: got {index}, want {want_index}"
        # One element per cycle: done is offered within the pipeline latency after the last element
        # (two passes for VMUL/VMULADD); waiting on `done.ready` adds to it.
        passes = 2 if op in (VectorOp.VMUL, VectorOp.VMULADD) else 1
        assert cycles >= passes * length, f"{op.name}: done after {cycles} cycles for {length} elements"
        offered_by = passes * length + VectorUnit.WRITE_LATENCY + 4
        assert cycles <= offered_by + 20, f"{op.name} of {length}: {cycles} cycles (limit {offered_by} + ready delay)"
