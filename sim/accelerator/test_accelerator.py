"""pytest entry of the end-to-end accelerator test (a compiled tiny model generating tokens)."""

import pytest

from golden.config import preset
from golden.packing import TritFormat
from sim.accelerator.harness import run_model

CASES = [("tiny", 3, TritFormat.TRITS_2BIT, "sdram", 16),
         ("tiny-odd", 5, TritFormat.TRITS_BASE3, "ddr", 15)]     # sizes not multiples of LANES


@pytest.mark.parametrize("name, seed, trit_format, memory, lanes", CASES,
                         ids=[f"{c[0]}-{c[2].name}-{c[3]}" for c in CASES])
def test_model_generates_bit_exactly(name, seed, trit_format, memory, lanes):
    run_model(preset(name), seed=seed, trit_format=trit_format, memory=memory, lanes=lanes,
              build_name=f"accelerator_{name}_{trit_format.name}_{memory}", env={"TOKENS": "3"})
