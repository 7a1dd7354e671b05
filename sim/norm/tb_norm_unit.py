"""cocotb testbench of NormUnit (RMSNORM and QUANT, V lanes) against golden.hwexact / golden.fixedpoint.

Protocol checked: VMEM filled through the host port; a command; the norm weights offered on `weights`
as beats of V words (the last zero-padded), with random gaps (pass 2 must take them at whatever rate
they come); `done` taken with random delay. RMSNORM: every VMEM word afterwards equals the reference
(the destination holds scale_vector(blocknorm(xm * w), sf_mul(S, 1/sqrt), t + E + 16), nothing else
changed, the lanes past the vector's end in its last row included). QUANT: every int8 written to the
activation port (each index once, rows in order, lane 0 on a multiple of V), and the state left for
MATVEC (peak, 1/sqrt, exponent, length), equal golden.hwexact's quantize_int8 / normalized_input_with_term.
Inputs: random vectors at every scale, all zero, +-max words, a single nonzero element, rounding ties
of the quantiser, lengths 1, V - 1, V, V + 1, odd lengths and the longest, norm weights of both signs
at full 18-bit range. Some trials run at full speed (weights always offered, done always taken) and
check the cycle count against NormUnit.command_cycles.

Directed trials reach what random stimulus does not: RMSNORM outputs saturated on both sides (norm exponents
that push |y| past ACT_MAX), an epsilon term whose rounding (round_shift of eps by 2 x_shift, not a
truncation) changes the 1/sqrt the QUANT state holds, and extreme exponents: an S register whose product with
1/sqrt lands near either end of the hardware's SFLOAT_EXP_BITS exponent, the norm exponent at the other end of
its signed byte (every y rounded to 0, or every nonzero y saturated, only if both are carried in full).
Once a command's norm-weight beats are all taken, the next command's first beat is offered (as a prefetching
reader would): the unit must take exactly ceil(length / V) beats a command. Functional coverage (sim.coverage, COVERAGE below): every
bin must be hit by the run.

Batch (BATCH B > 1): each QUANT names a random Q slot; every activation write must carry it, its state must
land in quant[slot] and every other slot's state stay as the reference model of all B slots holds it.
"""

import os

import cocotb
import numpy as np
from amaranth import Shape
from cocotb.triggers import FallingEdge, ReadOnly

from golden import fixedpoint as fxp
from golden import formats as fmt
from golden.hwexact import normalized_input_with_term, quantize_int8, sqrt_length
from golden.quantize import eps_term
from hw.norm_unit import NormCommand, NormOp, NormUnit, QuantState
from hw.rsqrt import SFloatLayout
from sim.clocking import start_unit_test
from sim.coverage import Coverage
from sim.vmem import fill, read_all

WORDS = int(os.environ["VMEM_WORDS"])
MAX_LENGTH = int(os.environ["MAX_LENGTH"])
V = int(os.environ["VECTOR_WIDTH"])
BATCH = int(os.environ.get("BATCH", "1"))
LAYOUT = NormCommand(WORDS, MAX_LENGTH, BATCH)
QUANT = QuantState()
SFLOAT = SFloatLayout()
UNIT = NormUnit(vmem_words=WORDS, max_length=MAX_LENGTH, vector_width=V, batch=BATCH)
EXPECTED_CYCLES = {length: UNIT.command_cycles(length) for length in range(1, MAX_LENGTH + 1)}


