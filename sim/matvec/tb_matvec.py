"""cocotb testbench of MatVecUnit (+ image reader + memory model) against golden.hwexact.bitlinear's back half.

Protocol checked: q written element by element in index order (as the norm unit does); the QUANT state
and S set; a command {d, trits, rows}; the unit reads the packed rows from the image through the
reader (memory latency, refresh gaps) and writes each rescaled row sum to VMEM; `done` with random
delay. Reference: acc = golden.hwexact.ternary_matvec(trits, q); y = scale_vector(acc, sigma, 16) with
sigma = sf_mul(sf_mul(S, sf_normalize(peak)), 1/sqrt) * 2**norm_exp; every VMEM word must agree.
Matrices: random shapes up to the maximum (cols not a multiple of LANES), all -1 x -128 and +1 x 127
rows, all-zero rows; matrices placed at unaligned image offsets.

A build of BATCH B > 1 also runs `slots_share_one_pass`: each slot's q written with its slot on q_write and its
own QUANT state (peaks, 1/sqrt, norm_exp differ; slots a product does not serve hold other lengths), products
over B, 1, fewer than B and 2 slots with strides, some prefetched; slot k's rows land at d + k·stride, each
rescaled by its own sigma; every VMEM word compared with the golden model's. PARALLEL=1 builds the slots side
by side (hw.matvec_unit's gather): the same trials and checks.
"""

import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from golden import fixedpoint as fxp
from golden import formats as fmt
from golden.hwexact import ternary_matvec
from golden.packing import TritFormat, pack_trits
from hw.matvec_unit import MatVecCommand, PrefetchLayout
from hw.norm_unit import QuantState
from hw.rsqrt import SFloatLayout
from sim.clocking import command_until_done, start_unit_test
from sim.coverage import Coverage
from sim.memory_model import MEMORIES, ExternalMemory
from sim.vmem import read_all
from sim.xcheck import dont_care

WORDS = int(os.environ["VMEM_WORDS"])
LANES = int(os.environ["LANES"])
FORMAT = TritFormat[os.environ["FORMAT"]]
MAX_COLS, MAX_ROWS = int(os.environ["MAX_COLS"]), int(os.environ["MAX_ROWS"])
MEMORY = MEMORIES[os.environ["MEMORY"]]
QUANT, SFLOAT = QuantState(), SFloatLayout()
VECTOR_WIDTH = int(os.environ["VECTOR_WIDTH"])
BATCH = int(os.environ.get("BATCH", "1"))
PARALLEL = os.environ.get("PARALLEL") == "1"
CMD, PREFETCH = MatVecCommand(WORDS, MAX_ROWS, BATCH), PrefetchLayout(MAX_ROWS, MAX_COLS)
IMAGE_BYTES = 1 << 15


def sfloat_bits(value: fxp.SFloat) -> int:
    return value.m | ((value.e & ((1 << fmt.SFLOAT_EXP_BITS) - 1)) << SFLOAT["e"].offset)


def place_matrix(image: bytearray, trits, offset: int, rng) -> int:
    """`trits` packed into `image` at `offset`; the next matrix's offset (a random gap: unaligned)."""
    packed = pack_trits(trits, FORMAT)
    image[offset:offset + len(packed)] = packed
    return offset + len(packed) + int(rng.integers(1, 40))


COVERAGE = {
    "y saturates +": "a rescaled row sum clamped to ACT_MAX", "y saturates -": "clamped to ACT_MIN",
    "y rounds": "a rescaled row sum rounded (bits dropped)", "largest sums": "every trit -1 x q -128 (|acc| largest)",
    "zero rows": "rows of zero trits (acc 0)", "one column": "a one-column matrix",
    "columns off the lanes": "cols not a multiple of LANES (a partial beat)", "longest rows": "cols = MAX_COLS",
    "most rows": "rows = MAX_ROWS", "prefetched": "a product taking a PREFETCHed matrix",
    "read for itself": "a product reading its matrix itself", "mismatch": "a product unlike the prefetch it takes",
}


