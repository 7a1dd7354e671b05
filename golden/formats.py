"""Every number format of the hardware, defined once.

The hardware-exact golden model, the model compiler, the RTL generators and the tests import these
constants; docs/numerics.md explains them. Changing a value here changes all of them together.
"""

# --- Vectors: activations, residual stream, recurrent state, gates, logits -------------------------
ACT_BITS = 32           # signed two's complement word in the scratchpads
ACT_FRAC = 16           # Q15.16: value = word / 2**16, range [-32768, 32768), step 1.5e-5
ACT_ONE = 1 << ACT_FRAC
ACT_MAX = (1 << (ACT_BITS - 1)) - 1
ACT_MIN = -(1 << (ACT_BITS - 1))

# --- Multipliers ------------------------------------------------------------------------------------
# ECP5 MULT18X18D: every multiplier operand is at most 18 bits signed. A 32-bit vector word times an
# 18-bit operand is two such products (low 17 bits unsigned, high 15 bits signed), summed exactly.
MUL_BITS = 18
MANT_BITS = MUL_BITS    # block-normalised mantissas: signed, |m| <= 2**17 - 1 (ties may reach -2**17)

# --- Ternary matrix-vector -------------------------------------------------------------------------
INT8_MIN, INT8_MAX = -128, 127      # quantised activations
MAX_ROW_LENGTH = 1 << 16            # longest supported matrix row (in_features); 2.7B needs 6912
# The widest ternary engine (hw.ternary_engine lanes; the HBM projection's 8,192, bitstreams.projection): its
# 2-bit beat, 2,048 bytes, is the image reader's widest word.
MAX_ENGINE_LANES = 8192


def accumulator_bits(row_length: int = MAX_ROW_LENGTH) -> int:
    """Signed accumulator width with no overflow: |sum| <= 128 * row_length."""
    return (128 * row_length).bit_length() + 1


# --- Per-vector scalars ("scalar float") ------------------------------------------------------------
# Scale factors (1/sqrt, BitLinear rescale, constants) are positive reals held as m * 2**e with an
# unsigned 17-bit mantissa normalised to [2**16, 2**17) so that it is a non-negative 18-bit signed
# DSP operand, and a signed exponent (stored ones, in the image, are signed bytes). Zero is m = 0.
SFLOAT_MANT_BITS = 17
SFLOAT_EXP_BITS = 10                # exponent registers inside the hardware (stored exponents: bytes)

# Sum of squares of a block-normalised vector (|m| <= 2**17, up to MAX_ROW_LENGTH of them) plus the
# RMSNorm epsilon term (< 2**32): the radicand of the reciprocal square root.
SUM_SQUARES_BITS = (MAX_ROW_LENGTH * (1 << 2 * (MANT_BITS - 1)) + (1 << 32)).bit_length()

# --- Non-linearities ---------------------------------------------------------------------------------
# sigmoid(x) for x >= 0 by linear interpolation in a table of SIGMOID_SEGMENTS + 1 points over
# [0, SIGMOID_RANGE); sigmoid(-x) = 1 - sigmoid(x); 1 beyond the range. Entries are Q0.16 (17 bits).
SIGMOID_RANGE = 16
SIGMOID_SEGMENT_SHIFT = 11          # a segment is 2**11 ACT steps = 1/32 wide: error < 1 LSB of Q0.16
SIGMOID_SEGMENTS = SIGMOID_RANGE << (ACT_FRAC - SIGMOID_SEGMENT_SHIFT)      # 512

# --- Stored parameters -------------------------------------------------------------------------------
NORM_WEIGHT_MANT_BITS = MANT_BITS   # RMSNorm weights: signed 18-bit mantissas, one exponent per vector
EMBED_MANT_BITS = 16                # embedding rows: signed 16-bit mantissas, one exponent per row
EXP_MIN, EXP_MAX = -128, 127        # every stored exponent is a signed byte
