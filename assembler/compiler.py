"""The model compiler: a model image's layout (config + section table) to an assembly program.

The program serves requests from the host, forever:

    RECV prompt_length (>= 1), RECV tokens_to_generate, then the prompt tokens one RECV per step.
    Each prompt token runs one decode step (prefill, nothing sent back). After the last one the
    program sends ARGMAX(logits) and feeds it back, tokens_to_generate times (greedy decode; with
    emit_logits, the logits vector goes out before each token). Then it waits for the next request;
    every request starts from the zero recurrent state (the previous request's final state
    stays readable in VMEM, or the work area, until then).

Memory: only one step's working set is on chip (vmem_layout): vectors whose lives do not overlap share
words, the logits are computed, searched (ARGMAX, then ARGMAXC) and sent a chunk at a time over the
scratch, and with states_in_memory the recurrent states live in external memory past the image.

One decode step is unrolled over the layers, following golden.hwexact.HardwareExactModel.step
operation for operation (every scale and epsilon is a compile-time constant in the instructions).
Its matrices are prefetched as early as the queue allows (isa.PREFETCH_DEPTH = 2): the first two at
the step's start, matrix k + 1 right after MATVEC k - 1, so the image streams in while the vector and
norm instructions between them run.
"""

from __future__ import annotations

import dataclasses

from golden import formats as fmt
from golden.errors import MmfreeError, expect_type
from golden.fixedpoint import SFloat
from golden.hwexact import sqrt_length
from golden.image import ImageInfo, SectionKind, parse_header
from golden.config import BITLINEAR_NORM_EPS
from golden.packing import row_bytes
from golden.quantize import eps_term

from . import isa
from .asm import Program, assemble

# Scalar registers of the generated program. R_STATE: the byte offset of the request's recurrent states from the
# work area's layer addresses (VLOADX / VSTOREX; 0 with one request at a time).
R_PROMPT, R_GENERATE, R_TOKEN, R_STATE = "r1", "r2", "r3", "r5"


class CompileError(MmfreeError):
    """A model the instruction set cannot express (a vector too long, VMEM exhausted, a section missing)."""


@dataclasses.dataclass
class CompiledProgram:
    source: str
    program: Program
    logits_address: int                     # VMEM word address of the logits' chunk (the last chunk stays)
    logits_chunk: int                       # logits a chunk: the lm_head rows of one MATVEC
    state_addresses: list[int]              # VMEM word address of each layer's recurrent state (on chip)
    state_memory_addresses: list[int]       # or its external-memory byte address (states_in_memory)
    memory_bytes: int                       # external memory the program uses: the image, then its work area


