"""Fuzz: no input makes the assembler or disassembler crash (bench/fuzz_assembler.py runs longer)."""

from assembler.fuzz import fuzz


def test_fuzz_finds_no_crash():
    stats = fuzz(cases=1500, seed=1)
    assert stats["cases"] == 6000
    # Both outcomes occur for both tools: the fuzzer reaches past the first check.
    for kind in ("binary accepted", "binary rejected", "text accepted", "text rejected"):
        assert stats[kind] > 0, stats
