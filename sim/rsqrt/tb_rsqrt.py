"""cocotb testbench of ReciprocalSqrt against golden.fixedpoint.sf_rsqrt.

Protocol checked: a request is taken when the unit is idle; the response is offered exactly LATENCY
cycles later and held (with its payload) until taken; random delays on `response.ready`. Radicands:
log-uniform over the whole SUM_SQUARES_BITS range, and the edges (1, 2, 3, powers of two and their
neighbours, odd and even bit lengths, the largest value).
"""

import os
import random

import cocotb

from golden import formats as fmt
from golden.fixedpoint import sf_rsqrt
from hw.rsqrt import ReciprocalSqrt
from sim.clocking import command_until_done, start_and_reset
from sim.coverage import Coverage

M_BITS = fmt.SFLOAT_MANT_BITS
TOP = (1 << fmt.SUM_SQUARES_BITS) - 1
COVERAGE = {
    "radicand 1": "the least radicand (the largest result)", "largest radicand": f"2**{fmt.SUM_SQUARES_BITS} - 1",
    "odd bit length": "a radicand of odd bit length (shifted by an odd amount before the root: an even total)",
    "even bit length": "a radicand of even bit length",
    "power of four": "an exact square root (the division's remainder path with an exact quotient)",
    "mantissa at its top": "a result mantissa 2**17 - 1", "mantissa at its bottom": "a result mantissa 2**16",
}


def radicands(rng: random.Random, count: int) -> list[int]:
    top = (1 << fmt.SUM_SQUARES_BITS) - 1
    edges = [1, 2, 3, 4, 5, top, top - 1]
    for bit in range(1, fmt.SUM_SQUARES_BITS):
        edges += [1 << bit, (1 << bit) - 1, (1 << bit) + 1]
    randoms = [rng.randrange(1 << (b - 1), 1 << b) for b in (rng.randint(1, fmt.SUM_SQUARES_BITS) for _ in range(count))]
    # Just above a power of four the result's mantissa is at its top, 2**17 - 1 (the largest quotient): the
    # least such radicand above 4**k for a few k (random radicands almost never land there).
    largest_quotient = [next(4 ** k + d for d in range(1, 1 << 12) if sf_rsqrt(4 ** k + d).m == (1 << M_BITS) - 1)
                        for k in range(8, 13)]
    return [v for v in edges if v <= top] + largest_quotient + randoms


@cocotb.test()
async def rsqrt_matches_golden(dut):
    await start_and_reset(dut, low=("request__valid", "response__ready"))
    rng = random.Random(int(os.environ.get("SEED", "7")))
    coverage = Coverage("rsqrt", COVERAGE)
    for value in radicands(rng, int(os.environ.get("COUNT", "600"))):
        cycles, offers = [0], []                     # cycles since the request; (cycle, payload) offered

        def sample(ready):
            if dut.response__valid.value == 1:
                offers.append((cycles[0], int(dut.response__payload.value)))
            cycles[0] += 1

        await command_until_done(dut, value, rng, max_cycles=4 * ReciprocalSqrt.LATENCY, cmd="request",
                                 done="response", sample=sample)
        first_offer, payload = offers[0]
        assert all(p == payload for _, p in offers), "response payload changed while offered"
        assert first_offer == ReciprocalSqrt.LATENCY, f"response after {first_offer} busy cycles"
        m = payload & ((1 << M_BITS) - 1)
        e = payload >> M_BITS
        e -= (e >> (fmt.SFLOAT_EXP_BITS - 1)) << fmt.SFLOAT_EXP_BITS
        want = sf_rsqrt(value)
        assert (m, e) == (want.m, want.e), f"rsqrt({value}): got ({m}, {e}), want {tuple(want)}"
        coverage.hit("radicand 1", value == 1)
        coverage.hit("largest radicand", value == TOP)
        coverage.hit("odd bit length", value.bit_length() % 2)
        coverage.hit("even bit length", value.bit_length() % 2 == 0)
        coverage.hit("power of four", value & (value - 1) == 0 and (value.bit_length() - 1) % 2 == 0)
        coverage.hit("mantissa at its top", want.m == (1 << M_BITS) - 1)
        coverage.hit("mantissa at its bottom", want.m == 1 << (M_BITS - 1))
    coverage.finish()