class _Emitter:
    def __init__(self, info: ImageInfo):
        self.info = info
        self.sections = {s.name: s for s in info.sections}
        self.lines: list[str] = []
        self.vl: int | None = None
        self.scale: SFloat | None = None
        self.matvecs: list[tuple[int, int, int, int]] = []     # (line, trits address, rows, cols) of each MATVEC

    def section(self, name: str, kind: SectionKind):
        section = self.sections.get(name)
        if section is None or section.kind is not kind:
            raise CompileError(f"the image has no {kind.name} section {name!r}")
        return section

    def emit(self, text: str) -> None:
        self.lines.append(f"        {text}")

    def comment(self, text: str) -> None:
        self.lines.append(f"; {text}")

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")
        self.vl = self.scale = None                 # control may arrive from elsewhere

    def set_length(self, n: int) -> None:
        if n > isa.MAX_VL:
            raise CompileError(f"vector of {n} elements exceeds the ISA's {isa.MAX_VL}")
        if n != self.vl:
            self.emit(f"SETLEN {n}")
            self.vl = n

    def set_scale(self, scale: SFloat) -> None:
        if not fmt.EXP_MIN <= scale.e <= fmt.EXP_MAX:
            raise CompileError(f"scale exponent {scale.e} does not fit the SETSCALE field")
        if scale != self.scale:
            self.emit(f"SETSCALE {scale.m}, {scale.e}")
            self.scale = scale

    @staticmethod
    def eps(length: int, eps: float) -> int:
        term = eps_term(length, eps)
        if term >= 1 << 32:
            raise CompileError(f"epsilon term {term} of a {length}-vector does not fit 32 bits")
        return term

    def rms_norm(self, dst: str, src: str, length: int, name: str) -> None:
        norm = self.section(name, SectionKind.NORM_WEIGHT)
        self.set_length(length)
        self.set_scale(sqrt_length(length))
        self.emit(f"RMSNORM {dst}, {src}, 0x{norm.offset:x}, {norm.param_a}, "
                  f"{self.eps(length, self.info.config.rms_norm_eps)}  ; {name}")

    def quant(self, src: str, length: int, name: str, slot: int = 0) -> None:
        norm = self.section(f"{name}.norm.weight", SectionKind.NORM_WEIGHT)
        self.set_length(length)
        into = f", {slot}" if slot else ""
        self.emit(f"QUANT {src}, 0x{norm.offset:x}, {norm.param_a}, {self.eps(length, BITLINEAR_NORM_EPS)}{into}  ; {name}")

    def matvec(self, dst: str, name: str, first_row: int = 0, rows: int | None = None, slots: int = 1,
               stride: int = 0) -> None:
        """MATVEC of `name`'s rows first_row.. into dst; over Q slots 0..slots-1, the results `stride` words apart."""
        trits = self.section(f"{name}.weight", SectionKind.TRITS)
        rows = trits.rows - first_row if rows is None else rows
        self.set_scale(SFloat(trits.param_a, trits.param_b))
        address = trits.offset + first_row * row_bytes(trits.cols, self.info.trit_format)
        self.matvecs.append((len(self.lines), address, rows, trits.cols))
        batch = f", {slots}, {stride}" if slots > 1 else ""
        self.emit(f"MATVEC {dst}, 0x{address:x}, {rows}{batch}  ; {name} rows {first_row}..{first_row + rows - 1}")

    def prefetch_ahead(self, first_line: int) -> None:
        """PREFETCH the MATVECs emitted from line `first_line` on, each as soon as the queue has room."""
        matvecs = [entry for entry in self.matvecs if entry[0] >= first_line]
        depth = isa.PREFETCH_DEPTH
        places = [first_line] * depth + [line + 1 for line, *_ in matvecs[:-depth]]
        for place, (_, address, rows, cols) in reversed(list(zip(places, matvecs))):
            self.lines.insert(place, f"        PREFETCH 0x{address:x}, {rows}, {cols}")

    def assemble(self) -> tuple[str, Program]:
        """The program's source and its assembly; CompileError if it does not assemble."""
        source = "\n".join(self.lines) + "\n"
        try:
            return source, assemble(source, "<compiled>")
        except MmfreeError as exc:
            raise CompileError(f"the compiled program does not assemble (a model the ISA cannot hold?): {exc}") from None

    def embed(self, dst: str, token: str) -> None:
        """EMBED the token in register `token` into dst (VL = hidden size)."""
        mantissas = self.section("model.embeddings.mantissas", SectionKind.EMBED_MANTISSAS)
        exponents = self.section("model.embeddings.exponents", SectionKind.EMBED_EXPONENTS)
        self.set_length(self.info.config.hidden_size)
        self.emit(f"EMBED {dst}, {token}, {self.info.config.vocab_size}, 0x{mantissas.offset:x}, 0x{exponents.offset:x}")

    def bitlinear(self, dst: str, src: str, length: int, name: str) -> None:
        self.quant(src, length, name)
        self.matvec(dst, name)


