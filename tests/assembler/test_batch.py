"""The batched serving program (assembler.batch_compiler) on the ISS with B Q slots, against the sequential
hardware-exact golden model: prompts prefilled B tokens a weight pass and requests decoded together give every
token and every recurrent state of the token-by-token model, bit for bit."""

import numpy as np
import pytest

from assembler import isa
from assembler.asm import assemble
from assembler.batch_compiler import compile_batched
from assembler.compiler import CompileError, compile_model
from assembler.isa import ErrorCode
from assembler.iss import InstructionSetSimulator, IssError
from golden.config import preset
from golden.hwexact import HardwareExactModel
from golden.image import image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model


class BatchedSession:
    """The host side of the batched program on the ISS: prefill steps into a request slot, decode steps of all."""

    def __init__(self, name: str, seed: int, batch: int, trit_format=TritFormat.TRITS_2BIT, logits_chunk=None):
        qmodel = quantize_model(random_model(preset(name), seed=seed))
        self.image = image_bytes(qmodel, trit_format)
        self.info = parse_header(self.image)
        self.golden = HardwareExactModel(qmodel)
        self.compiled = compile_batched(self.info, batch, logits_chunk=logits_chunk)
        self.batch = batch
        self.iss = InstructionSetSimulator(self.compiled.program.instructions, self.image, trit_format, batch=batch)

    def _step(self, words: list[int]) -> list[int]:
        self.iss.host_out.clear()
        self.iss.send(*words)
        assert self.iss.run() == "waiting"
        return list(self.iss.host_out)

    def prefill(self, slot: int, tokens: list[int], reset: bool) -> int:
        """Up to B tokens of one request into `slot`; the greedy token after the last."""
        assert 1 <= len(tokens) <= self.batch
        padding = [0] * (self.batch - len(tokens))
        sent = self._step([len(tokens), slot * self.compiled.state_slot_bytes, int(reset), *tokens, *padding])
        assert len(sent) == 1
        return sent[0]

    def decode(self, tokens: list[int]) -> list[int]:
        """One decode step: every slot's token in, every slot's next token out."""
        sent = self._step([0, *tokens])
        assert len(sent) == self.batch
        return sent

    def state(self, slot: int) -> list[np.ndarray]:
        n = self.info.config.inner_size
        base = slot * self.compiled.state_slot_bytes
        return [np.array([self.iss.work.get(base + address + 4 * j, 0) for j in range(n)])
                for address in self.compiled.state_memory_addresses]

    def golden_state(self, tokens: list[int]) -> list[np.ndarray]:
        state = self.golden.initial_state()
        for token in tokens:
            _, state = self.golden.step(token, state)
        return state


def _prefill_all(session: BatchedSession, slot: int, prompt: list[int]) -> int:
    first = None
    for start in range(0, len(prompt), session.batch):
        first = session.prefill(slot, prompt[start:start + session.batch], reset=start == 0)
    return first


