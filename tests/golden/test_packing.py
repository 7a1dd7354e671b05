import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from golden.errors import PackingError
from golden.packing import TritFormat, pack_trits, packed_size, row_bytes, unpack_trits

matrices = st.tuples(st.integers(1, 9), st.integers(1, 41)).flatmap(
    lambda shape: hnp.arrays(np.int8, shape, elements=st.sampled_from([-1, 0, 1])))


@settings(max_examples=200)
@given(matrices, st.sampled_from(list(TritFormat)))
def test_round_trip_any_shape(trits, fmt):
    data = pack_trits(trits, fmt)
    assert len(data) == packed_size(*trits.shape, fmt)
    assert np.array_equal(unpack_trits(data, *trits.shape, fmt), trits)


def test_known_encodings():
    # Stated in the format's definition: 2-bit codes 00/01/11 low trit first; base-3 sum (t+1)*3**k.
    assert pack_trits(np.array([[1, -1, 0, 1]]), TritFormat.TRITS_2BIT) == bytes([0b01_00_11_01])
    assert pack_trits(np.array([[-1, 0, 1, 1, -1]]), TritFormat.TRITS_BASE3) == bytes([0 + 1 * 3 + 2 * 9 + 2 * 27 + 0])
    assert pack_trits(np.array([[1] * 5]), TritFormat.TRITS_BASE3) == bytes([242])


def test_density():
    cols = 5 * 4 * 1000
    assert row_bytes(cols, TritFormat.TRITS_BASE3) * 8 / cols == 1.6
    assert row_bytes(cols, TritFormat.TRITS_2BIT) * 8 / cols == 2.0
    assert row_bytes(7, TritFormat.TRITS_BASE3) == 2 and row_bytes(7, TritFormat.TRITS_2BIT) == 2


def test_rejects_non_trits():
    with pytest.raises(PackingError, match=r"value 2 at \[1, 0\] is not a trit"):
        pack_trits(np.array([[0, 1], [2, 0]]), TritFormat.TRITS_2BIT)


def test_illegal_codes_name_their_offset():
    with pytest.raises(PackingError, match="illegal TRITS_2BIT byte 0x08 at offset 103"):
        unpack_trits(bytes([0, 0, 0, 0b00001000]), 2, 8, TritFormat.TRITS_2BIT, offset=100)
    with pytest.raises(PackingError, match="illegal TRITS_BASE3 byte 0xf3 at offset 1"):
        unpack_trits(bytes([0, 243]), 1, 10, TritFormat.TRITS_BASE3)


def test_nonzero_padding_is_an_error():
    # 3 columns in base-3: trits 3 and 4 of the byte are padding and must be 0 (digit 1).
    legal = pack_trits(np.array([[1, 0, -1]]), TritFormat.TRITS_BASE3)
    with pytest.raises(PackingError, match="non-zero padding trit in row 0"):
        unpack_trits(bytes([legal[0] + 27]), 1, 3, TritFormat.TRITS_BASE3)


def test_wrong_length():
    with pytest.raises(PackingError, match="needs 4 bytes, got 3"):
        unpack_trits(bytes(3), 2, 8, TritFormat.TRITS_2BIT)