def vmem_layout(config, *, logits_chunk: int | None = None, states_in_memory: bool = False) -> tuple[list[str], int]:
    """The program's VMEM directives and the logits chunk length (rows of lm_head per MATVEC).

    Only the working set of one step is on chip, and the vectors whose lives do not overlap share words:
    - h, r: the residual stream (d each); x: the normalised input of a projection (max(d, n));
    - mix: the MLGRU's gates i, f, g and temporaries t, t2 (5 n), later the GLU's gate and up (2 mlp; the
      product gate * up is formed in place in gate), and each block's output o (d, after its last use);
    - the logits, in chunks over the whole scratch (h, r, x, mix: all dead once the head's QUANT has run),
      each searched by ARGMAX / ARGMAXC (and sent by SENDV) before the next chunk's MATVEC overwrites it;
    - the recurrent states (n per layer), live across steps; with `states_in_memory` one layer's state at a
      time, loaded from and stored back to the work area of external memory (see compile_model).
    `logits_chunk`: at most this many logits a chunk (default: as many as the scratch holds)."""
    d, n, inter, vocab = config.hidden_size, config.inner_size, config.mlp_size, config.vocab_size
    align = lambda words: -(-words // isa.VECTOR_ALIGN) * isa.VECTOR_ALIGN     # noqa: E731
    mix_words = max(5 * align(n), 2 * align(inter), align(d))
    lines = [f".vector h {d}", f".vector r {d}", f".vector x {max(d, n)}", f".vector mix {mix_words}"]
    lines += [f".const {name} mix + {k * align(n)}" for k, name in enumerate(("gi", "gf", "gg", "t", "t2"))]
    lines += [".const gate mix", f".const up mix + {align(inter)}", ".const o mix", ".const logits h"]
    scratch = 2 * align(d) + align(max(d, n)) + mix_words
    chunk = min(vocab, scratch if logits_chunk is None else logits_chunk, scratch)
    if chunk < vocab:
        chunk -= chunk % isa.VECTOR_ALIGN          # every chunk starts on a VECTOR_ALIGN boundary of the scratch
    if chunk < 1:
        raise CompileError(f"logits chunk {logits_chunk} is shorter than {isa.VECTOR_ALIGN} words")
    if states_in_memory:
        lines += [f".vector state {n}"]
    else:
        lines += [f".vector state{idx} {n}" for idx in range(config.num_hidden_layers)]
    return lines, chunk


WORK_ALIGN = 64         # bytes: the work area starts on a multiple of this past the image's end


def work_area_base(info: ImageInfo) -> int:
    """The work area's first byte: the image's end, rounded up to WORK_ALIGN."""
    return -(-info.size // WORK_ALIGN) * WORK_ALIGN


def compile_model(info: ImageInfo, *, emit_logits: bool = False, logits_chunk: int | None = None,
                  states_in_memory: bool = False) -> CompiledProgram:
    """The serving program for the model described by `info` (see the module docstring); `logits_chunk`:
    see vmem_layout. `states_in_memory`: the recurrent states live in the work area of external memory
    (n int32 a layer from the image's end, rounded up to WORK_ALIGN): each layer VLOADs its state before the
    MLGRU's update and VSTOREs it after its last use, so VMEM holds one (what a model whose states do not
    fit on chip needs: 24 x 1024 words for the 370M)."""
    expect_type(info, ImageInfo, "compile_model's info (golden.image.parse_header or image_layout; compile_image "
                "takes an image's bytes)", CompileError)
    cfg = info.config
    d, n, inter, vocab = cfg.hidden_size, cfg.inner_size, cfg.mlp_size, cfg.vocab_size
    out = _Emitter(info)
    out.comment(f"mmfree program: {cfg.num_hidden_layers} layers, hidden {d}, inner {n}, mlp {inter}, vocab {vocab}")
    if vocab > isa.MAX_VL:
        raise CompileError(f"a vocabulary of {vocab} tokens exceeds the ISA's {isa.MAX_VL} (EMBED's rows, ARGMAXC's base)")
    layout, chunk = vmem_layout(cfg, logits_chunk=logits_chunk, states_in_memory=states_in_memory)
    out.lines += layout
    work_base = work_area_base(info)
    memory_states = [work_base + 4 * n * idx for idx in range(cfg.num_hidden_layers)] if states_in_memory else []
    state = (lambda idx: "state") if states_in_memory else (lambda idx: f"state{idx}")     # noqa: E731

    out.label("request")
    out.emit(f"RECV {R_PROMPT}            ; prompt length")
    out.emit(f"RECV {R_GENERATE}            ; tokens to generate")
    out.emit(f"BZ {R_PROMPT}, request     ; an empty prompt is ignored")
    out.set_length(n)
    if states_in_memory:
        out.emit(f"LI {R_STATE}, 0            ; the request's states: the work area's first slot")
        out.emit("VZERO state")
        for idx, address in enumerate(memory_states):
            out.emit(f"VSTOREX state, 0x{address:x}, {R_STATE}  ; layer {idx}'s state = 0")
    else:
        for idx in range(cfg.num_hidden_layers):
            out.emit(f"VZERO state{idx}")
    out.emit(f"RECV {R_TOKEN}            ; first prompt token")

    out.label("step")
    step_start = len(out.lines)
    out.embed("h", R_TOKEN)
    for idx in range(cfg.num_hidden_layers):
        p = f"model.layers.{idx}."
        out.comment(f"layer {idx}: MLGRU token mixer")
        out.rms_norm("x", "h", d, f"{p}attn_norm.weight")
        out.bitlinear("gi", "x", d, f"{p}attn.i_proj")
        out.bitlinear("gf", "x", d, f"{p}attn.f_proj")
        out.bitlinear("gg", "x", d, f"{p}attn.g_proj")
        out.set_length(n)
        out.emit("VSIGMOID gf, gf")
        lower = out.sections.get(f"{p}lower_bound")
        if lower is not None:
            out.emit(f"VLOAD t, 0x{lower.offset:x}  ; forget-gate floor lb")
            out.emit("VONEMINUS t2, t")
            out.emit("VMUL gf, gf, t2")
            out.emit("VADD gf, t, gf        ; f = lb + f (1 - lb)")
        out.emit("VONEMINUS t, gf")
        out.emit("VSILU gi, gi")
        out.emit("VMUL gi, gi, t        ; i = silu(i) (1 - f)")
        if states_in_memory:
            out.emit(f"VLOADX state, 0x{memory_states[idx]:x}, {R_STATE}  ; layer {idx}'s state")
        out.emit(f"VMULADD {state(idx)}, gf, gi  ; h = h f + i")
        out.rms_norm("gg", "gg", n, f"{p}attn.g_norm.weight")
        out.set_length(n)
        out.emit(f"VSILU t, {state(idx)}")
        if states_in_memory:
            out.emit(f"VSTOREX state, 0x{memory_states[idx]:x}, {R_STATE}")
        out.emit("VMUL x, gg, t         ; o = g silu(h)")
        out.bitlinear("o", "x", n, f"{p}attn.o_proj")
        out.set_length(d)
        out.emit("VADD r, h, o")
        out.comment(f"layer {idx}: GLU channel mixer")
        out.rms_norm("x", "r", d, f"{p}mlp_norm.weight")
        out.quant("x", d, f"{p}mlp.gate_proj")
        out.matvec("gate", f"{p}mlp.gate_proj", 0, inter)
        out.matvec("up", f"{p}mlp.gate_proj", inter, inter)
        out.set_length(inter)
        out.emit("VSILU gate, gate")
        out.emit("VMUL gate, gate, up   ; in place: gate = silu(gate) up")
        out.bitlinear("o", "gate", inter, f"{p}mlp.down_proj")
        out.set_length(d)
        out.emit("VADD h, r, o")
    out.comment(f"head: the logits in chunks of {chunk}, each searched (and sent) before the next overwrites it")
    out.rms_norm("x", "h", d, "model.norm.weight")
    out.quant("x", d, "lm_head")
    if emit_logits:
        out.emit(f"ADDI r4, {R_PROMPT}, -1       ; r4 = 0: the last prompt token, whose logits go out")
    for first in range(0, vocab, chunk):
        rows = min(chunk, vocab - first)
        out.matvec("logits", "lm_head", first, rows)
        out.set_length(rows)
        if emit_logits:
            skip = f"logits_sent_{first}"
            out.emit(f"BNZ r4, {skip}")
            out.emit(f"BZ {R_GENERATE}, {skip}")
            out.emit("SENDV logits")
            out.label(skip)
            out.set_length(rows)
        out.emit(f"ARGMAX {R_TOKEN}, logits" if first == 0 else f"ARGMAXC {R_TOKEN}, logits, {first}")
    out.prefetch_ahead(step_start)
    out.emit(f"ADDI {R_PROMPT}, {R_PROMPT}, -1")
    out.emit(f"BZ {R_PROMPT}, generate")
    out.emit(f"RECV {R_TOKEN}            ; next prompt token")
    out.emit("JMP step")

    out.label("generate")
    out.emit(f"BZ {R_GENERATE}, request")
    out.emit(f"SEND {R_TOKEN}            ; the greedy token (the head's ARGMAX)")
    out.emit(f"ADDI {R_GENERATE}, {R_GENERATE}, -1")
    out.emit(f"BZ {R_GENERATE}, request")
    out.emit(f"LI {R_PROMPT}, 1            ; the fed-back token is the last of the 'prompt'")
    out.emit("JMP step")

    source, program = out.assemble()
    return CompiledProgram(source=source, program=program, logits_address=program.symbols["logits"], logits_chunk=chunk,
                           state_addresses=[] if states_in_memory else
                           [program.symbols[f"state{idx}"] for idx in range(cfg.num_hidden_layers)],
                           state_memory_addresses=memory_states,
                           memory_bytes=memory_states[-1] + 4 * n if states_in_memory else info.size)


def compile_to_fit(info: ImageInfo, vmem_words: int, **options) -> CompiledProgram:
    """The program for a device of `vmem_words` VMEM words: the recurrent states on chip when the program then
    fits, else in the work area of external memory (compile_model's states_in_memory). The caller checks the
    result against the device (VMEM, and memory_bytes against its memory)."""
    on_chip = compile_model(info, **options)
    if on_chip.program.vmem_words <= vmem_words:
        return on_chip
    return compile_model(info, states_in_memory=True, **options)


def compile_image(data: bytes, *, emit_logits: bool = False, logits_chunk: int | None = None,
                  states_in_memory: bool = False) -> CompiledProgram:
    return compile_model(parse_header(data), emit_logits=emit_logits, logits_chunk=logits_chunk,
                         states_in_memory=states_in_memory)