@pytest.mark.parametrize("batch, logits_chunk", [(2, None), (4, None), (3, 64)])
def test_prompts_of_every_length_against_the_batch_prefill_like_token_by_token(batch, logits_chunk):
    """logits_chunk 64: the 256-token head in four chunks, each slot searched into its own A slot (as the
    released models' 32,000-token heads are)."""
    session = BatchedSession("tiny", seed=11, batch=batch, logits_chunk=logits_chunk)
    if logits_chunk:        # every chunk after the first: one search a slot (decode), one (prefill)
        assert session.compiled.source.count("ARGMAXC") == (256 // logits_chunk - 1) * (batch + 1)
    rng = np.random.default_rng(batch)
    vocab = session.info.config.vocab_size
    for length in (1, batch - 1, batch, batch + 1, 3 * batch):
        if length < 1:
            continue
        slot = length % batch
        prompt = [int(t) for t in rng.integers(0, vocab, size=length)]
        expected = session.golden.generate(prompt, 3)
        tokens = [_prefill_all(session, slot, prompt)]
        for _ in range(2):                      # decode the slot on: the other slots' tokens do not matter
            step = [int(t) for t in rng.integers(0, vocab, size=batch)]
            step[slot] = tokens[-1]
            tokens.append(session.decode(step)[slot])
        assert tokens == expected, f"prompt of {length}"
        for layer, (got, want) in enumerate(zip(session.state(slot), session.golden_state(prompt + tokens[:-1]))):
            np.testing.assert_array_equal(got, want, err_msg=f"prompt of {length}, layer {layer}")


def test_requests_of_different_lengths_finishing_at_different_times_are_each_exact():
    """Continuous batching: a request enters a free slot (its prompt prefilled) between decode steps and leaves
    when done; every request's tokens and final states are the sequential model's."""
    batch = 3
    session = BatchedSession("tiny-odd", seed=5, batch=batch, trit_format=TritFormat.TRITS_BASE3)
    rng = np.random.default_rng(7)
    vocab = session.info.config.vocab_size
    waiting = [([int(t) for t in rng.integers(0, vocab, size=length)], generate)
               for length, generate in [(5, 4), (1, 6), (3, 1), (7, 3), (2, 5), (4, 2)]]
    active: dict[int, dict] = {}
    finished = []
    while waiting or active:
        for slot in range(batch):                       # admit into free slots
            if slot not in active and waiting:
                prompt, generate = waiting.pop(0)
                active[slot] = {"prompt": prompt, "generate": generate, "tokens": [_prefill_all(session, slot, prompt)]}
        for slot, request in list(active.items()):      # retire finished requests
            if len(request["tokens"]) == request["generate"]:
                finished.append((slot, request, session.state(slot)))
                del active[slot]
        if not active:
            continue
        step = [active[slot]["tokens"][-1] if slot in active else 0 for slot in range(batch)]
        for slot, token in enumerate(session.decode(step)):
            if slot in active:
                active[slot]["tokens"].append(token)
    assert len(finished) == 6
    for slot, request, state in finished:
        prompt, tokens = request["prompt"], request["tokens"]
        assert tokens == session.golden.generate(prompt, request["generate"]), prompt
        for got, want in zip(state, session.golden_state(prompt + tokens[:-1])):
            np.testing.assert_array_equal(got, want)


def test_one_weight_pass_serves_the_batch():
    """A decode step of B slots reads the image bytes of one step, not B."""
    session = BatchedSession("tiny", seed=1, batch=4)
    single = compile_model(session.info, states_in_memory=True)
    one = InstructionSetSimulator(single.program.instructions, session.image, TritFormat.TRITS_2BIT)
    one.send(1, 1, 0)
    assert one.run() == "waiting"
    session.prefill(0, [0], reset=True)
    before = session.iss.counters.bytes_read
    session.decode([0, 0, 0, 0])
    batched_bytes = session.iss.counters.bytes_read - before
    weights = sum(s.length for s in session.info.sections if s.kind.name == "TRITS")
    per_token = one.counters.bytes_read - weights          # norm weights, the embedding row: each slot its own
    assert 0 < per_token < weights
    assert batched_bytes == weights + 4 * per_token


def test_a_slot_beyond_the_build_stops_with_bad_slot():
    program = assemble("SETLEN 4\nQUANT 0, 0x0, 0, 0, 2\nHALT").instructions
    iss = InstructionSetSimulator(program, bytes(64), TritFormat.TRITS_2BIT, vmem_words=4096, batch=2)
    with pytest.raises(IssError) as error:
        iss.run()
    assert error.value.code is ErrorCode.BAD_SLOT
    program = assemble("MATVEC 0, 0x0, 4, 3, 64\nHALT").instructions
    with pytest.raises(IssError) as error:
        InstructionSetSimulator(program, bytes(64), TritFormat.TRITS_2BIT, vmem_words=4096, batch=2).run()
    assert error.value.code is ErrorCode.BAD_SLOT


def test_batches_outside_the_range_are_refused():
    info = parse_header(image_bytes(quantize_model(random_model(preset("tiny"), seed=0)), TritFormat.TRITS_2BIT))
    for batch in (1, isa.MAX_BATCH + 1):
        with pytest.raises(CompileError, match="batch must be"):
            compile_batched(info, batch)
    with pytest.raises(CompileError, match="chunk"):
        compile_batched(info, 2, logits_chunk=isa.VECTOR_ALIGN - 1)


def test_a_released_models_head_is_searched_in_chunks_one_weight_pass_for_the_batch():
    """The 370M's 32,000 logits do not fit a slot's scratch: the decode head's MATVECs cover lm_head once, in
    chunks, each serving all B slots; every slot is searched in its own A slot (the ISS runs it data-free)."""
    from golden.image import image_layout
    info = image_layout(preset("370M"), TritFormat.TRITS_2BIT)
    compiled = compile_batched(info, 4)
    program = compiled.program
    decode = program.instructions[program.symbols["decode"]:]
    lm_head = next(section for section in info.sections if section.name == "lm_head.weight")
    head = [dict(zip((o.name for o in i.op.operands), i.args)) for i in decode
            if i.op.mnemonic == "MATVEC" and lm_head.offset <= i.args[1] < lm_head.offset + lm_head.length]
    assert len(head) > 1 and sum(a["rows"] for a in head) == 32000 and all(a["slots"] == 4 for a in head)
    searches = [dict(zip((o.name for o in i.op.operands), i.args), op=i.op.mnemonic) for i in decode
                if i.op.mnemonic in ("ARGMAX", "ARGMAXC")]
    assert [a["slot"] for a in searches] == [k for _ in head for k in range(4)]
    assert [a["op"] for a in searches[:4]] == ["ARGMAX"] * 4 and {a["op"] for a in searches[4:]} == {"ARGMAXC"}


def test_each_a_slot_keeps_its_own_running_best():
    """Two slots' chunked searches interleaved (as the batched head runs them) give each slot the answer of
    searching it alone; ties keep the earlier chunk in every slot, and a slot beyond the build stops."""
    source = """
        SETLEN 4
        ARGMAX r1, 0
        ARGMAX r2, 4, 1
        ARGMAXC r3, 8, 100
        ARGMAXC r4, 12, 100, 1
        HALT
    """
    iss = InstructionSetSimulator(assemble(source).instructions, bytes(64), TritFormat.TRITS_2BIT, vmem_words=4096,
                                  batch=2)
    iss.vmem[0:16] = [5, 9, 9, 1,   7, 3, 2, 7,   9, 9, 0, 0,   8, 6, 8, 8]
    assert iss.run() == "halted"
    # slot 0: 9 at index 1 (its second chunk ties at 100: kept); slot 1: 7 at index 0, then 8 at 100
    assert iss.regs[1:5] == [1, 0, 1, 100]
    program = assemble("SETLEN 4\nARGMAX r1, 0, 2\nHALT").instructions
    with pytest.raises(IssError) as error:
        InstructionSetSimulator(program, bytes(64), TritFormat.TRITS_2BIT, vmem_words=4096, batch=2).run()
    assert error.value.code is ErrorCode.BAD_SLOT
