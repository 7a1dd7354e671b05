"""The batched serving program: one pass over each weight matrix serves B token slots (a build of batch B).

The program serves steps, forever; each step reads every matrix once (MATVEC over Q slots 0..B-1):

    decode step      RECV 0, then B tokens (one per request slot k, the token it decodes next; a slot not in
                     use sends any valid token: its state is junk until a prefill resets it). Token slot k runs
                     on request slot k's recurrent states. The step SENDs B tokens: each slot's greedy next token.
    prefill step     RECV count (1..B), RECV the request slot's state offset (slot * state_slot_bytes, see
                     BatchedProgram), RECV reset (1: the slot's states start from zero, a new request), then B
                     tokens (the first `count` are the prompt's next tokens; the rest any valid token). All count
                     tokens run on the one request's states, in order: the MLGRU recurrence (elementwise) runs
                     token after token, every projection of the count tokens shares one weight pass. The step
                     SENDs one token: the greedy next token after the last of the count.

Bit for bit the sequential model (golden.hwexact.HardwareExactModel.step, token by token): every slot's QUANT,
rescale and vector work is the single-slot program's, in the same order for each token; the batch only
shares the weight reads. The recurrent states live in the work area past the image, B request slots of
`layers` states each (VLOAD / VSTORE at fixed addresses in a decode step, VLOADX / VSTOREX at the slot's
offset in a prefill step).

VMEM: B copies of the single program's working set (h, r, x and the shared MLGRU/GLU scratch, compiler.vmem_layout),
`stride` words apart, so that one MATVEC writes the B results. The head writes the logits over that scratch (dead
once the head's QUANTs have run), in chunks of lm_head rows when the vocabulary is longer than the room (a slot's
`stride` words in a decode step, all B slots' in a prefill step, which searches one token's logits), as the single
program does (compiler.vmem_layout): each chunk's MATVEC serves every slot, and each slot's chunk is searched
into its own running best A[slot] (ARGMAX, then ARGMAXC; assembler.isa), its token sent after the last chunk.
"""

from __future__ import annotations

import dataclasses

from golden.image import ImageInfo

from . import isa
from .asm import Program
from .compiler import WORK_ALIGN, CompileError, _Emitter, work_area_base

R_COUNT, R_STATE, R_RESET, R_TOKEN, R_LEFT = "r1", "r2", "r3", "r4", "r5"


@dataclasses.dataclass
class BatchedProgram:
    source: str
    program: Program
    batch: int                              # B: token slots a step, request slots
    state_memory_addresses: list[int]       # request slot 0's state of each layer (bytes, the work area)
    state_slot_bytes: int                   # from one request slot's states to the next's
    memory_bytes: int                       # external memory the program uses: the image, then its work area


