# amaranth: UnusedElaboratable=no
# (ENGINE below is built for its parameters only; the DUT is the built Verilog.)
"""cocotb testbench of TernaryMatVec against the golden model's integer matrix-vector product.

Protocol checked: activations written word by word through act_write; a command (rows, cols); then
rows * ceil(cols / LANES) weight beats, each row starting on a fresh beat, with random garbage trits in
the columns past `cols` (the engine must mask them) and random int8 garbage past `cols` in the activation
memory; random stalls on `weights.valid` and `result.ready`. Every result is compared with
golden.hwexact.ternary_matvec on the unpadded matrix.
"""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from golden.hwexact import ternary_matvec
from golden.packing import TritFormat, pack_trits
from hw.ternary_engine import TernaryMatVec
from sim.clocking import start_and_reset

ENGINE = TernaryMatVec(lanes=int(os.environ["ENGINE_LANES"]), trit_format=TritFormat[os.environ["ENGINE_FORMAT"]],
                       max_cols=int(os.environ["ENGINE_MAX_COLS"]))
LAYOUT = ENGINE.cmd.payload.shape()


async def reset(dut):
    await start_and_reset(dut, low=("cmd__valid", "weights__valid", "result__ready", "act_write__en"))


async def write_activations(dut, q: np.ndarray, rng: random.Random):
    lanes = ENGINE.lanes
    padded = [int(v) for v in q] + [rng.randint(-128, 127) for _ in range(ENGINE.words * lanes - len(q))]
    for word in range(ENGINE.words):
        value = sum((padded[word * lanes + l] & 0xFF) << (8 * l) for l in range(lanes))
        await FallingEdge(dut.clk)
        dut.act_write__addr.value, dut.act_write__data.value, dut.act_write__en.value = word, value, 1
    await FallingEdge(dut.clk)
    dut.act_write__en.value = 0


def weight_beats(trits: np.ndarray, rng: np.random.Generator) -> list[int]:
    rows, cols = trits.shape
    lanes, beat_bytes = ENGINE.lanes, ENGINE.beat_bytes
    beats_per_row = -(-cols // lanes)
    padded = rng.integers(-1, 2, size=(rows, beats_per_row * lanes))      # garbage the engine must mask
    padded[:, :cols] = trits
    data = pack_trits(padded, ENGINE.trit_format)
    return [int.from_bytes(data[i:i + beat_bytes], "little") for i in range(0, len(data), beat_bytes)]


async def run_product(dut, trits, q, *, seed, weight_stall=0.3, result_stall=0.3, beats=None):
    """Drive one command; return (results, cycles from command to last result)."""
    rng = random.Random(seed)
    await write_activations(dut, q, rng)
    beats = weight_beats(trits, np.random.default_rng(seed)) if beats is None else beats
    rows, cols = trits.shape
    cmd = (rows << LAYOUT["rows"].offset) | (cols << LAYOUT["cols"].offset)
    results, sent, cmd_done, cycles = [], 0, False, 0
    limit = 50 * (len(beats) + rows) + 200
    while len(results) < rows:
        await FallingEdge(dut.clk)
        cycles += 1
        assert cycles < limit, f"timeout: {len(results)} of {rows} results after {cycles} cycles"
        dut.cmd__valid.value = int(not cmd_done)
        dut.cmd__payload.value = cmd
        offer = sent < len(beats) and rng.random() >= weight_stall
        dut.weights__valid.value = int(offer)
        dut.weights__payload.value = beats[sent] if sent < len(beats) else 0
        dut.result__ready.value = int(rng.random() >= result_stall)
        await ReadOnly()
        if not cmd_done and dut.cmd__ready.value:
            cmd_done = True
        if offer and dut.weights__ready.value:
            sent += 1
        if dut.result__valid.value and dut.result__ready.value:
            results.append(dut.result__payload.value.to_signed())
    await FallingEdge(dut.clk)
    dut.cmd__valid.value = dut.weights__valid.value = 0
    assert sent == len(beats), f"engine finished after {sent} of {len(beats)} beats"
    return results, cycles


def check(trits, q, results):
    expected = ternary_matvec(trits, np.asarray(q)).tolist()
    bad = [i for i, (a, b) in enumerate(zip(results, expected)) if a != b]
    assert not bad and len(results) == len(expected), \
        f"{len(bad)} rows differ; first row {bad[0] if bad else None}: got {results[bad[0]] if bad else None}, " \
        f"golden {expected[bad[0]] if bad else None}"


def shapes():
    lanes, max_cols = ENGINE.lanes, ENGINE.max_cols
    return [(5, lanes), (7, 3 * lanes + 1), (4, 1), (3, max_cols), (9, max(1, 2 * lanes - 1))]


@cocotb.test()
async def random_matrices_with_stalls(dut):
    await reset(dut)
    rng = np.random.default_rng(1)
    for k, (rows, cols) in enumerate(shapes()):
        trits = rng.integers(-1, 2, size=(rows, cols)).astype(np.int8)
        q = rng.integers(-128, 128, size=cols)
        results, _ = await run_product(dut, trits, q, seed=k)
        check(trits, q, results)
        assert not dut.error.value


@cocotb.test()
async def extremes(dut):
    """All -1 x -128 and all +1 x 127 over the longest row, all-zero rows, a single column."""
    await reset(dut)
    cols = ENGINE.max_cols
    cases = [(-np.ones((2, cols)), np.full(cols, -128)),
             (np.ones((2, cols)), np.full(cols, 127)),
             (np.zeros((3, cols)), np.full(cols, -128)),
             (np.array([[1], [-1], [0]]), np.array([-128]))]
    for k, (trits, q) in enumerate(cases):
        trits = trits.astype(np.int8)
        results, _ = await run_product(dut, trits, q, seed=10 + k)
        check(trits, q, results)
    assert ternary_matvec(-np.ones((1, cols), dtype=np.int8), np.full(cols, -128))[0] == 128 * cols


@cocotb.test()
async def full_throughput_without_stalls(dut):
    """One beat per cycle: a product takes rows * beats_per_row cycles plus the pipeline's fill."""
    await reset(dut)
    rng = np.random.default_rng(5)
    rows, cols = 16, 4 * ENGINE.lanes
    trits = rng.integers(-1, 2, size=(rows, cols)).astype(np.int8)
    q = rng.integers(-128, 128, size=cols)
    results, cycles = await run_product(dut, trits, q, seed=5, weight_stall=0, result_stall=0)
    check(trits, q, results)
    ideal = rows * 4
    assert cycles <= ideal + ENGINE.pipeline_depth + 3, f"{cycles} cycles for {ideal} beats"


@cocotb.test()
async def illegal_code_sets_error(dut):
    await reset(dut)
    cols = ENGINE.lanes
    trits = np.zeros((1, cols), dtype=np.int8)
    bad_byte = 0b10 if ENGINE.trit_format is TritFormat.TRITS_2BIT else 250
    results, _ = await run_product(dut, trits, np.zeros(cols, dtype=np.int64), seed=3, beats=[bad_byte])
    assert dut.error.value == 1
    results, _ = await run_product(dut, trits, np.zeros(cols, dtype=np.int64), seed=4)
    assert dut.error.value == 0 and results == [0]
