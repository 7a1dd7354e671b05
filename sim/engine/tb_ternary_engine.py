# amaranth: UnusedElaboratable=no
# (ENGINE below is built for its parameters only; the DUT is the built Verilog.)
"""cocotb testbench of TernaryMatVec against the golden model's integer matrix-vector product.

Protocol checked: activations written word by word through act_write; a command (rows, cols); then
rows * ceil(cols / LANES) weight beats, each row starting on a fresh beat, with random garbage trits in
the columns past `cols` (the engine must mask them) and random int8 garbage past `cols` in the activation
memory; random stalls on `weights.valid` and `result.ready`. Every result is compared with
golden.hwexact.ternary_matvec on the unpadded matrix.

A build with ENGINE_BATCH B > 1 also runs `slots_share_each_beat`: B activation vectors (slot s at
s·2**word_bits), products over 1..B slots (fewer than B too) with stalls, each beat applied to every slot, the
results slot-interleaved (row i of slots 0..slots-1, then row i + 1), each compared with the golden product
of its slot's vector; without stalls a product takes slots x rows x beats cycles plus the pipeline's fill.
A parallel build (ENGINE_PARALLEL=1: the slots side by side) gives a row's B sums in one result, of which the
first `slots` are read (the rest are of whatever the other memories hold), and takes rows x beats cycles.
"""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from golden.hwexact import ternary_matvec
from golden.packing import TritFormat, pack_trits
from sim.coverage import Coverage
from hw.ternary_engine import TernaryMatVec
from sim.clocking import start_and_reset

ENGINE = TernaryMatVec(lanes=int(os.environ["ENGINE_LANES"]), trit_format=TritFormat[os.environ["ENGINE_FORMAT"]],
                       max_cols=int(os.environ["ENGINE_MAX_COLS"]), batch=int(os.environ.get("ENGINE_BATCH", "1")),
                       parallel=os.environ.get("ENGINE_PARALLEL") == "1")
LAYOUT = ENGINE.cmd.payload.shape()


async def reset(dut):
    await start_and_reset(dut, low=("cmd__valid", "weights__valid", "result__ready", "act_write__en"))


async def write_activations(dut, q: np.ndarray, rng: random.Random, slot: int = 0):
    lanes = ENGINE.lanes
    padded = [int(v) for v in q] + [rng.randint(-128, 127) for _ in range(ENGINE.words * lanes - len(q))]
    for word in range(ENGINE.words):
        value = sum((padded[word * lanes + l] & 0xFF) << (8 * l) for l in range(lanes))
        await FallingEdge(dut.clk)
        dut.act_write__addr.value = (slot << ENGINE.word_bits) | word
        dut.act_write__data.value, dut.act_write__en.value = value, 1
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


async def run_product(dut, trits, q, *, seed, weight_stall=0.3, result_stall=0.3, beats=None, slots=None):
    """Drive one command (over `slots` vectors, written from `q`, a list of them, when slots is given; else
    slot 0 from `q`); return (results, cycles from command to last result)."""
    rng = random.Random(seed)
    vectors = [q] if slots is None else q
    for slot, vector in enumerate(vectors):
        await write_activations(dut, vector, rng, slot)
    beats = weight_beats(trits, np.random.default_rng(seed)) if beats is None else beats
    rows, cols = trits.shape
    cmd = (rows << LAYOUT["rows"].offset) | (cols << LAYOUT["cols"].offset)
    if slots is not None:
        cmd |= slots << LAYOUT["slots"].offset
    expected_results = rows * len(vectors)          # a sum per row and slot
    results, sent, cmd_done, cycles = [], 0, False, 0
    limit = 50 * (len(beats) * len(vectors) + rows) + 200
    while len(results) < expected_results:
        await FallingEdge(dut.clk)
        cycles += 1
        assert cycles < limit, f"timeout: {len(results)} of {expected_results} results after {cycles} cycles"
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
            results.extend(row_sums(dut.result__payload.value, len(vectors)))
    await FallingEdge(dut.clk)
    dut.cmd__valid.value = dut.weights__valid.value = 0
    assert sent == len(beats), f"engine finished after {sent} of {len(beats)} beats"
    return results, cycles


def row_sums(payload, slots: int) -> list[int]:
    """One result's sums: the slot's (taken in turn), or the first `slots` of a parallel build's B."""
    if ENGINE.trees == 1:
        return [payload.to_signed()]
    bits, value = ENGINE.acc_bits, int(payload)
    sums = [(value >> (bits * k)) & ((1 << bits) - 1) for k in range(slots)]
    return [s - (1 << bits) if s >> (bits - 1) else s for s in sums]


COVERAGE = Coverage(f"engine {ENGINE.trit_format.name} L{ENGINE.lanes} B{ENGINE.batch}"
                    + (" parallel" if ENGINE.parallel else ""), {
    "largest positive sum": "a row of -1 x -128 over the longest row: acc = 128 max_cols",
    "largest negative sum": "a row of +1 x -128 over the longest row: acc = -128 max_cols",
    "zero row": "a row of zero trits", "one column": "a one-column product",
    "partial last beat": "cols not a multiple of the lanes (the engine masks the rest)",
    "longest row": "cols = max_cols", "illegal code": "a weight code that is no trit (BAD_TRITS)",
    **({"several slots": "one beat applied to several Q slots"} if ENGINE.batch > 1 else {}),
})


