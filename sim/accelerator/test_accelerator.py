"""pytest entry of the end-to-end accelerator test (a compiled tiny model generating tokens)."""

import pytest

from assembler.compiler import compile_model
from golden.config import preset
from golden.image import image_layout
from golden.packing import TritFormat
from hw.accelerator import Accelerator
from sim.runner import run_cocotb

CASES = [("tiny", 3, TritFormat.TRITS_2BIT, "sdram", 16, 2),
         ("tiny-odd", 5, TritFormat.TRITS_BASE3, "ddr", 15, 16)]     # sizes not multiples of LANES


@pytest.mark.parametrize("name, seed, trit_format, memory, lanes, mem_bytes", CASES,
                         ids=[f"{c[0]}-{c[2].name}-{c[3]}" for c in CASES])
def test_model_generates_bit_exactly(name, seed, trit_format, memory, lanes, mem_bytes):
    config = preset(name)
    compiled = compile_model(image_layout(config, trit_format), emit_logits=True)
    accelerator = Accelerator.for_model(config, program_instructions=len(compiled.program.instructions),
                                        vmem_words=compiled.program.vmem_words, lanes=lanes,
                                        trit_format=trit_format, mem_bytes=mem_bytes)
    program_words, vmem_words = accelerator.program_words, accelerator.vmem_words
    run_cocotb(accelerator, toplevel="accelerator", test_module="sim.accelerator.tb_accelerator",
               build_name=f"accelerator_{name}_{trit_format.name}_{memory}",
               env={"MODEL_PRESET": name, "MODEL_SEED": str(seed), "FORMAT": trit_format.name, "MEMORY": memory,
                    "PROGRAM_WORDS": str(program_words), "VMEM_WORDS": str(vmem_words), "TOKENS": "3"})