COVERAGE = {
    "zero vector": "x all zero (sum of squares 0: 1/sqrt of the epsilon term alone)",
    "extreme operand": "x holds ACT_MIN or ACT_MAX",
    "block shift right": "max|x| beyond 18 bits: x_mant = x >> s, s > 0 (the epsilon term shifted by 2 s)",
    "block shift 0": "max|x| within the 18-bit mantissa: x_mant = x",
    "block shift maximum": "max|x| = 2**31 (ACT_MIN): the largest shift, 15",
    "length 1": "a one-element vector",
    "length off the lanes": "a length not a multiple of V (a partial last row)",
    "longest vector": "the build's max_length",
    "epsilon rounds up": "round_shift(eps, 2 s) > eps >> 2 s: the epsilon term's rounding matters",
    "epsilon rounding changes 1/sqrt": "1/sqrt differs between the rounded and a truncated epsilon term",
    "y saturates +": "an RMSNORM output clamped to ACT_MAX",
    "y saturates -": "an RMSNORM output clamped to ACT_MIN",
    "y rounds": "an RMSNORM output rounded (right shift dropping nonzero bits)",
    "quantiser tie": "127 u / peak exactly k + 1/2 (rounded away from zero)",
    "quantiser +-127": "an activation at the int8 limit",
    "norm exponent extreme": "the command's norm exponent at -128 or 127",
    "rho exponent far below zero": "sf_mul(S, 1/sqrt) exponent below -2**(SFLOAT_EXP_BITS - 2): every y rounds to 0",
    "rho exponent far above zero": "sf_mul(S, 1/sqrt) exponent above 2**(SFLOAT_EXP_BITS - 2): every y saturates",
    "next command's beat offered": "a norm-weight beat past the command's rows offered while the unit loads",
}
NEXT_COMMAND_BEAT = 0x5A5A5A5A                   # a beat past the command's rows: never taken


def eps_rounding_case(rng: np.random.Generator, length: int) -> tuple[np.ndarray, int]:
    """(x, eps) where the epsilon term's rounding decides 1/sqrt: max|x| in [2**17, 2**18) (block shift 1, the
    term round(eps / 4)), eps = 4 (R - S) + 2 for S = sum x_mant**2 and R just below a radicand step of sf_rsqrt,
    so eps / 4 = R - S + 1/2 rounds to R - S + 1 (across the step) where truncation gives R - S."""
    x = rng.integers(-(1 << 12), 1 << 12, size=length)
    x[int(rng.integers(0, length))] = int(rng.choice([-1, 1])) * int(rng.integers(1 << 17, 1 << 18))
    x_mant, shift = fxp.block_normalize(x)
    assert shift == 1
    base = int(np.dot(x_mant, x_mant))
    low, high = base, base + (1 << 29)                 # eps < 2**32; sf_rsqrt steps many times over that range
    assert fxp.sf_rsqrt(low) != fxp.sf_rsqrt(high)
    while high - low > 1:                              # a step: sf_rsqrt(low) != sf_rsqrt(low + 1)
        middle = (low + high) // 2
        low, high = (middle, high) if fxp.sf_rsqrt(middle) == fxp.sf_rsqrt(low) else (low, middle)
    return x, 4 * (low - base) + 2


def field(layout, name, value):
    spec = layout[name]
    width = spec.width
    raw = (value >> spec.offset) & ((1 << width) - 1)
    return raw - (1 << width) if Shape.cast(spec.shape).signed and raw >> (width - 1) else raw


def pack_sfloat(m, e):
    return m | ((e & ((1 << fmt.SFLOAT_EXP_BITS) - 1)) << SFLOAT["e"].offset)


