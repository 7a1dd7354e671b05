"""pytest entry of the end-to-end accelerator test (a compiled model generating tokens, bit-exact).

The configurations of the datapath: (engine lanes L, vector width V) against the memory they serve. The
engine needs slack over the memory (B bytes a cycle bring 4 B trits 2-bit, 5 B base-3); V divides L.
The default run: the ULX3S-like SDRAM build and a DDR build with V = 8 on odd sizes (not multiples of
V or L), and a DDR-class build behind the AXI4 port (hw/axi.py) on cocotbext-axi's AxiRam, with and without
random pauses on every AXI channel, and the same build behind LiteDRAM's DDR3 controller and PHY model. The `slow`
tier adds the wide (HBM-like) build at L 512, V 32, and the DDR build in 2-bit.
All but the DDR build compile as the released models run on the DDR3 boards: the recurrent states in external
memory (VLOAD / VSTORE each layer) and the logits in chunks (64 here: several a token, ARGMAXC and a short
last chunk on tiny-odd's 203).
"""

import pytest

from golden.config import preset
from golden.packing import TritFormat
from sim.accelerator.harness import run_batched, run_model

BOARD_PROGRAM = dict(logits_chunk=64, states_in_memory=True)       # how the DDR3 boards run the released models
CASES = [("tiny", 3, TritFormat.TRITS_2BIT, "sdram", 16, 1, BOARD_PROGRAM),
         ("tiny-odd", 5, TritFormat.TRITS_BASE3, "ddr", 120, 8, {})]
SLOW_CASES = [("tiny-odd", 7, TritFormat.TRITS_2BIT, "wide", 512, 32, BOARD_PROGRAM),
              ("tiny", 9, TritFormat.TRITS_2BIT, "ddr", 128, 8, {})]


def _ids(cases):
    return [f"{c[0]}-{c[2].name}-{c[3]}-L{c[4]}-V{c[5]}{'-spill' if c[6] else ''}" for c in cases]


def _run(name, seed, trit_format, memory, lanes, vector_width, program):
    spill = "_spill" if program else ""
    run_model(preset(name), seed=seed, trit_format=trit_format, memory=memory, lanes=lanes, vector_width=vector_width,
              build_name=f"accelerator_{name}_{trit_format.name}_{memory}_L{lanes}_V{vector_width}{spill}",
              env={"TOKENS": "3"}, **program)


@pytest.mark.parametrize("name, seed, trit_format, memory, lanes, vector_width, program", CASES, ids=_ids(CASES))
def test_model_generates_bit_exactly(name, seed, trit_format, memory, lanes, vector_width, program):
    _run(name, seed, trit_format, memory, lanes, vector_width, program)


@pytest.mark.slow
@pytest.mark.parametrize("name, seed, trit_format, memory, lanes, vector_width, program", SLOW_CASES,
                         ids=_ids(SLOW_CASES))
def test_wide_configurations_generate_bit_exactly(name, seed, trit_format, memory, lanes, vector_width, program):
    _run(name, seed, trit_format, memory, lanes, vector_width, program)


@pytest.mark.parametrize("axi_pause", [0.0, 0.3], ids=["unpaused", "paused"])
def test_model_generates_bit_exactly_through_axi(axi_pause):
    """The same checks through hw.axi.AXI4MemoryPort and AxiRam (one build for both runs); with pauses the
    cycles are not compared with the ISS (see tb_accelerator). VSTORE's states go out a word a write (an HBM
    build's AXI port; the byte writes of the boards' go through LiteDRAM below)."""
    run_model(preset("tiny"), seed=3, trit_format=TritFormat.TRITS_2BIT, memory="axi_ram", lanes=64, vector_width=4,
              build_name="accelerator_tiny_TRITS_2BIT_axi_L64_V4_spill_w4", env={"TOKENS": "3"}, memory_port="axi",
              axi_pause=axi_pause, write_bytes=4, **BOARD_PROGRAM)


def test_model_generates_bit_exactly_through_litedram():
    """Through hw.axi to LiteDRAM's DDR3 controller with its PHY model at the ECP5's 1:2 (ECPIX-5's part and
    clock, sim/litedram/): the controller a board runs, the DRAM a model preloaded with the image."""
    run_model(preset("tiny"), seed=3, trit_format=TritFormat.TRITS_2BIT, memory="ddr3_ecpix5", lanes=64,
              vector_width=4, build_name="accelerator_tiny_TRITS_2BIT_litedram_L64_V4_spill", env={"TOKENS": "3"},
              memory_port="litedram", **BOARD_PROGRAM)


@pytest.mark.parametrize("batch, parallel", [(2, False), (3, True), pytest.param(4, False, marks=pytest.mark.slow)],
                         ids=["B2", "B3-parallel", "B4"])
def test_batched_program_is_bit_exact(batch, parallel):
    """The batched serving program (assembler.batch_compiler) on a build of batch B: prefill of prompts of 1, B-1,
    B, B+1 tokens and decode steps of every slot, bit-exact vs the ISS and the golden model (sim/accelerator/tb_batch.py).
    B 2: the 256-token head in chunks of 64, each slot searched into its own A slot (the released models' way).
    B 3 parallel: the slots side by side (three adder trees, the MATVEC unit's gather) behind a 16-byte DDR, where
    the engine, not memory, bounds a step, and the states' VSTOREs a word a write (the HBM projection's build)."""
    # B 4 on the memory-bound system of bench/batching.py (L 64 on 2 B/cycle: a beat's 16 bytes take 8 cycles)
    lanes, vector_width, memory = {2: (16, 1, "sdram"), 3: (16, 4, "ddr"), 4: (64, 1, "sdram")}[batch]
    run_batched(preset("tiny"), seed=3, batch=batch, trit_format=TritFormat.TRITS_2BIT, memory=memory, lanes=lanes,
                vector_width=vector_width, parallel=parallel, write_bytes=4 if parallel else 1,
                build_name=f"accelerator_tiny_TRITS_2BIT_{memory}_L{lanes}_V{vector_width}_B{batch}"
                + ("_parallel" if parallel else ""),
                logits_chunk=64 if batch == 2 else None,
                # The host always ready: a step's first EMBEDs follow its RECVs straight after the PREFETCHes, and a
                # host wait there (not counted by the cost model) lets the stream run ahead of the ISS's estimate.
                env={"HOST_RATE": "1.0"})