def check(trits, q, results):
    expected = ternary_matvec(trits, np.asarray(q)).tolist()
    cols = trits.shape[1]
    COVERAGE.hit("largest positive sum", cols == ENGINE.max_cols and 128 * cols in expected)
    COVERAGE.hit("largest negative sum", cols == ENGINE.max_cols and -128 * cols in expected)
    COVERAGE.hit("zero row", (~trits.any(axis=1)).any())
    COVERAGE.hit("one column", cols == 1)
    COVERAGE.hit("partial last beat", cols % ENGINE.lanes != 0)
    COVERAGE.hit("longest row", cols == ENGINE.max_cols)
    bad = [i for i, (a, b) in enumerate(zip(results, expected)) if a != b]
    assert not bad and len(results) == len(expected), \
        f"{len(bad)} rows differ; first row {bad[0] if bad else None}: got {results[bad[0]] if bad else None}, " \
        f"golden {expected[bad[0]] if bad else None}"


def shapes():
    """(rows, cols) of the random products: a beat, several and a bit, one column, the longest row, two beats
    less one column (each at most max_cols: a wide engine's rows are few beats)."""
    lanes, max_cols = ENGINE.lanes, ENGINE.max_cols
    return [(rows, min(cols, max_cols)) for rows, cols in
            [(5, lanes), (7, 3 * lanes + 1), (4, 1), (3, max_cols), (9, max(1, 2 * lanes - 1))]]


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
    """All -1 x -128 and all +1 x -128 (the largest sums of either sign), all +1 x 127, over the longest row;
    all-zero rows, a single column."""
    await reset(dut)
    cols = ENGINE.max_cols
    cases = [(-np.ones((2, cols)), np.full(cols, -128)),
             (np.ones((2, cols)), np.full(cols, -128)),
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
    beats = min(4, ENGINE.max_cols // ENGINE.lanes)
    rows, cols = 16, beats * ENGINE.lanes
    trits = rng.integers(-1, 2, size=(rows, cols)).astype(np.int8)
    q = rng.integers(-128, 128, size=cols)
    results, cycles = await run_product(dut, trits, q, seed=5, weight_stall=0, result_stall=0)
    check(trits, q, results)
    ideal = rows * beats
    assert cycles <= ideal + ENGINE.pipeline_depth + 3, f"{cycles} cycles for {ideal} beats"


@cocotb.test()
async def illegal_code_sets_error(dut):
    await reset(dut)
    cols = ENGINE.lanes
    trits = np.zeros((1, cols), dtype=np.int8)
    bad_byte = 0b10 if ENGINE.trit_format is TritFormat.TRITS_2BIT else 250
    results, _ = await run_product(dut, trits, np.zeros(cols, dtype=np.int64), seed=3, beats=[bad_byte])
    assert dut.error.value == 1
    COVERAGE.hit("illegal code")
    results, _ = await run_product(dut, trits, np.zeros(cols, dtype=np.int64), seed=4)
    assert dut.error.value == 0 and results == [0]


@cocotb.test(skip=ENGINE.batch == 1)
async def slots_share_each_beat(dut):
    """B activation vectors; products over every slot count (1..B, fewer than B included), with stalls, then the
    widest without stalls at slots x beats cycles a row; every slot's rows against its own golden product."""
    await reset(dut)
    rng = np.random.default_rng(7)
    lanes, batch = ENGINE.lanes, ENGINE.batch
    cases = [(slots, rows, cols) for slots, (rows, cols) in
             zip([batch, 1, max(1, batch - 1), 2, batch], [(5, min(3 * lanes + 1, ENGINE.max_cols)), (4, lanes),
                                                           (3, ENGINE.max_cols), (6, 1),
                                                           (2, min(2 * lanes - 1, ENGINE.max_cols))])]
    for k, (slots, rows, cols) in enumerate(cases):
        trits = rng.integers(-1, 2, size=(rows, cols)).astype(np.int8)
        qs = [rng.integers(-128, 128, size=cols) for _ in range(slots)]
        results, _ = await run_product(dut, trits, qs, seed=20 + k, slots=slots)
        expected = np.stack([ternary_matvec(trits, q) for q in qs], axis=1).reshape(-1).tolist()
        assert results == expected, f"case {k} ({slots} slots, {rows}x{cols}): {results} vs {expected}"
        assert not dut.error.value
        COVERAGE.hit("several slots", slots > 1)
    beats = min(4, ENGINE.max_cols // lanes)
    rows, cols = 8, beats * lanes
    trits = rng.integers(-1, 2, size=(rows, cols)).astype(np.int8)
    qs = [rng.integers(-128, 128, size=cols) for _ in range(batch)]
    results, cycles = await run_product(dut, trits, qs, seed=30, slots=batch, weight_stall=0, result_stall=0)
    assert results == np.stack([ternary_matvec(trits, q) for q in qs], axis=1).reshape(-1).tolist()
    ideal = -(-batch // ENGINE.trees) * rows * beats   # assembler.cost.CostModel.compute
    assert ideal <= cycles <= ideal + ENGINE.pipeline_depth + 3, f"{cycles} cycles for {ideal} beat-slots"


@cocotb.test()
async def coverage_complete(dut):
    """Last: every bin the tests above declared was reached (sim.coverage)."""
    COVERAGE.finish()
