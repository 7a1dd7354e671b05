"""The instruction-level simulator running compiled programs, against the hardware-exact golden model."""

import numpy as np
import pytest

from assembler.asm import assemble
from assembler.compiler import compile_model
from assembler.isa import ErrorCode
from assembler.iss import CostModel, InstructionSetSimulator, IssError, decode_step_counters
from golden.config import preset
from golden.hwexact import HardwareExactModel
from golden.image import SectionKind, image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model

CASES = [("tiny", 0, TritFormat.TRITS_BASE3), ("tiny", 5, TritFormat.TRITS_2BIT),
         ("tiny-odd", 1, TritFormat.TRITS_BASE3), ("tiny-odd", 2, TritFormat.TRITS_2BIT),
         ("tiny-expand", 3, TritFormat.TRITS_BASE3), ("tiny-expand", 4, TritFormat.TRITS_2BIT)]


def _setup(name, seed, packing, emit_logits=True):
    qmodel = quantize_model(random_model(preset(name), seed=seed))
    image = image_bytes(qmodel, packing)
    info = parse_header(image)
    compiled = compile_model(info, emit_logits=emit_logits)
    return qmodel, image, info, compiled


@pytest.mark.parametrize("name, seed, packing", CASES, ids=[f"{n}-s{s}-{p.name}" for n, s, p in CASES])
def test_iss_matches_hardware_exact_model_on_every_token_logit_and_state(name, seed, packing):
    qmodel, image, info, compiled = _setup(name, seed, packing)
    vocab = info.config.vocab_size
    rng = np.random.default_rng(seed)
    golden = HardwareExactModel(qmodel)
    iss = InstructionSetSimulator(compiled.program.instructions, image, info.trit_format)
    for request in range(2):                      # the second request must start from the zero state again
        prompt = [int(t) for t in rng.integers(0, vocab, size=3 + request)]
        generate = 5
        iss.host_out.clear()
        iss.vectors_out.clear()
        iss.send(len(prompt), generate, *prompt)
        assert iss.run() == "waiting"
        tokens = golden.generate(prompt, generate)
        assert iss.host_out == tokens
        sequence = prompt + tokens[:-1]
        logits = golden.logits_for(sequence)[len(prompt) - 1:]
        assert len(iss.vectors_out) == generate
        for got, want in zip(iss.vectors_out, logits):
            np.testing.assert_array_equal(got, want)
        # The recurrent state after the last step, layer by layer.
        state = golden.initial_state()
        for token in sequence:
            _, state = golden.step(token, state)
        for layer, address in enumerate(compiled.state_addresses):
            np.testing.assert_array_equal(iss.vmem[address:address + info.config.inner_size], state[layer],
                                          err_msg=f"layer {layer} state")


def test_prefill_only_request_sends_nothing_and_an_empty_prompt_is_ignored():
    _, image, info, compiled = _setup("tiny", 0, TritFormat.TRITS_BASE3, emit_logits=False)
    iss = InstructionSetSimulator(compiled.program.instructions, image, info.trit_format)
    iss.send(0, 3)                                 # empty prompt: back to waiting, nothing generated
    assert iss.run() == "waiting" and iss.host_out == []
    iss.send(2, 0, 7, 9)
    assert iss.run() == "waiting" and iss.host_out == [] and iss.vectors_out == []


def _run_until_error(program_text, image=b"", packing=TritFormat.TRITS_2BIT, host=()):
    iss = InstructionSetSimulator(assemble(program_text).instructions, image, packing)
    iss.send(*host)
    with pytest.raises(IssError) as info:
        iss.run()
    return info.value


def test_token_outside_the_vocabulary_stops_with_bad_token():
    _, image, info, compiled = _setup("tiny", 0, TritFormat.TRITS_BASE3)
    iss = InstructionSetSimulator(compiled.program.instructions, image, info.trit_format)
    iss.send(1, 0, info.config.vocab_size)
    with pytest.raises(IssError) as error:
        iss.run()
    assert error.value.code is ErrorCode.BAD_TOKEN


def test_corrupt_trit_byte_stops_with_bad_trits():
    _, image, info, compiled = _setup("tiny", 0, TritFormat.TRITS_BASE3)
    trits = next(s for s in info.sections if s.kind is SectionKind.TRITS)
    broken = bytearray(image)
    broken[trits.offset + 3] = 250                # >= 243: not a base-3 code
    iss = InstructionSetSimulator(compiled.program.instructions, bytes(broken), info.trit_format)
    iss.send(1, 1, 4)
    with pytest.raises(IssError) as error:
        iss.run()
    assert error.value.code is ErrorCode.BAD_TRITS and str(trits.offset + 3) in str(error.value)


@pytest.mark.parametrize("text, host, code", [
    ("SETLEN 4\nMATVEC 0, 0, 1\n", (), ErrorCode.NO_QUANT),
    ("SETLEN 8\nVLOAD 0, 0x10\n", (), ErrorCode.IMAGE_OUT_OF_RANGE),
    ("SETLEN 65535\nVZERO 262140\n", (), ErrorCode.VMEM_OUT_OF_RANGE),
    ("JMP 5\n", (), ErrorCode.PC_OUT_OF_RANGE),
    ("LI r1, 1\nADDI r1, r1, 1\n", (), ErrorCode.PC_OUT_OF_RANGE),
])
def test_program_errors_stop_with_their_code(text, host, code):
    error = _run_until_error(text, image=bytes(32), host=host)
    assert error.code is code


def test_cost_model_memory_bound_and_compute_bound_limits():
    _, image, info, compiled = _setup("tiny-odd", 1, TritFormat.TRITS_BASE3)
    program = compiled.program.instructions
    cycles = [decode_step_counters(program, info.trit_format, CostModel(lanes=8, bytes_per_cycle=b)).cycles
              for b in (0.25, 1, 4, 64)]
    assert cycles == sorted(cycles, reverse=True) and cycles[0] > cycles[-1]     # more bandwidth never slower
    slow = decode_step_counters(program, info.trit_format, CostModel(lanes=8, bytes_per_cycle=0.25))
    assert slow.cycles >= slow.bytes_read / 0.25                               # never beats the memory roofline
    lanes = [decode_step_counters(program, info.trit_format, CostModel(lanes=l, bytes_per_cycle=64)).engine_cycles
             for l in (4, 8, 16)]
    assert lanes == sorted(lanes, reverse=True)
    # Data-free (layout) runs count the same cycles and bytes as runs on the weights.
    with_data = decode_step_counters(program, info.trit_format, CostModel(), image=image)
    without = decode_step_counters(program, info.trit_format, CostModel())
    assert (with_data.cycles, with_data.bytes_read) == (without.cycles, without.bytes_read)
