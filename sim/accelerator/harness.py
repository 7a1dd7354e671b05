"""Runs the end-to-end testbench (tb_accelerator) on an accelerator sized for a model: shared by the
pytest entry and bench/decode_roofline.py."""

from __future__ import annotations

import dataclasses
import json

from assembler.compiler import compile_model
from golden.config import HGRNBitConfig
from golden.image import image_layout
from golden.packing import TritFormat
from hw.accelerator import Accelerator
from sim.memory_model import MEMORIES
from sim.runner import run_cocotb


def accelerator_for(config: HGRNBitConfig, compiled, *, trit_format: TritFormat, memory: str, lanes: int,
                    vector_width: int, prefetch_bytes: int) -> Accelerator:
    """The accelerator of the testbench: Accelerator.for_model for `config` and its compiled program."""
    return Accelerator.for_model(config, program_instructions=len(compiled.program.instructions),
                                 vmem_words=compiled.program.vmem_words, lanes=lanes, trit_format=trit_format,
                                 mem_bytes=MEMORIES[memory].mem_bytes, vector_width=vector_width,
                                 prefetch_bytes=prefetch_bytes)


def run_model(config: HGRNBitConfig, *, seed: int, trit_format: TritFormat, memory: str, lanes: int,
              build_name: str, vector_width: int = 1, prefetch_bytes: int = 4096, emit_logits: bool = True,
              env: dict[str, str] | None = None, extra_build_args: tuple[str, ...] = (), log_file=None):
    """Build the accelerator for `config` (Accelerator.for_model) behind the memory preset `memory`
    (sim.memory_model.MEMORIES) and run the testbench on a random model of that shape."""
    compiled = compile_model(image_layout(config, trit_format), emit_logits=emit_logits)
    accelerator = accelerator_for(config, compiled, trit_format=trit_format, memory=memory, lanes=lanes,
                                  vector_width=vector_width, prefetch_bytes=prefetch_bytes)
    return run_cocotb(accelerator, toplevel="accelerator", test_module="sim.accelerator.tb_accelerator",
                      build_name=build_name,
                      env={"MODEL_CONFIG": json.dumps(dataclasses.asdict(config)), "MODEL_SEED": str(seed),
                           "FORMAT": trit_format.name, "MEMORY": memory, "LANES": str(lanes),
                           "VECTOR_WIDTH": str(vector_width), "PREFETCH_BYTES": str(prefetch_bytes),
                           "EMIT_LOGITS": str(int(emit_logits)), **(env or {})},
                      extra_build_args=extra_build_args, log_file=log_file)