def _align(words: int) -> int:
    return -(-words // isa.VECTOR_ALIGN) * isa.VECTOR_ALIGN


def compile_batched(info: ImageInfo, batch: int, *, logits_chunk: int | None = None) -> BatchedProgram:
    """The serving program for a build of `batch` Q slots (2..isa.MAX_BATCH), see the module docstring;
    `logits_chunk`: at most this many logits a chunk (default: as many as the room holds)."""
    if not isinstance(batch, int) or not 2 <= batch <= isa.MAX_BATCH:
        raise CompileError(f"batch must be in 2..{isa.MAX_BATCH} (1: assembler.compiler.compile_model), got {batch!r}")
    cfg = info.config
    d, n, inter, vocab, layers = cfg.hidden_size, cfg.inner_size, cfg.mlp_size, cfg.vocab_size, cfg.num_hidden_layers
    if vocab > isa.MAX_VL:
        raise CompileError(f"a vocabulary of {vocab} tokens exceeds the ISA's {isa.MAX_VL}")
    out = _Emitter(info)
    out.comment(f"mmfree batched program: B {batch}, {layers} layers, hidden {d}, inner {n}, mlp {inter}, vocab {vocab}")
    # One slot's working set (as compiler.vmem_layout), B of them `stride` words apart; the logits over them.
    mix_words = max(5 * _align(n), 2 * _align(inter), _align(d))
    parts = {"h": _align(d), "r": _align(d), "x": _align(max(d, n)), "mix": mix_words}
    stride = sum(parts.values())
    decode_chunk, prefill_chunk = (_chunk(vocab, room, logits_chunk) for room in (stride, batch * stride))
    out.lines.append(f".vector slots {batch * stride}")
    offset = 0
    for name, words in parts.items():
        out.lines.append(f".const {name} slots + {offset}")
        offset += words
    for k, name in enumerate(("gi", "gf", "gg", "t", "t2")):
        out.lines.append(f".const {name} mix + {k * _align(n)}")
    out.lines += [".const gate mix", f".const up mix + {_align(inter)}", ".const o mix", ".const logits h",
                  f".vector state {n}", f".vector hsel {d}"]
    slot = lambda name, k: f"{name} + {k * stride}"      # noqa: E731   token slot k's copy of a vector
    work_base = work_area_base(info)
    slot_bytes = -(-4 * n * layers // WORK_ALIGN) * WORK_ALIGN
    state_addresses = [work_base + 4 * n * idx for idx in range(layers)]

    out.label("step")
    out.emit(f"RECV {R_COUNT}            ; 0: a decode step; 1..{batch}: a prefill of that many tokens")
    out.emit(f"BZ {R_COUNT}, decode")
    out.emit(f"RECV {R_STATE}            ; the request slot's state offset")
    out.emit(f"RECV {R_RESET}            ; 1: a new request, its states from zero")
    out.emit(f"BZ {R_RESET}, prefill")
    out.set_length(n)
    out.emit("VZERO state")
    for idx, address in enumerate(state_addresses):
        out.emit(f"VSTOREX state, 0x{address:x}, {R_STATE}  ; layer {idx}'s state = 0")

    for prefill in (True, False):
        out.label("prefill" if prefill else "decode")
        start = len(out.lines)
        for k in range(batch):
            out.emit(f"RECV {R_TOKEN}")
            out.embed(slot("h", k), R_TOKEN)
        for idx in range(layers):
            _layer(out, idx, batch, stride, slot, n, d, inter, prefill, state_addresses[idx], slot_bytes)
        if prefill:
            _prefill_head(out, batch, slot, d, vocab, prefill_chunk)
        else:
            _decode_head(out, batch, stride, slot, d, vocab, decode_chunk)
        out.prefetch_ahead(start)
        out.emit("JMP step")

    source, program = out.assemble()
    return BatchedProgram(source=source, program=program, batch=batch, state_memory_addresses=state_addresses,
                          state_slot_bytes=slot_bytes, memory_bytes=work_base + batch * slot_bytes)


def _layer(out, idx, batch, stride, slot, n, d, inter, prefill, state_address, slot_bytes):
    """One layer over the B token slots: the projections batched, the recurrence token after token."""
    p = f"model.layers.{idx}."
    out.comment(f"layer {idx}: MLGRU token mixer")
    for k in range(batch):
        out.rms_norm(slot("x", k), slot("h", k), d, f"{p}attn_norm.weight")
    for name, proj in (("gi", "i_proj"), ("gf", "f_proj"), ("gg", "g_proj")):      # each BitLinear its own norm
        for k in range(batch):
            out.quant(slot("x", k), d, f"{p}attn.{proj}", slot=k)
        out.matvec(name, f"{p}attn.{proj}", slots=batch, stride=stride)
    lower = out.sections.get(f"{p}lower_bound")
    for k in range(batch):
        gi, gf, t, t2 = (slot(name, k) for name in ("gi", "gf", "t", "t2"))
        out.set_length(n)
        out.emit(f"VSIGMOID {gf}, {gf}")
        if lower is not None:
            out.emit(f"VLOAD {t}, 0x{lower.offset:x}  ; forget-gate floor lb")
            out.emit(f"VONEMINUS {t2}, {t}")
            out.emit(f"VMUL {gf}, {gf}, {t2}")
            out.emit(f"VADD {gf}, {t}, {gf}        ; f = lb + f (1 - lb)")
        out.emit(f"VONEMINUS {t}, {gf}")
        out.emit(f"VSILU {gi}, {gi}")
        out.emit(f"VMUL {gi}, {gi}, {t}        ; i = silu(i) (1 - f)")
        out.rms_norm(slot("gg", k), slot("gg", k), n, f"{p}attn.g_norm.weight")
    # The recurrence: a prefill's tokens in order on one request's state (those past `count` leave it alone);
    # a decode step's slots each on their own request's state.
    out.set_length(n)
    if prefill:
        out.emit(f"VLOADX state, 0x{state_address:x}, {R_STATE}  ; layer {idx}'s state")
        out.emit(f"ADDI {R_LEFT}, {R_COUNT}, 0")
    for k in range(batch):
        if prefill:
            out.emit(f"BZ {R_LEFT}, recurrence_{idx}_done")
            out.emit(f"ADDI {R_LEFT}, {R_LEFT}, -1")
        else:
            out.emit(f"VLOAD state, 0x{state_address + k * slot_bytes:x}  ; slot {k}, layer {idx}")
        out.set_length(n)
        out.emit(f"VMULADD state, {slot('gf', k)}, {slot('gi', k)}  ; h = h f + i")
        out.emit(f"VSILU {slot('t', k)}, state")
        out.emit(f"VMUL {slot('x', k)}, {slot('gg', k)}, {slot('t', k)}  ; o = g silu(h)")
        if not prefill:
            out.emit(f"VSTORE state, 0x{state_address + k * slot_bytes:x}")
    if prefill:
        out.label(f"recurrence_{idx}_done")
        out.set_length(n)
        out.emit(f"VSTOREX state, 0x{state_address:x}, {R_STATE}")
    for k in range(batch):
        out.quant(slot("x", k), n, f"{p}attn.o_proj", slot=k)
    out.matvec("o", f"{p}attn.o_proj", slots=batch, stride=stride)
    for k in range(batch):
        out.set_length(d)
        out.emit(f"VADD {slot('r', k)}, {slot('h', k)}, {slot('o', k)}")
    out.comment(f"layer {idx}: GLU channel mixer")
    for k in range(batch):
        out.rms_norm(slot("x", k), slot("r", k), d, f"{p}mlp_norm.weight")
        out.quant(slot("x", k), d, f"{p}mlp.gate_proj", slot=k)
    out.matvec("gate", f"{p}mlp.gate_proj", 0, inter, slots=batch, stride=stride)
    out.matvec("up", f"{p}mlp.gate_proj", inter, inter, slots=batch, stride=stride)
    for k in range(batch):
        out.set_length(inter)
        out.emit(f"VSILU {slot('gate', k)}, {slot('gate', k)}")
        out.emit(f"VMUL {slot('gate', k)}, {slot('gate', k)}, {slot('up', k)}   ; gate = silu(gate) up")
        out.quant(slot("gate", k), inter, f"{p}mlp.down_proj", slot=k)
    out.matvec("o", f"{p}mlp.down_proj", slots=batch, stride=stride)
    for k in range(batch):
        out.set_length(d)
        out.emit(f"VADD {slot('h', k)}, {slot('r', k)}, {slot('o', k)}")


def _chunk(vocab: int, room: int, limit: int | None) -> int:
    """Logits a chunk: the whole vocabulary if it fits `room` words (and `limit`), else the most that do,
    a multiple of VECTOR_ALIGN (every chunk's MATVEC writes from an aligned address)."""
    chunk = min(vocab, room, vocab if limit is None else limit)
    if chunk < vocab:
        chunk -= chunk % isa.VECTOR_ALIGN
    if chunk < 1:
        raise CompileError(f"logits chunk {limit} is shorter than {isa.VECTOR_ALIGN} words")
    return chunk


def _search(out, vocab, chunk, first, target, slot):
    """ARGMAX (the first chunk) or ARGMAXC over `chunk` logits at `target` into A[slot]."""
    out.set_length(min(chunk, vocab - first))
    search = f"ARGMAX {R_TOKEN}, {target}" if first == 0 else f"ARGMAXC {R_TOKEN}, {target}, {first}"
    out.emit(search + (f", {slot}" if slot else ""))


def _prefill_head(out, batch, slot, d, vocab, chunk):
    """The logits of the prefill's last token (token slot count - 1) alone: its h copied out, then searched."""
    out.comment("head: the last prompt token's h, its logits searched")
    out.emit(f"ADDI {R_LEFT}, {R_COUNT}, 0")
    for k in range(batch):
        out.emit(f"ADDI {R_LEFT}, {R_LEFT}, -1")
        out.emit(f"BNZ {R_LEFT}, select_{k}_done")
        out.set_length(d)
        out.emit(f"VCOPY hsel, {slot('h', k)}")
        out.label(f"select_{k}_done")
    out.rms_norm("x", "hsel", d, "model.norm.weight")
    out.quant("x", d, "lm_head")
    for first in range(0, vocab, chunk):
        out.matvec("slots", "lm_head", first, min(chunk, vocab - first))
        _search(out, vocab, chunk, first, "slots", 0)
    out.emit(f"SEND {R_TOKEN}")


def _decode_head(out, batch, stride, slot, d, vocab, chunk):
    """Every slot's logits by one pass over lm_head (a chunk of rows at a time), each slot's searched into its
    own A slot and its token sent after the last chunk."""
    out.comment(f"head: every slot's logits, one pass over lm_head in chunks of {chunk}")
    for k in range(batch):
        out.rms_norm(slot("x", k), slot("h", k), d, "model.norm.weight")
        out.quant(slot("x", k), d, "lm_head", slot=k)
    for first in range(0, vocab, chunk):
        out.matvec("logits", "lm_head", first, min(chunk, vocab - first), slots=batch, stride=stride)
        for k in range(batch):
            _search(out, vocab, chunk, first, slot("logits", k), k)
            if first + chunk >= vocab:
                out.emit(f"SEND {R_TOKEN}")
