"""`ReciprocalSqrt`: 1/sqrt of a sum of squares as a scalar float, with no multiplier.

Bit for bit golden.fixedpoint.sf_rsqrt (exponent 0), step by step:

    normalise   shift the radicand by an even amount into [2**36, 2**38) (floor when shifting right)
    isqrt       digit by digit, one result bit per cycle: q in [2**18, 2**19)            19 cycles
    divide      2**38 // q by restoring division, one quotient bit per cycle              21 cycles
    normalise   round the 20/21-bit quotient to a 17-bit mantissa (half away), exponent

Protocol: one `request` (the radicand, unsigned SUM_SQUARES_BITS, must be positive: the RMSNorm
epsilon term keeps it so) at a time; its `response` {m, e} is offered LATENCY cycles later and
held until taken; the next request is taken only after that. RMSNorm, QUANT and the BitLinear rescale
each need one per vector, so a sequential unit costs ~1 % of a vector pass at the model sizes.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import formats as fmt
from golden.fixedpoint import RSQRT_DIVIDEND_SHIFT, RSQRT_RADICAND_BITS

ROOT_BITS = (RSQRT_RADICAND_BITS + 1) // 2              # 19: the root of a [2**36, 2**38) radicand
QUOTIENT_BITS = RSQRT_DIVIDEND_SHIFT - (ROOT_BITS - 1) + 1   # 21: 2**38 // q for q >= 2**18


class SFloatLayout(data.StructLayout):
    """A scalar float in the hardware: m * 2**e, m unsigned 17 bits (0 or normalised), e signed."""

    def __init__(self):
        super().__init__({"m": unsigned(fmt.SFLOAT_MANT_BITS), "e": signed(fmt.SFLOAT_EXP_BITS)})


class ReciprocalSqrt(wiring.Component):
    """Ports
    request: stream of unsigned(SUM_SQUARES_BITS), the positive radicand.
    response: stream of SFloatLayout, 1/sqrt(radicand).
    """

    # busy cycles between request and response: LEADING_ONE, SHIFT, NORMALISE, ROOT, DIVIDE_START, DIVIDE, ROUND
    LATENCY = 1 + 1 + 1 + ROOT_BITS + 1 + QUOTIENT_BITS + 1

    def __init__(self):
        super().__init__({
            "request": In(stream.Signature(unsigned(fmt.SUM_SQUARES_BITS))),
            "response": Out(stream.Signature(SFloatLayout())),
        })

    def elaborate(self, platform):
        m = Module()
        value = Signal(fmt.SUM_SQUARES_BITS)
        shift = Signal(signed(8))                        # even left shift into [2**36, 2**38)
        radicand = Signal(RSQRT_RADICAND_BITS + 1)
        remainder = Signal(ROOT_BITS + 2)
        root = Signal(ROOT_BITS)
        step = Signal(range(QUOTIENT_BITS + 1))
        divisor = Signal(ROOT_BITS)
        partial = Signal(ROOT_BITS + 1)                  # division remainder (< 2 q)
        quotient = Signal(QUOTIENT_BITS)

        # Leading one of the registered request (a priority encoder): shift = 37 - bit_length, even.
        bit_length = Signal(range(fmt.SUM_SQUARES_BITS + 1))
        length = Signal.like(bit_length)                 # ... registered
        for bit in range(fmt.SUM_SQUARES_BITS):
            with m.If(value[bit]):
                m.d.comb += bit_length.eq(bit + 1)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.request.ready.eq(1)
                with m.If(self.request.valid):
                    m.d.sync += value.eq(self.request.payload)
                    m.next = "LEADING_ONE"
            with m.State("LEADING_ONE"):
                m.d.sync += length.eq(bit_length)
                m.next = "SHIFT"
            with m.State("SHIFT"):
                raw = RSQRT_RADICAND_BITS - length
                m.d.sync += shift.eq(raw + raw[0])
                m.next = "NORMALISE"
            with m.State("NORMALISE"):
                m.d.sync += [radicand.eq(Mux(shift[-1], value >> (-shift)[:6], value << shift[:6])),
                             remainder.eq(0), root.eq(0), step.eq(0)]
                m.next = "ROOT"
            with m.State("ROOT"):
                # Bring down the next two radicand bits; subtract (4 root + 1) when it fits.
                pair = radicand[RSQRT_RADICAND_BITS - 1:RSQRT_RADICAND_BITS + 1]
                brought = Cat(pair, remainder)
                trial = Cat(Const(1, 1), Const(0, 1), root)     # 4 root + 1
                fits = brought >= trial
                m.d.sync += [remainder.eq(Mux(fits, brought - trial, brought)), root.eq(Cat(fits, root)),
                             radicand.eq(radicand << 2), step.eq(step + 1)]
                with m.If(step == ROOT_BITS - 1):
                    m.d.sync += step.eq(0)
                    m.next = "DIVIDE_START"
            with m.State("DIVIDE_START"):
                # 2**38 // q: the quotient has QUOTIENT_BITS bits; the dividend's one is its only set bit.
                m.d.sync += [divisor.eq(root), partial.eq(1 << (RSQRT_DIVIDEND_SHIFT - QUOTIENT_BITS)),
                             quotient.eq(0)]
                m.next = "DIVIDE"
            with m.State("DIVIDE"):
                doubled = partial << 1
                fits = doubled >= divisor
                m.d.sync += [partial.eq(Mux(fits, doubled - divisor, doubled)), quotient.eq(Cat(fits, quotient)),
                             step.eq(step + 1)]
                with m.If(step == QUOTIENT_BITS - 1):
                    m.next = "ROUND"
            with m.State("ROUND"):
                # sf_normalize(quotient, shift / 2 - 38): keep 17 significant bits, round half up (positive).
                top = quotient[-1]                         # 21 significant bits, else 20
                drop = Mux(top, QUOTIENT_BITS - fmt.SFLOAT_MANT_BITS, QUOTIENT_BITS - 1 - fmt.SFLOAT_MANT_BITS)
                rounded = (quotient + (1 << drop >> 1)) >> drop
                carry = rounded[fmt.SFLOAT_MANT_BITS]
                exponent = (shift >> 1) - RSQRT_DIVIDEND_SHIFT + drop + carry
                m.d.sync += [self.response.payload.m.eq(Mux(carry, rounded >> 1, rounded)),
                             self.response.payload.e.eq(exponent)]
                m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.response.valid.eq(1)
                with m.If(self.response.ready):
                    m.next = "IDLE"
        return m
