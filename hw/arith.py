"""Combinational arithmetic shared by the units, each the hardware form of a golden.fixedpoint function."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, Value, signed, unsigned

from golden import formats as fmt


def saturate(value, bits: int):
    """golden.fixedpoint.saturate: clamp to the signed range of `bits` bits."""
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return Mux(value > high, high, Mux(value < low, low, value))


class ShiftControl:
    """What golden.fixedpoint.round_shift needs of a signed shift, registered: the shift is fixed for a
    whole vector, so deriving these once keeps compare, clamp and the rounding constant off the data path.
    right: clamped right shift (when is_right); half: 2**(right - 1); left: clamped left shift.
    STAGES: its registers, so the fields follow `shift` that many cycles later."""

    STAGES = 1

    def __init__(self, m: Module, shift, *, width: int, max_left: int, name: str, load=None):
        """Registered from `shift` every cycle, or only in cycles where `load` is high."""
        self.width, self.max_left = width, max_left
        self.is_right = Signal(name=f"{name}_is_right")
        self.right = Signal(range(width + 2), name=f"{name}_right")
        self.half = Signal(width + 1, name=f"{name}_half")
        self.left = Signal(range(max_left + 1), name=f"{name}_left")
        right = Signal(range(width + 2), name=f"{name}_right_next")
        m.d.comb += right.eq(Mux(shift > width, width + 1, Mux(shift > 0, shift, 0)))
        with m.If(Const(1) if load is None else load):
            m.d.sync += [self.is_right.eq(shift > 0), self.right.eq(right), self.half.eq((Const(1, 1) << right) >> 1),
                         self.left.eq(Mux(-shift > max_left, max_left, -shift))]


def round_shift(m: Module, value, control: ShiftControl, *, name: str):
    """golden.fixedpoint.round_shift by a registered ShiftControl: right (rounded half away from zero) when
    the shift is > 0, exact left shift by at most max_left bits otherwise (callers saturate afterwards)."""
    assert len(value) <= control.width, "the ShiftControl was made for narrower values"
    out = Signal(signed(len(value) + control.max_left + 1), name=name)
    with m.If(control.is_right):
        m.d.comb += out.eq((value + control.half - value[-1]) >> control.right)
    with m.Else():
        m.d.comb += out.eq(value << control.left)
    return out


# Registers of round_shift_unsigned_registered: its result follows its inputs this many cycles later.
ROUND_SHIFT_UNSIGNED_STAGES = ShiftControl.STAGES + 2


def round_shift_unsigned_registered(m: Module, value, shift, *, name: str) -> Signal:
    """golden.fixedpoint.round_shift of an unsigned `value` by an unsigned `shift` (0: unchanged), in
    ROUND_SHIFT_UNSIGNED_STAGES registered steps so that no step holds more than one carry chain or
    barrel shifter: (1) the shift's ShiftControl, beside the value; (2) value plus half; (3) the shift.
    Both inputs may change every cycle; the result (len(value) bits, unsigned) follows them."""
    width = len(value)
    control = ShiftControl(m, shift, width=width + 1, max_left=0, name=f"{name}_shift")
    assert ShiftControl.STAGES == 1, "the value waits one register beside the ShiftControl"
    value_1 = Signal(width, name=f"{name}_value")
    with_half = Signal(width + 2, name=f"{name}_with_half")
    right = Signal.like(control.right, name=f"{name}_right_2")
    out = Signal(width, name=name)
    m.d.sync += [value_1.eq(value),
                 with_half.eq(value_1 + Mux(control.is_right, control.half, 0)),
                 right.eq(Mux(control.is_right, control.right, 0)),
                 out.eq(with_half >> right)]
    return out


def bit_length(m: Module, value, name: str):
    """Number of significant bits of an unsigned value (a priority encoder)."""
    out = Signal(range(len(value) + 1), name=name)
    for bit in range(len(value)):
        with m.If(value[bit]):
            m.d.comb += out.eq(bit + 1)
    return out


def block_shift(m: Module, max_abs, name: str, bits: int = fmt.MANT_BITS):
    """golden.fixedpoint.block_shift: right shift bringing max_abs into `bits` signed bits."""
    length = bit_length(m, max_abs, f"{name}_length")
    out = Signal(range(len(max_abs) + 1), name=name)
    m.d.comb += out.eq(Mux(length > bits - 1, length - (bits - 1), 0))
    return out


# Registers of sf_normalize_registered: its (combinational) result follows its inputs this many cycles later.
SF_NORMALIZE_STAGES = 3


def sf_normalize_registered(m: Module, value, exponent, name: str):
    """golden.fixedpoint.sf_normalize of an unsigned value * 2**exponent -> (mantissa, exponent) signals,
    in SF_NORMALIZE_STAGES registered steps so that no step holds more than one wide operation: (1) the
    leading one, (2) the shift amounts from it, (3) the shifts and the rounding bit; the result is the
    rounding increment and its carry, combinational from the third step's registers.

    Rounding half away from zero by `drop` bits is (value >> drop) + bit drop - 1 of value: a value is
    non-negative, so the discarded part reaches one half exactly when that bit is set."""
    width, mant = len(value), fmt.SFLOAT_MANT_BITS
    exponent_shape = Value.cast(exponent).shape()
    # (1) the leading one
    value_1 = Signal.like(value, name=f"{name}_value")
    exponent_1 = Signal(exponent_shape, name=f"{name}_exponent")
    length_1 = Signal(range(width + 1), name=f"{name}_length_r")
    m.d.sync += [value_1.eq(value), exponent_1.eq(exponent), length_1.eq(bit_length(m, value, f"{name}_length"))]
    # (2) how far to shift: right by `drop` (value longer than the mantissa) or left by `lift`
    value_2 = Signal.like(value, name=f"{name}_value_2")
    exponent_2 = Signal(exponent_shape, name=f"{name}_exponent_2")
    drop_2 = Signal(range(width + 1), name=f"{name}_drop")
    lift_2 = Signal(range(mant + 1), name=f"{name}_lift")
    m.d.sync += [value_2.eq(value_1), exponent_2.eq(exponent_1),
                 drop_2.eq(Mux(length_1 > mant, length_1 - mant, 0)),
                 lift_2.eq(Mux(length_1 < mant, mant - length_1, 0))]
    # (3) the shifted value and its rounding bit; values shorter than the mantissa shift left, exactly
    kept_3 = Signal(mant, name=f"{name}_kept")
    round_up_3 = Signal(name=f"{name}_round_up")
    zero_3 = Signal(name=f"{name}_zero")
    exponent_3 = Signal(signed(fmt.SFLOAT_EXP_BITS + 2), name=f"{name}_exponent_3")
    m.d.sync += [kept_3.eq(Mux(lift_2 > 0, value_2 << lift_2, value_2 >> drop_2)),
                 round_up_3.eq(((value_2 << 1) >> drop_2)[0]),      # bit drop - 1; none when drop is 0
                 zero_3.eq(value_2 == 0), exponent_3.eq(exponent_2 + drop_2 - lift_2)]
    rounded = Signal(mant + 1, name=f"{name}_rounded")
    m.d.comb += rounded.eq(kept_3 + round_up_3)
    carry = rounded[mant]                           # rounding carried into a new bit: 2**mant
    mantissa = Signal(mant, name=f"{name}_m")
    out_exponent = Signal(signed(fmt.SFLOAT_EXP_BITS), name=f"{name}_e")
    m.d.comb += [mantissa.eq(Mux(carry, rounded >> 1, rounded)),
                 out_exponent.eq(Mux(zero_3, 0, exponent_3 + carry))]
    return mantissa, out_exponent


def track_max_abs(m: Module, value, issued, peak, name: str) -> None:
    """peak = max(peak, |value|) for a word read the cycle after `issued` (the max pass of a block shift)."""
    valid = Signal(name=f"{name}_valid")
    magnitude = Signal(len(value) + 1, name=f"{name}_abs")
    m.d.sync += valid.eq(issued)
    m.d.comb += magnitude.eq(Mux(value[-1], -value, value))
    with m.If(valid & (magnitude > peak)):
        m.d.sync += peak.eq(magnitude)


def pipelined_tree(m: Module, leaves, combine, *, name: str, levels_per_stage: int = 1):
    """Reduce `leaves` pairwise with combine(a, b) (an odd one out passes a level unchanged), a register
    after every `levels_per_stage` levels and after the last. Returns (result, stages): the result is
    `stages` cycles behind its leaves (0 for a single leaf, which is returned as it is)."""
    if levels_per_stage < 1:
        raise ValueError(f"levels_per_stage must be at least 1, got {levels_per_stage!r}")
    nodes, level, stages = list(leaves), 0, 0
    while len(nodes) > 1:
        paired = [combine(a, b) for a, b in zip(nodes[0::2], nodes[1::2])] + nodes[len(nodes) & ~1:]
        level += 1
        if level % levels_per_stage == 0 or len(paired) == 1:
            registered = []
            for k, node in enumerate(paired):
                reg = Signal(Value.cast(node).shape(), name=f"{name}_l{level}_{k}")
                m.d.sync += reg.eq(node)
                registered.append(reg)
            paired, stages = registered, stages + 1
        nodes = paired
    return nodes[0], stages


def max_of(a, b):
    """The larger of two unsigned values (a pipelined_tree combine)."""
    return Mux(a > b, a, b)


def ceil_div(value, divisor: int):
    """ceil(value / divisor) for an unsigned `value` and a constant divisor >= 1: a shift for a power of two, else
    a multiply by the reciprocal (one DSP) with a shift, exact over value's whole range (checked here): a divider
    of non-power-of-two constants is a chain of subtractors, the slowest path of a base-3 build (5 trits a byte)."""
    value = Value.cast(value)
    if not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor must be a positive int, got {divisor!r}")
    top = (1 << len(value)) - 1 + divisor - 1                     # the largest dividend, value + divisor - 1
    if divisor & (divisor - 1) == 0:
        return (value + divisor - 1) >> (divisor.bit_length() - 1)
    shift = top.bit_length() + divisor.bit_length()
    while True:
        multiplier = -(-(1 << shift) // divisor)
        # m = ceil(2**s / d) gives floor(n m / 2**s) = floor(n / d) for every n < 2**s / (m d - 2**s).
        if (multiplier * divisor - (1 << shift)) * (top + 1) < (1 << shift):
            break
        shift += 1
    return ((value + divisor - 1) * multiplier) >> shift