def random_sfloat(rng) -> fxp.SFloat:
    return fxp.SFloat(int(rng.integers(1 << 16, 1 << 17)), int(rng.integers(-40, -10)))


@cocotb.test()
async def matvec_matches_golden(dut):
    rng, py_rng = await start_unit_test(dut, low=("cmd__valid", "done__ready", "q_write__en", "prefetch__valid", "flush"), seed=21)
    coverage = Coverage(f"matvec L{LANES} V{VECTOR_WIDTH}" + (f" B{BATCH} parallel" if PARALLEL else ""), COVERAGE)
    if BATCH > 1:
        dut.q_write__slot.value = 0                # these trials are slot 0's (Verilator read the undriven port as 0)
    image = bytearray(rng.integers(0, 256, size=IMAGE_BYTES, dtype=np.uint8).tobytes())
    trials = []
    offset = 13                                    # unaligned on purpose
    for trial in range(int(os.environ.get("TRIALS", "10"))):
        rows = int(rng.choice([1, 3, MAX_ROWS, int(rng.integers(1, MAX_ROWS + 1))]))
        cols = int(rng.choice([1, LANES - 1, LANES + 1, MAX_COLS, int(rng.integers(1, MAX_COLS + 1))]))
        trits = rng.integers(-1, 2, size=(rows, cols))
        q = rng.integers(-127, 128, size=cols)
        if trial == 1:
            trits[:], q[:] = -1, -128              # the largest positive sums
        if trial == 2:
            trits[:], q[:] = 1, 127
        if trial == 3:
            trits[rows // 2:] = 0                  # zero rows
        trials.append((rows, cols, trits, q, offset))
        offset = place_matrix(image, trits, offset, rng)
    memory = ExternalMemory(dut, bytes(image), MEMORY)
    memory.start()

    async def prefetch(trial):
        rows, cols, _, _, address = trial
        await offer_prefetch(dut, rows, cols, address)

    # Trial 0 reads for itself; trials 1 and 2 are prefetched together (the queue full), then every
    # other trial is prefetched just before its activations arrive.
    vmem = np.zeros(WORDS, dtype=np.int64)
    for index, (rows, cols, trits, q, address) in enumerate(trials):
        if index == 1 and len(trials) > 2:
            await prefetch(trials[1])
            await prefetch(trials[2])
            assert dut.prefetched.value == 2
        elif index > 2 and index % 2:
            await prefetch(trials[index])
        peak = int(rng.integers(1, 1 << 34))
        inv_sqrt, scale = random_sfloat(rng), random_sfloat(rng)
        norm_exp = int(rng.integers(-20, -5))
        for i in range(0, cols, VECTOR_WIDTH):                         # as the norm unit writes them
            await FallingEdge(dut.clk)
            chunk = q[i:i + VECTOR_WIDTH]
            dut.q_write__addr.value = i
            dut.q_write__data.value = sum((int(value) & 0xFF) << 8 * k for k, value in enumerate(chunk))
            dut.q_write__en.value = (1 << len(chunk)) - 1
            dut.quant.value = (peak << QUANT["peak"].offset | sfloat_bits(inv_sqrt) << QUANT["inv_sqrt"].offset
                               | (norm_exp & 0xFF) << QUANT["norm_exp"].offset | cols << QUANT["length"].offset)
            dut.scale.value = sfloat_bits(scale)
        await FallingEdge(dut.clk)
        dut.q_write__en.value = 0
        dont_care(dut.q_write__addr, dut.q_write__data)
        d = int(rng.integers(0, (WORDS - rows) // VECTOR_WIDTH + 1)) * VECTOR_WIDTH
        fields = {"d": d, "trits": address, "rows": rows}
        taken = await command_until_done(dut, sum(v << CMD[k].offset for k, v in fields.items()), py_rng,
                                 max_cycles=100 * rows * (MAX_COLS // LANES + 2) + 2000, ready_rate=1.0)
        dut._log.info(f"trial {index}: {rows}x{cols} prefetched={index in (1, 2) or (index > 2 and index % 2)} {taken} cycles")
        assert dut.mismatch.value == 0 and dut.prefetched.value == (1 if index == 1 and len(trials) > 2 else 0)
        acc = ternary_matvec(trits, q)
        sigma = fxp.sf_mul(fxp.sf_mul(scale, fxp.sf_normalize(peak)), inv_sqrt)
        sigma = fxp.SFloat(sigma.m, sigma.e + norm_exp)
        vmem[d:d + rows] = fxp.scale_vector(acc, sigma, fmt.ACT_FRAC)
        shift = -(sigma.e + fmt.ACT_FRAC)
        unsaturated = fxp.round_shift(acc * sigma.m, shift)
        coverage.hit("y saturates +", unsaturated > fmt.ACT_MAX)
        coverage.hit("y saturates -", unsaturated < fmt.ACT_MIN)
        coverage.hit("y rounds", shift > 0 and ((acc * sigma.m) % (1 << shift) != 0).any())
        coverage.hit("largest sums", (trits == -1).all() and (q == -128).all())
        coverage.hit("zero rows", (~trits.any(axis=1)).any())
        coverage.hit("one column", cols == 1)
        coverage.hit("columns off the lanes", cols % LANES != 0)
        coverage.hit("longest rows", cols == MAX_COLS)
        coverage.hit("most rows", rows == MAX_ROWS)
        coverage.hit("prefetched" if index in (1, 2) or (index > 2 and index % 2) else "read for itself")
        got = await read_all(dut, WORDS)
        bad = np.nonzero(got != vmem)[0]
        assert bad.size == 0, (f"product {index} ({rows}x{cols}): VMEM differs at {bad[:6].tolist()}: "
                               f"{got[bad[:6]].tolist()} vs {vmem[bad[:6]].tolist()}")
        assert dut.error.value == 0

    # A product unlike the prefetch it takes: `mismatch`, nothing written; a flush then forgets the
    # prefetched bytes, and the same product reading for itself is right again.
    await prefetch(trials[-1])
    wrong = {"d": 0, "trits": trials[0][4] + 1, "rows": rows}
    await command_until_done(dut, sum(v << CMD[k].offset for k, v in wrong.items()), py_rng, max_cycles=2000)
    assert dut.mismatch.value == 1
    coverage.hit("mismatch")
    assert (await read_all(dut, WORDS) == vmem).all(), "a mismatched MATVEC wrote VMEM"
    dut.flush.value = 1
    await FallingEdge(dut.clk)
    dut.flush.value = 0
    fields = {"d": 0, "trits": address, "rows": rows}         # the last trial's product, its q still loaded
    await command_until_done(dut, sum(v << CMD[k].offset for k, v in fields.items()), py_rng,
                             max_cycles=100 * rows * (MAX_COLS // LANES + 2) + 2000)
    assert dut.mismatch.value == 0 and dut.prefetched.value == 0
    vmem[:rows] = fxp.scale_vector(acc, sigma, fmt.ACT_FRAC)
    got = await read_all(dut, WORDS)
    assert (got == vmem).all(), "the product after a flush differs (prefetched bytes leaked?)"
    coverage.finish()



def quant_bits(peak: int, inv_sqrt: fxp.SFloat, norm_exp: int, length: int) -> int:
    return (peak << QUANT["peak"].offset | sfloat_bits(inv_sqrt) << QUANT["inv_sqrt"].offset
            | (norm_exp & 0xFF) << QUANT["norm_exp"].offset | length << QUANT["length"].offset)


async def offer_prefetch(dut, rows: int, cols: int, address: int) -> None:
    dut.prefetch__payload.value = sum(v << PREFETCH[k].offset for k, v in
                                      {"trits": address, "rows": rows, "cols": cols}.items())
    dut.prefetch__valid.value = 1
    for _ in range(100):
        await ReadOnly()
        taken = dut.prefetch__ready.value == 1
        await FallingEdge(dut.clk)
        if taken:
            break
    else:
        raise AssertionError("the unit does not take a PREFETCH")
    dut.prefetch__valid.value = 0


@cocotb.test(skip=BATCH == 1)
async def slots_share_one_pass(dut):
    rng, py_rng = await start_unit_test(dut, low=("cmd__valid", "done__ready", "q_write__en", "prefetch__valid", "flush"), seed=23)
    image = bytearray(rng.integers(0, 256, size=IMAGE_BYTES, dtype=np.uint8).tobytes())
    trials, offset = [], 7
    for slots in (BATCH, 1, BATCH - 1, 2, 0):          # 0: slot 0 alone, as 1
        rows = int(rng.integers(1, min(MAX_ROWS, WORDS // max(slots, 1)) + 1))
        cols = int(rng.choice([LANES + 1, MAX_COLS, int(rng.integers(1, MAX_COLS + 1))]))
        trits = rng.integers(-1, 2, size=(rows, cols))
        trials.append((slots, rows, cols, trits, offset))
        offset = place_matrix(image, trits, offset, rng)
    memory = ExternalMemory(dut, bytes(image), MEMORY)
    memory.start()
    vmem = await read_all(dut, WORDS)                  # as an earlier test left it
    for index, (slots, rows, cols, trits, address) in enumerate(trials):
        served = max(slots, 1)
        if index % 2:
            await offer_prefetch(dut, rows, cols, address)
        states, qs = [], []
        for slot in range(BATCH):                      # every slot quantised; those not served of other lengths
            length = cols if slot < served else int(rng.integers(1, MAX_COLS + 1))
            q = rng.integers(-127, 128, size=length)
            state = (int(rng.integers(1, 1 << 34)), random_sfloat(rng), int(rng.integers(-20, -5)), length)
            states.append(state)
            qs.append(q)
            for i in range(0, length, VECTOR_WIDTH):
                await FallingEdge(dut.clk)
                chunk = q[i:i + VECTOR_WIDTH]
                dut.q_write__addr.value = i
                dut.q_write__slot.value = slot
                dut.q_write__data.value = sum((int(value) & 0xFF) << 8 * k for k, value in enumerate(chunk))
                dut.q_write__en.value = (1 << len(chunk)) - 1
            await FallingEdge(dut.clk)
            dut.q_write__en.value = 0
            dut.quant.value = sum(quant_bits(*s) << k * QUANT.size for k, s in enumerate(states))
        scale = random_sfloat(rng)
        dut.scale.value = sfloat_bits(scale)
        stride = 0
        if served > 1:                                 # slot k's rows at d + k stride, not overlapping
            low, high = -(-rows // VECTOR_WIDTH), (WORDS - rows) // (served - 1) // VECTOR_WIDTH
            stride = int(rng.integers(low, max(low, high) + 1)) * VECTOR_WIDTH
        room = WORDS - (served - 1) * stride - rows
        d = int(rng.integers(0, room // VECTOR_WIDTH + 1)) * VECTOR_WIDTH
        fields = {"d": d, "trits": address, "rows": rows, "slots": slots, "stride": stride}
        taken = await command_until_done(dut, sum(v << CMD[k].offset for k, v in fields.items()), py_rng,
                                         max_cycles=100 * served * rows * (MAX_COLS // LANES + 2) + 2000)
        dut._log.info(f"slots {slots}: {rows}x{cols} stride {stride} prefetched={bool(index % 2)} {taken} cycles")
        assert dut.mismatch.value == 0 and dut.error.value == 0
        for k in range(served):
            peak, inv_sqrt, norm_exp, _ = states[k]
            sigma = fxp.sf_mul(fxp.sf_mul(scale, fxp.sf_normalize(peak)), inv_sqrt)
            sigma = fxp.SFloat(sigma.m, sigma.e + norm_exp)
            start = d + k * stride
            vmem[start:start + rows] = fxp.scale_vector(ternary_matvec(trits, qs[k]), sigma, fmt.ACT_FRAC)
        got = await read_all(dut, WORDS)
        bad = np.nonzero(got != vmem)[0]
        assert bad.size == 0, (f"product {index} ({slots} slots, {rows}x{cols}): VMEM differs at {bad[:6].tolist()}: "
                               f"{got[bad[:6]].tolist()} vs {vmem[bad[:6]].tolist()}")
