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

# (preset, seed, packing, logits chunk: None = as many as the scratch holds; 64 splits every vocabulary here,
# tiny-odd's 203 into 64 + 64 + 64 + 11, so ARGMAXC's running best and a short last chunk are exercised).
CASES = [("tiny", 0, TritFormat.TRITS_BASE3, None), ("tiny", 5, TritFormat.TRITS_2BIT, 64),
         ("tiny-odd", 1, TritFormat.TRITS_BASE3, 64), ("tiny-odd", 2, TritFormat.TRITS_2BIT, None),
         ("tiny-expand", 3, TritFormat.TRITS_BASE3, None), ("tiny-expand", 4, TritFormat.TRITS_2BIT, 64)]


def _setup(name, seed, packing, emit_logits=True, logits_chunk=None):
    qmodel = quantize_model(random_model(preset(name), seed=seed))
    image = image_bytes(qmodel, packing)
    info = parse_header(image)
    compiled = compile_model(info, emit_logits=emit_logits, logits_chunk=logits_chunk)
    return qmodel, image, info, compiled


@pytest.mark.parametrize("name, seed, packing, chunk", CASES, ids=[f"{n}-s{s}-{p.name}-c{c}" for n, s, p, c in CASES])
def test_iss_matches_hardware_exact_model_on_every_token_logit_and_state(name, seed, packing, chunk):
    qmodel, image, info, compiled = _setup(name, seed, packing, logits_chunk=chunk)
    chunks = -(-info.config.vocab_size // compiled.logits_chunk)
    assert chunk is None or chunks > 1
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
        assert len(iss.vectors_out) == generate * chunks          # one SENDV a chunk
        for token in range(generate):
            got = np.concatenate(iss.vectors_out[token * chunks:(token + 1) * chunks])
            np.testing.assert_array_equal(got, logits[token])
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


def test_cost_model_slots_in_turn_and_side_by_side():
    """A batch taken in turn costs a pass a slot; side by side (slot_trees = B) one pass for all and the last
    block's drain, a cycle a slot; slots past the trees take another turn."""
    in_turn, side_by_side = CostModel(lanes=16), CostModel(lanes=16, slot_trees=4)
    assert [in_turn.compute(10, 40, s) for s in (0, 1, 4)] == [30, 30, 120]
    assert [side_by_side.compute(10, 40, s) for s in (1, 4, 5, 8)] == [30, 30, 60, 60]
    assert (in_turn.drain(4), side_by_side.drain(4), side_by_side.drain(0)) == (0, 5, 2)
    with pytest.raises(ValueError, match="slot_trees"):
        CostModel(slot_trees=0)


@pytest.mark.parametrize("name, seed, packing", [("tiny-odd", 6, TritFormat.TRITS_BASE3), ("tiny", 7, TritFormat.TRITS_2BIT)])
def test_states_in_the_work_area_give_the_same_tokens_logits_and_states(name, seed, packing):
    """states_in_memory: each layer's state VLOADed from and VSTOREd to external memory past the image."""
    qmodel = quantize_model(random_model(preset(name), seed=seed))
    image = image_bytes(qmodel, packing)
    info = parse_header(image)
    compiled = compile_model(info, emit_logits=True, logits_chunk=64, states_in_memory=True)
    n, layers = info.config.inner_size, info.config.num_hidden_layers
    assert compiled.state_addresses == [] and compiled.state_memory_addresses[0] >= len(image)
    assert compiled.memory_bytes == compiled.state_memory_addresses[-1] + 4 * n
    on_chip = compile_model(info, logits_chunk=64)
    assert compiled.program.vmem_words == on_chip.program.vmem_words - -(-n // 64) * 64 * (layers - 1)
    chunks = -(-info.config.vocab_size // compiled.logits_chunk)
    golden = HardwareExactModel(qmodel)
    iss = InstructionSetSimulator(compiled.program.instructions, image, info.trit_format)
    rng = np.random.default_rng(seed)
    for request in range(2):                       # the second request starts from zero states again
        prompt = [int(t) for t in rng.integers(0, info.config.vocab_size, size=2 + request)]
        iss.host_out.clear()
        iss.vectors_out.clear()
        iss.send(len(prompt), 4, *prompt)
        assert iss.run() == "waiting"
        tokens = golden.generate(prompt, 4)
        assert iss.host_out == tokens
        logits = golden.logits_for(prompt + tokens[:-1])[len(prompt) - 1:]
        for token in range(4):
            np.testing.assert_array_equal(np.concatenate(iss.vectors_out[token * chunks:(token + 1) * chunks]),
                                          logits[token])
        state = golden.initial_state()
        for token in prompt + tokens[:-1]:
            _, state = golden.step(token, state)
        for layer, address in enumerate(compiled.state_memory_addresses):
            stored = [iss.work[address + 4 * j] for j in range(n)]
            np.testing.assert_array_equal(stored, state[layer], err_msg=f"layer {layer} state in memory")
    assert iss.counters.bytes_written > 0


@pytest.mark.parametrize("program, code", [
    ("SETLEN 4\nVSTORE 0, 0x0\nHALT", ErrorCode.IMAGE_OUT_OF_RANGE),             # into the image
    ("SETLEN 4\nVSTORE 0, 0xfffffff0\nHALT", None),                              # the address space's last 16 bytes
    ("SETLEN 4\nVSTORE 0, 0xfffffff4\nHALT", ErrorCode.IMAGE_OUT_OF_RANGE),      # beyond the address space
    ("SETLEN 4\nVLOAD 0, 0x3c\nHALT", ErrorCode.IMAGE_OUT_OF_RANGE),             # straddles the image's end
    ("SETLEN 4\nVLOAD 0, 0x40\nHALT", None),                                     # the work area, never written: 0
    ("SETLEN 4\nVSTORE 4096, 0x40\nHALT", ErrorCode.VMEM_OUT_OF_RANGE),
])
def test_the_work_area_starts_at_the_image_end_and_ends_with_the_address_space(program, code):
    iss = InstructionSetSimulator(assemble(program).instructions, bytes(0x40), TritFormat.TRITS_2BIT, vmem_words=4096)
    if code is None:
        assert iss.run() == "halted"
        np.testing.assert_array_equal(iss.vmem[:4], 0)
    else:
        with pytest.raises(IssError) as info:
            iss.run()
        assert info.value.code is code
