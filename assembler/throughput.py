"""Prefill and decode cycles of the serving programs at batch B, from the ISS cost model (no weights needed).

    B = 1   the single-request program (assembler.compiler; by default the recurrent states in external memory,
            as the batched program keeps them): a `prompt`-token prefill to its first token, one token a weight pass;
            a decode step (assembler.iss.decode_step_counters), one token.
    B > 1   the batched program (assembler.batch_compiler): ceil(prompt / B) prefill steps of up to B tokens of
            one request, each one weight pass, to the same first token; one decode step, B tokens (B requests).

`bench/batching.py` and `mmfree report` (bitstreams/projection.py) take their derived batching figures from here;
the RTL runs both programs within 0.5 % of these cycles (sim/accelerator, bench/results/batching.txt).
"""

from __future__ import annotations

import dataclasses

from golden.image import ImageInfo

from .batch_compiler import compile_batched
from .compiler import compile_model
from .cost import CostModel
from .iss import InstructionSetSimulator, decode_step_counters


@dataclasses.dataclass(frozen=True)
class BatchCycles:
    batch: int
    prompt: int                 # tokens of the prefilled prompt
    prefill: int                # cycles from the prompt's first word to its first generated token
    decode: int                 # cycles of one decode step, which generates `batch` tokens
    decode_bytes: int           # external-memory bytes a decode step reads
    decode_engine: int          # cycles the ternary engine is busy in a decode step (its compute bound)

    def prefill_tokens_per_s(self, clock_hz: float) -> float:
        return self.prompt * clock_hz / self.prefill

    def decode_tokens_per_s(self, clock_hz: float) -> float:
        """Aggregate: all `batch` requests together."""
        return self.batch * clock_hz / self.decode


def batch_cycles(info: ImageInfo, batch: int, cost: CostModel, *, prompt: int = 64, vmem_words: int | None = None,
                 vector_width: int = 1, states_in_memory: bool = True) -> BatchCycles:
    """The cycles of the module docstring's runs for a build of `batch` Q slots with this cost model (its lanes, V,
    memory); `vmem_words`: the build's VMEM (default: the program's own); `states_in_memory`: where the B = 1
    program keeps the recurrent states (the batched program keeps them in external memory)."""
    if prompt < 1:
        raise ValueError(f"a prompt of {prompt} tokens: at least 1")
    format_ = info.trit_format
    if batch == 1:
        program = compile_model(info, states_in_memory=states_in_memory).program
        iss = InstructionSetSimulator(program.instructions, None, format_, cost=cost,
                                      vmem_words=vmem_words or program.vmem_words, vector_width=vector_width)
        iss.send(prompt, 1, *[0] * prompt)
        assert iss.run() == "waiting"
        step = decode_step_counters(program.instructions, format_, cost)
        return BatchCycles(1, prompt, iss.counters.cycles, step.cycles, step.bytes_read, step.engine_cycles)
    program = compile_batched(info, batch).program
    iss = InstructionSetSimulator(program.instructions, None, format_, cost=cost,
                                  vmem_words=vmem_words or program.vmem_words, vector_width=vector_width, batch=batch)
    for start in range(0, prompt, batch):
        iss.send(min(batch, prompt - start), 0, int(start == 0), *[0] * batch)
        assert iss.run() == "waiting"
    prefill, before, engine = iss.counters.cycles, iss.counters.bytes_read, iss.counters.engine_cycles
    iss.send(0, *[0] * batch)
    assert iss.run() == "waiting"
    return BatchCycles(batch, prompt, prefill, iss.counters.cycles - prefill, iss.counters.bytes_read - before,
                       iss.counters.engine_cycles - engine)
