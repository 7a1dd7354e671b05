"""Parameter validation and elaboration of the engine (its behaviour is checked in sim/engine)."""

import pytest
from amaranth.back import verilog

from golden import formats as fmt
from golden.packing import TritFormat
from hw.ternary_engine import TernaryMatVec, base3_decode_table
from mmfree.cli import main


@pytest.mark.parametrize("lanes, trit_format", [(8, TritFormat.TRITS_2BIT), (256, TritFormat.TRITS_2BIT),
                                                (10, TritFormat.TRITS_BASE3), (255, TritFormat.TRITS_BASE3)])
def test_elaborates_across_lane_counts(lanes, trit_format):
    engine = TernaryMatVec(lanes=lanes, trit_format=trit_format, max_cols=6912)
    assert engine.acc_bits == fmt.accumulator_bits(6912) == 21
    assert engine.beat_bytes * trit_format.trits_per_byte == lanes
    assert "module ternary_matvec" in verilog.convert(engine, name="ternary_matvec")


@pytest.mark.parametrize("kwargs, message", [
    ({"lanes": 6}, "multiple of 4"),
    ({"lanes": 12, "trit_format": TritFormat.TRITS_BASE3}, "multiple of 5"),
    ({"lanes": 8196}, "4..8192"),
    ({"lanes": 8, "batch": 1, "parallel": True}, "parallel needs batch > 1"),
    ({"lanes": 8, "batch": 2, "parallel": 1}, "parallel must be a bool"),
    ({"lanes": 8, "max_cols": 0}, "max_cols"),
    ({"lanes": 8, "trit_format": "2bit"}, "TritFormat"),
])
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        TernaryMatVec(**kwargs)


def test_base3_rom_agrees_with_the_packing_format():
    from golden.packing import unpack_trits
    table = base3_decode_table()
    for byte in range(243):
        trits = unpack_trits(bytes([byte]), 1, 5, TritFormat.TRITS_BASE3)[0]
        word = table[byte]
        decoded = [(-1 if word >> (2 * k + 1) & 1 else 1) if word >> (2 * k) & 1 else 0 for k in range(5)]
        assert decoded == trits.tolist() and not word >> 10
    assert all(table[byte] >> 10 for byte in range(243, 256))


def test_rtl_command(tmp_path, capsys):
    assert main(["rtl", "engine", "--lanes", "20", "--format", "base3", "--out", str(tmp_path / "e.v")]) == 0
    assert "module ternary_matvec" in (tmp_path / "e.v").read_text()
    assert main(["rtl", "engine", "--lanes", "7", "--out", str(tmp_path / "bad.v")]) == 2
    assert "multiple of 4" in capsys.readouterr().err