def beats(weights):
    """The norm weights as the image reader delivers them: V little-endian int32s a beat, zero-padded."""
    padded = np.zeros(-(-len(weights) // V) * V, dtype=np.int64)
    padded[:len(weights)] = weights
    return [sum((int(w) & 0xFFFFFFFF) << (32 * k) for k, w in enumerate(padded[i:i + V]))
            for i in range(0, len(padded), V)]


async def execute(dut, op, length, d, x, eps, norm_exp, weights, rng, *, full_speed=False, slot=0, coverage=None):
    """One command; returns (q: index -> int8, cycles from the command taken to done first offered, both
    counted)."""
    fields = {"opcode": op.value, "length": length, "d": d, "x": x, "eps": eps, "norm_exp": norm_exp & 0xFF,
              "slot": slot}
    await FallingEdge(dut.clk)
    dut.cmd__payload.value = sum(v << LAYOUT[k].offset for k, v in fields.items())
    dut.cmd__valid.value = 1
    await ReadOnly()
    assert dut.cmd__ready.value == 1
    await FallingEdge(dut.clk)
    dut.cmd__valid.value = 0
    pending, q, cycles, done_at, next_row = beats(weights), {}, 1, None, 0
    offer_rate, ready_rate = (1.0, 1.0) if full_speed else (rng.choice([0.15, 0.5, 0.9]), 0.5)
    while True:
        offer = rng.random() < offer_rate        # this command's next beat, or once they are all in, the next's
        dut.weights__valid.value = int(offer)
        if offer:
            dut.weights__payload.value = pending[0] if pending else NEXT_COMMAND_BEAT
        ready = rng.random() < ready_rate
        dut.done__ready.value = int(ready)
        await ReadOnly()
        if offer and dut.weights__ready.value == 1:
            assert pending, f"a norm-weight beat taken past the command's {len(beats(weights))} rows"
            pending.pop(0)
        if coverage is not None:
            coverage.hit("next command's beat offered", offer and not pending)
        enables = int(dut.q_write__en.value)
        if enables:
            address = int(dut.q_write__addr.value)
            assert address == next_row * V, f"q row at {address}, expected {next_row * V}"
            if BATCH > 1:
                assert int(dut.q_write__slot.value) == slot, f"q row for slot {int(dut.q_write__slot.value)}, not {slot}"
            next_row += 1
            raw = int(dut.q_write__data.value)
            for lane in range(V):
                if enables >> lane & 1:
                    assert address + lane not in q, f"q[{address + lane}] written twice"
                    byte = (raw >> (8 * lane)) & 0xFF
                    q[address + lane] = byte - 256 if byte & 0x80 else byte
        if done_at is None and dut.done__valid.value == 1:
            done_at = cycles + 1                        # the cycles counted, the command's and this one's
        finished = ready and dut.done__valid.value == 1
        await FallingEdge(dut.clk)
        cycles += 1
        assert cycles < 20 * length + 400, "the unit never finished"
        if finished:
            break
    dut.weights__valid.value = dut.done__ready.value = 0
    assert not pending, f"{len(pending)} norm-weight beats were never taken"
    return q, done_at


def vector(rng: np.random.Generator, length: int, kind: str) -> np.ndarray:
    if kind == "zero":
        return np.zeros(length, dtype=np.int64)
    if kind == "max":
        return rng.choice(np.array([fmt.ACT_MIN, fmt.ACT_MAX], dtype=np.int64), size=length)
    if kind == "single":
        out = np.zeros(length, dtype=np.int64)
        picks = [fmt.ACT_MIN, fmt.ACT_MAX, -1, 1, int(rng.integers(-1 << 20, 1 << 20))]
        out[rng.integers(0, length)] = picks[int(rng.integers(0, len(picks)))]
        return out
    scale = {"tiny": 1 << 4, "unit": 1 << 17, "wide": 1 << 31}[kind]
    return np.clip(rng.integers(-scale, scale, size=length), fmt.ACT_MIN, fmt.ACT_MAX)


def lengths():
    odd = [n for n in (1, V - 1, V, V + 1, 2 * V + 3, 3, 7, MAX_LENGTH - 1, MAX_LENGTH) if 1 <= n <= MAX_LENGTH]
    return sorted(set(odd))


@cocotb.test()
async def norm_unit_matches_golden(dut):
    rng, py_rng = await start_unit_test(dut, low=("cmd__valid", "weights__valid", "done__ready"), seed=11)
    vmem = rng.integers(-(1 << 20), 1 << 20, size=WORDS)
    await fill(dut, vmem)
    kinds = ["unit", "wide", "tiny", "zero", "max", "single"]
    half_rows = WORDS // 2 // V
    states = [None] * BATCH                     # each Q slot's state (the reference), None before its QUANT
    coverage = Coverage(f"norm V{V}", COVERAGE)
    for trial in range(int(os.environ.get("TRIALS", "24"))):
        saturating, eps_rounding = trial % 11 == 10, trial % 13 == 12       # directed (module docstring)
        extreme = trial % 9 == 8
        op = NormOp.QUANT if (trial % 2 or eps_rounding) and not (saturating or extreme) else NormOp.RMSNORM
        length = int(rng.choice(lengths())) if trial % 3 else int(rng.integers(1, MAX_LENGTH + 1))
        rows = -(-length // V)
        x_addr = V * int(rng.integers(0, half_rows - rows + 1))
        d_addr = x_addr if trial % 4 == 0 else WORDS // 2 + V * int(rng.integers(0, half_rows - rows + 1))
        vmem[x_addr:x_addr + length] = vector(rng, length, kinds[trial % len(kinds)])
        limit = (1 << (fmt.MANT_BITS - 1)) - 1
        weights = rng.integers(-limit, limit + 1, size=length) if trial % 3 else rng.integers(1, 1 << 12, size=length)
        if trial % 7 == 6:
            # Exact rounding ties of the quantiser: peak 254 c and |p| = c (2k - 1) give q = k - 1/2 exactly.
            c = int(rng.integers(1, 100))
            ties = c * (2 * rng.integers(0, 127, size=length) + 1) * rng.choice([-1, 1], size=length)
            ties[int(rng.integers(0, length))] = 254 * c
            vmem[x_addr:x_addr + length] = ties
            weights = np.ones(length, dtype=np.int64)
        eps = eps_term(length, 1e-6 if op is NormOp.QUANT else 1e-5)
        norm_exp = int(rng.integers(-24, -10))
        if saturating:                                  # |y| up to x_rms * |w| * 2**(norm_exp): past ACT_MAX
            vmem[x_addr:x_addr + length] = vector(rng, length, "unit")
            norm_exp = int(rng.integers(-4, 8))
        if eps_rounding:
            vmem[x_addr:x_addr + length], eps = eps_rounding_case(rng, length)
        await fill(dut, vmem)
        x = vmem[x_addr:x_addr + length].copy()
        front = normalized_input_with_term(x, eps)
        sqrt_n = sqrt_length(length)
        if extreme:
            # S chosen so that rho = S * 1/sqrt lands 10 below the top or above the bottom of the exponent
            # registers (the product of two 17-bit mantissas renormalises by 16 or 17 bits), the norm exponent at
            # the other end of its byte: y = 0 or saturated only if rho's exponent is carried in full
            rho_high = trial // 9 % 2
            norm_exp = -128 if rho_high else 127
            limit = 1 << (fmt.SFLOAT_EXP_BITS - 1)
            target = limit - 10 if rho_high else -limit + 10
            sqrt_n = fxp.SFloat(sqrt_n.m, min(max(target - front.inv_sqrt.e - fmt.SFLOAT_MANT_BITS, -limit), limit - 1))
        dut.scale.value = pack_sfloat(sqrt_n.m, sqrt_n.e)
        full_speed = trial % 5 == 4
        slot = int(rng.integers(0, BATCH))
        q, cycles = await execute(dut, op, length, d_addr, x_addr, eps, norm_exp, weights, py_rng,
                                  full_speed=full_speed, slot=slot, coverage=coverage)
        products = front.x_mant * weights
        label = f"trial {trial} {op.name} length {length} V {V}"
        coverage.hit("zero vector", not x.any())
        coverage.hit("extreme operand", ((x == fmt.ACT_MIN) | (x == fmt.ACT_MAX)).any())
        coverage.hit("block shift right", front.x_shift > 0)
        coverage.hit("block shift 0", front.x_shift == 0)
        coverage.hit("block shift maximum", front.x_shift == fxp.block_shift(1 << (fmt.ACT_BITS - 1)))
        coverage.hit("length 1", length == 1)
        coverage.hit("length off the lanes", length % V != 0 or V == 1)
        coverage.hit("longest vector", length == MAX_LENGTH)
        if front.x_shift > 0:
            truncated = eps >> (2 * front.x_shift)
            coverage.hit("epsilon rounds up", fxp.round_shift(eps, 2 * front.x_shift) > truncated)
            coverage.hit("epsilon rounding changes 1/sqrt",
                         fxp.sf_rsqrt(int(np.dot(front.x_mant, front.x_mant)) + truncated) != front.inv_sqrt)
        if full_speed:
            assert cycles == EXPECTED_CYCLES[length], f"{label}: {cycles} cycles, model {EXPECTED_CYCLES[length]}"
        if op is NormOp.RMSNORM:
            u_mant, u_shift = fxp.block_normalize(products)
            rho = fxp.sf_mul(sqrt_n, front.inv_sqrt)
            assert -(1 << (fmt.SFLOAT_EXP_BITS - 1)) <= rho.e < 1 << (fmt.SFLOAT_EXP_BITS - 1), f"{label}: rho {rho}"
            coverage.hit("norm exponent extreme", norm_exp in (-128, 127))
            coverage.hit("rho exponent far below zero", rho.e < -(1 << (fmt.SFLOAT_EXP_BITS - 2)))
            coverage.hit("rho exponent far above zero", rho.e > 1 << (fmt.SFLOAT_EXP_BITS - 2))
            u_exact = u_mant.astype(object)             # Python integers: a shift by hundreds of bits stays exact
            vmem[d_addr:d_addr + length] = fxp.scale_vector(u_exact, rho, u_shift + norm_exp + fmt.ACT_FRAC)
            shift = -(rho.e + u_shift + norm_exp + fmt.ACT_FRAC)
            product = u_exact * rho.m
            unsaturated = fxp.round_shift(product, shift)
            coverage.hit("y saturates +", unsaturated > fmt.ACT_MAX)
            coverage.hit("y saturates -", unsaturated < fmt.ACT_MIN)
            coverage.hit("y rounds", shift > 0 and (product % (1 << shift) != 0).any())
            got = await read_all(dut, WORDS)
            bad = np.nonzero(got != vmem)[0]
            assert bad.size == 0, f"{label}: VMEM differs at {bad[:6].tolist()}: {got[bad[:6]].tolist()} vs {vmem[bad[:6]].tolist()}"
            assert not q, f"{label}: RMSNORM wrote activations"
        else:
            want_q, peak = quantize_int8(products)
            if peak:
                coverage.hit("quantiser tie", (products != 0) & ((254 * np.abs(products) + peak) % (2 * peak) == 0))
            coverage.hit("quantiser +-127", np.abs(want_q) == fmt.INT8_MAX)
            assert sorted(q) == list(range(length)), f"{label}: activations written {sorted(q)[:8]}…"
            got_q = np.array([q[i] for i in range(length)])
            bad = np.nonzero(got_q != want_q)[0]
            assert bad.size == 0, f"{label}: q differs at {bad[:6].tolist()}: {got_q[bad[:6]].tolist()} vs {want_q[bad[:6]].tolist()}"
            states[slot] = (peak, front.inv_sqrt.m, front.inv_sqrt.e, norm_exp, length)
        all_states = int(dut.quant.value)
        for k, want in enumerate(states):
            if want is None:
                continue
            state = all_states >> (k * QUANT.size)
            inv = field(QUANT, "inv_sqrt", state)
            got_state = (field(QUANT, "peak", state), inv & ((1 << fmt.SFLOAT_MANT_BITS) - 1),
                         field(SFLOAT, "e", inv), field(QUANT, "norm_exp", state), field(QUANT, "length", state))
            assert got_state == want, f"{label}: slot {k}'s state {got_state}, expected {want}"
    coverage.finish()
