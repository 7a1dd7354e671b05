"""The instruction-level simulator: runs a program on a model image with the hardware-exact golden
operations (golden.hwexact, golden.fixedpoint), and counts cycles with a stated cost model.

Every instruction's semantics (assembler.isa) is carried out by the same golden functions the
hardware-exact model calls, so a compiled program and `HardwareExactModel` must agree bit for bit;
the tests check that they do. A program stops on HALT, on an error (`ErrorCode`, with the pc), or
when RECV finds the host queue empty (`waiting`: the hardware would wait for the host).
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from golden import fixedpoint as fxp
from golden import formats as fmt
from golden.errors import MmfreeError, PackingError
from golden.hwexact import normalized_input_with_term, quantize_int8, ternary_matvec
from golden.packing import TritFormat, row_bytes, unpack_trits

from . import isa
from .cost import CostModel, PrefetchStream
from .isa import ErrorCode

__all__ = ["CostModel", "InstructionSetSimulator", "IssError", "Counters", "decode_step_counters"]


class IssError(MmfreeError):
    """A program stopped on an error: the code, the pc and what happened."""

    def __init__(self, code: ErrorCode, pc: int, message: str):
        super().__init__(f"{code.name} at pc {pc}: {message}")
        self.code, self.pc = code, pc


@dataclasses.dataclass
class Counters:
    cycles: int = 0
    instructions: int = 0
    bytes_read: int = 0
    bytes_written: int = 0          # VSTORE's bytes to the work area
    engine_cycles: int = 0          # cycles the ternary engine is busy (MATVEC)
    by_group: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _QuantState:
    q: np.ndarray
    peak: int
    inv_sqrt: fxp.SFloat
    norm_exp: int


class InstructionSetSimulator:
    def __init__(self, program: list[isa.Instruction], image: bytes | None, trit_format: TritFormat,
                 cost: CostModel | None = None, vmem_words: int = isa.VMEM_WORDS, vector_width: int = 1,
                 trace: bool = False, batch: int = 1):
        """`vmem_words`: the VMEM of the accelerator modelled (at most isa.VMEM_WORDS); `vector_width`: its V
        (vector operands must be multiples of it); `batch`: its Q slots B (1..isa.MAX_BATCH).
        `image` None: cost only (a model too large to hold): control flow, lengths and cycles, no data;
        ARGMAX / ARGMAXC then yield 0. `trace`: record (pc, mnemonic, cycles) of every instruction in `self.trace`."""
        self.program = program
        self.image = image
        self.trit_format = trit_format
        self.cost = cost or CostModel()
        if not 1 <= vmem_words <= isa.VMEM_WORDS:
            raise ValueError(f"vmem_words must be in 1..{isa.VMEM_WORDS}")
        if vector_width < 1 or vector_width & (vector_width - 1) or isa.VECTOR_ALIGN % vector_width:
            raise ValueError(f"vector_width must be a power of two dividing {isa.VECTOR_ALIGN}")
        if not isinstance(batch, int) or not 1 <= batch <= isa.MAX_BATCH:
            raise ValueError(f"batch must be in 1..{isa.MAX_BATCH}, got {batch!r}")
        self.vmem = np.zeros(vmem_words, dtype=np.int64)
        self.vector_width, self.batch = vector_width, batch
        self.prefetched: deque[tuple[int, int, int]] = deque()     # (trits, rows, cols) of queued PREFETCHes
        self.stream = PrefetchStream(self.cost)
        self.regs = [0] * isa.SCALAR_REGISTERS
        self.vl = 1
        self.scale = fxp.SFLOAT_ZERO
        self.quant: list[_QuantState | None] = [None] * batch          # Q[slot]
        self.quant_lengths: list[int | None] = [None] * batch        # its length (kept without data too)
        self.argmax_best: list[tuple[int, int] | None] = [None] * batch    # A[slot]: (value, index); None until an ARGMAX
        self.work: dict[int, int] = {}          # the work area's words written by VSTORE: byte address -> int32
        self.pc = 0
        self.halted = False
        self.host_in: deque[int] = deque()
        self.host_out: list[int] = []           # SEND words
        self.vectors_out: list[np.ndarray] = []  # SENDV vectors
        self.counters = Counters()
        self.trace: list[tuple[int, str, int]] | None = [] if trace else None

    # --- host side ------------------------------------------------------------------------------
    def send(self, *words: int) -> None:
        for word in words:
            self.host_in.append(int(word) & 0xFFFFFFFF)

    # --- memory access with range checks -----------------------------------------------------------
    def _fail(self, code: ErrorCode, message: str):
        raise IssError(code, self.pc, message)

    def _vector(self, unit_address: int, length: int | None = None) -> slice:
        start = unit_address * isa.VMEM_ALIGN
        length = self.vl if length is None else length
        if start % self.vector_width:
            self._fail(ErrorCode.VMEM_MISALIGNED, f"vector address {start} is not a multiple of the vector width "
                                                  f"{self.vector_width}")
        if start + length > len(self.vmem):
            self._fail(ErrorCode.VMEM_OUT_OF_RANGE, f"vector [{start}, {start + length}) beyond VMEM ({len(self.vmem)} words)")
        return slice(start, start + length)

    def _read_image(self, address: int, nbytes: int) -> bytes:
        if address + nbytes > len(self.image):
            self._fail(ErrorCode.IMAGE_OUT_OF_RANGE, f"image bytes [{address}, {address + nbytes}) beyond its {len(self.image)} bytes")
        return self.image[address:address + nbytes]

    def _work_range(self, address: int, nbytes: int) -> None:
        """The work area: from the image's end to the end of the address space."""
        if address < len(self.image) or address + nbytes > isa.ADDRESS_SPACE:
            self._fail(ErrorCode.IMAGE_OUT_OF_RANGE, f"bytes [{address}, {address + nbytes}) are not all in the work "
                                                     f"area [{len(self.image)}, {isa.ADDRESS_SPACE})")

    def _load_words(self, address: int, count: int) -> np.ndarray:
        """VLOAD's int32 words: all in the image, or all in the work area (a word never stored reads 0)."""
        if address + 4 * count <= len(self.image):
            return self._image_array(address, count, "<i4")
        self._work_range(address, 4 * count)
        return np.array([self.work.get(address + 4 * j, 0) for j in range(count)], dtype=np.int64)

    def _external(self, op: str, a: dict, name: str) -> int:
        """VLOAD's / VSTORE's external address: the field, plus the offset register for the X forms (mod 2**32)."""
        return (a[name] + self.regs[a["rs"]]) & 0xFFFFFFFF if op.endswith("X") else a[name]

    def _image_array(self, address: int, count: int, dtype: str) -> np.ndarray:
        size = np.dtype(dtype).itemsize
        return np.frombuffer(self._read_image(address, count * size), dtype=dtype).astype(np.int64)

    # --- execution ------------------------------------------------------------------------------
    def run(self, max_instructions: int = 10_000_000) -> str:
        """Execute until HALT ('halted') or a RECV with nothing from the host ('waiting')."""
        for _ in range(max_instructions):
            if self.halted:
                return "halted"
            if not 0 <= self.pc < len(self.program):
                self._fail(ErrorCode.PC_OUT_OF_RANGE, f"pc outside the program's {len(self.program)} instructions")
            ins = self.program[self.pc]
            if ins.op.mnemonic == "RECV" and not self.host_in:
                return "waiting"
            pc = self.pc
            cycles = self._execute(ins)
            if self.trace is not None:
                self.trace.append((pc, ins.op.mnemonic, cycles))
            self.counters.cycles += cycles
            self.counters.instructions += 1
            group = self.counters.by_group
            group[ins.op.group] = group.get(ins.op.group, 0) + cycles
        raise IssError(ErrorCode.NONE, self.pc, f"no HALT or RECV wait within {max_instructions} instructions")

    def _cycles(self, op: str, a: dict) -> int:
        """The cost model of one instruction (the VL and Q before it executes); the prefetch stream advances."""
        cost, vl = self.cost, self.vl
        streamed = {"EMBED": 2 * vl + 1, "VLOAD": 4 * vl, "VLOADX": 4 * vl, "QUANT": 4 * vl,
                    "RMSNORM": 4 * vl}.get(op, 0)
        store_aligned = op in ("VSTORE", "VSTOREX") and self._external(op, a, "dst") % 4 == 0
        if op in ("VLOADX", "VSTOREX"):
            op = op[:-1]                                  # the same costs as VLOAD / VSTORE
        if op == "VSTORE":
            self.counters.bytes_written += 4 * vl
        if op == "MATVEC":
            cols, rows, slots = self.quant_lengths[0] or 0, a["rows"], max(a["slots"], 1)
            streamed = rows * row_bytes(cols, self.trit_format)
            self.counters.bytes_read += streamed
            self.counters.engine_cycles += cost.compute(rows, cols, slots)
            if self.stream:
                return self.stream.matvec(rows, cols, slots)
            cycles = cost.matvec(rows, cols, streamed, slots)
            self.stream.advance(cycles, streamed)
            return cycles
        self.counters.bytes_read += streamed
        if op in ("EMBED", "VLOAD"):
            cycles = cost.move(streamed, vl, self.stream.backlog()) + (cost.embed_cycles if op == "EMBED" else 0)
        elif op == "SENDV":
            cycles = cost.sendv(vl)
        elif op == "VSTORE":
            cycles = cost.store(vl, aligned=store_aligned)
        elif op in ("VZERO", "VCOPY", "ARGMAX", "ARGMAXC", "VADD", "VSIGMOID", "VSILU", "VONEMINUS"):
            cycles = cost.vector(vl)
        elif op in ("VMUL", "VMULADD"):
            cycles = cost.vector(vl, passes=2)            # a max|b| pass for the block shift, then the products
        elif op in ("QUANT", "RMSNORM"):
            cycles = cost.norm(vl, self.stream.backlog())
        elif op in ("RECV", "SEND"):
            cycles = cost.issue_cycles + 1                # the host's own delays are not the accelerator's
        elif op == "PREFETCH":
            cycles = cost.issue_cycles + 1                # the queue's handshake
        else:
            cycles = cost.issue_cycles
        if op == "PREFETCH":
            self.stream.push(a["rows"] * row_bytes(a["cols"], self.trit_format))
        self.stream.advance(cycles, streamed)
        return cycles

    def _execute(self, ins: isa.Instruction) -> int:
        op = ins.op.mnemonic
        a = dict(zip((o.name for o in ins.op.operands), ins.args))
        regs = self.regs
        next_pc = self.pc + 1
        for operand, value in zip(ins.op.operands, ins.args):       # before every other check
            if operand.kind is isa.Kind.VREG and (value * isa.VMEM_ALIGN) % self.vector_width:
                self._fail(ErrorCode.VMEM_MISALIGNED, f"{operand.name} = {value * isa.VMEM_ALIGN} is not a multiple "
                                                      f"of the vector width {self.vector_width}")
        if op == "QUANT" and a["slot"] >= self.batch:
            self._fail(ErrorCode.BAD_SLOT, f"QUANT into slot {a['slot']} of a build with {self.batch} Q slot(s)")
        if op in ("ARGMAX", "ARGMAXC") and a["slot"] >= self.batch:
            self._fail(ErrorCode.BAD_SLOT, f"{op} in A slot {a['slot']} of a build with {self.batch} slot(s)")
        if op == "MATVEC" and a["slots"] > self.batch:
            self._fail(ErrorCode.BAD_SLOT, f"MATVEC over {a['slots']} slots on a build with {self.batch}")
        if op == "MATVEC":
            lengths = self.quant_lengths[:max(a["slots"], 1)]
            if lengths[0] is None or any(length != lengths[0] for length in lengths):
                self._fail(ErrorCode.NO_QUANT, f"MATVEC over Q slots of lengths {lengths} (each needs a QUANT, "
                                               "all of one length)")
        if op == "PREFETCH" and len(self.prefetched) == isa.PREFETCH_DEPTH:
            self._fail(ErrorCode.BAD_PREFETCH, f"a PREFETCH beyond the queue's {isa.PREFETCH_DEPTH}")
        if op == "PREFETCH" and self.image is not None:
            self._read_image(a["trits"], a["rows"] * row_bytes(a["cols"], self.trit_format))
        cycles = self._cycles(op, a)
        if op == "QUANT":
            self.quant_lengths[a["slot"]] = self.vl
        elif op == "PREFETCH":
            self.prefetched.append((a["trits"], a["rows"], a["cols"]))
        prefetch = self.prefetched.popleft() if op == "MATVEC" and self.prefetched else None
        if self.image is None and ins.op.group != "control" and op not in ("ARGMAX", "ARGMAXC"):
            self.pc = next_pc                       # cost-only: no data, only lengths and control
            return cycles
        if op in ("NOP", "PREFETCH"):
            pass
        elif op == "HALT":
            self.halted = True
        elif op == "JMP":
            next_pc = a["target"]
        elif op == "BZ":
            next_pc = a["target"] if regs[a["rs"]] == 0 else next_pc
        elif op == "BNZ":
            next_pc = a["target"] if regs[a["rs"]] != 0 else next_pc
        elif op == "LI":
            regs[a["rd"]] = a["imm"]
        elif op == "ADDI":
            regs[a["rd"]] = _wrap32(regs[a["rs"]] + a["imm"])
        elif op == "RECV":
            regs[a["rd"]] = _wrap32(self.host_in.popleft())
        elif op == "SEND":
            self.host_out.append(regs[a["rs"]])
        elif op == "SETLEN":
            self.vl = a["n"]
        elif op == "SETSCALE":
            self.scale = fxp.SFloat(a["mantissa"], a["exponent"])
        elif op == "EMBED":
            token = regs[a["rs"]]
            if not 0 <= token < a["rows"]:
                self._fail(ErrorCode.BAD_TOKEN, f"token id {token} outside [0, {a['rows']})")
            mant = self._image_array(a["mantissas"] + 2 * token * self.vl, self.vl, "<i2")
            exponent = int(self._image_array(a["exponents"] + token, 1, "i1")[0])
            self.vmem[self._vector(a["vd"])] = fxp.saturate(fxp.round_shift(mant, -(exponent + fmt.ACT_FRAC)), fmt.ACT_BITS)
        elif op in ("VLOAD", "VLOADX"):
            self.vmem[self._vector(a["vd"])] = self._load_words(self._external(op, a, "src"), self.vl)
        elif op in ("VSTORE", "VSTOREX"):
            address = self._external(op, a, "dst")
            self._work_range(address, 4 * self.vl)
            words = self.vmem[self._vector(a["vs"])]
            self.work.update({address + 4 * j: int(word) for j, word in enumerate(words)})
        elif op == "VZERO":
            self.vmem[self._vector(a["vd"])] = 0
        elif op == "VCOPY":
            self.vmem[self._vector(a["vd"])] = self.vmem[self._vector(a["vs"])]
        elif op == "SENDV":
            self.vectors_out.append(self.vmem[self._vector(a["vs"])].copy())
        elif op in ("ARGMAX", "ARGMAXC"):
            if self.image is None:
                regs[a["rd"]] = 0
            else:
                chunk = self.vmem[self._vector(a["vs"])]
                j = int(np.argmax(chunk))                   # the lowest j on ties
                candidate = (int(chunk[j]), j + a.get("base", 0))
                best = self.argmax_best[a["slot"]]
                if op == "ARGMAX" or best is None or candidate[0] > best[0]:
                    self.argmax_best[a["slot"]] = best = candidate
                regs[a["rd"]] = best[1]
        elif op == "QUANT":
            x = self.vmem[self._vector(a["vs"])]
            norm = self._image_array(a["norm"], self.vl, "<i4")
            front = normalized_input_with_term(x, a["eps"])
            q, peak = quantize_int8(front.x_mant * norm)
            self.quant[a["slot"]] = _QuantState(q=q, peak=peak, inv_sqrt=front.inv_sqrt, norm_exp=a["norm_exp"])
            # Passes: sum of squares (with the block shift from a running max), products + peak, quantise.
        elif op == "MATVEC":
            cols, rows, slots = len(self.quant[0].q), a["rows"], max(a["slots"], 1)
            nbytes = rows * row_bytes(cols, self.trit_format)
            data = self._read_image(a["trits"], nbytes)
            stride = a["stride"] * isa.VMEM_ALIGN
            destinations = [self._vector(a["vd"] + k * stride // isa.VMEM_ALIGN, rows) for k in range(slots)]
            if prefetch is not None and prefetch != (a["trits"], rows, cols):
                self._fail(ErrorCode.BAD_PREFETCH, f"MATVEC of {rows} x {cols} at 0x{a['trits']:x} takes the "
                                                   f"PREFETCH of {prefetch[1]} x {prefetch[2]} at 0x{prefetch[0]:x}")
            try:
                trits = unpack_trits(data, rows, cols, self.trit_format, offset=a["trits"])
            except PackingError as exc:
                self._fail(ErrorCode.BAD_TRITS, str(exc))
            for slot, destination in enumerate(destinations):       # slot by slot, as the engine takes them
                quant = self.quant[slot]
                acc = ternary_matvec(trits, quant.q)
                scale = fxp.sf_mul(fxp.sf_mul(self.scale, fxp.sf_normalize(quant.peak)), quant.inv_sqrt)
                scale = fxp.SFloat(scale.m, scale.e + quant.norm_exp)
                self.vmem[destination] = fxp.scale_vector(acc, scale, fmt.ACT_FRAC)
        elif op == "RMSNORM":
            x = self.vmem[self._vector(a["vs"])]
            norm = self._image_array(a["norm"], self.vl, "<i4")
            front = normalized_input_with_term(x, a["eps"])
            u_mant, u_shift = fxp.block_normalize(front.x_mant * norm)
            scale = fxp.sf_mul(self.scale, front.inv_sqrt)
            self.vmem[self._vector(a["vd"])] = fxp.scale_vector(u_mant, scale, u_shift + a["norm_exp"] + fmt.ACT_FRAC)
        elif op in ("VADD", "VMUL"):
            va, vb = self.vmem[self._vector(a["va"])], self.vmem[self._vector(a["vb"])]
            self.vmem[self._vector(a["vd"])] = fxp.vadd(va, vb) if op == "VADD" else fxp.vmul(va, vb)
        elif op == "VMULADD":
            vd = self._vector(a["vd"])
            self.vmem[vd] = fxp.vadd(fxp.vmul(self.vmem[vd], self.vmem[self._vector(a["va"])]),
                                     self.vmem[self._vector(a["vb"])])
        elif op == "VSIGMOID":
            self.vmem[self._vector(a["vd"])] = fxp.vsigmoid(self.vmem[self._vector(a["vs"])])
        elif op == "VSILU":
            self.vmem[self._vector(a["vd"])] = fxp.vsilu(self.vmem[self._vector(a["vs"])])
        elif op == "VONEMINUS":
            self.vmem[self._vector(a["vd"])] = fxp.saturate(fmt.ACT_ONE - self.vmem[self._vector(a["vs"])], fmt.ACT_BITS)
        else:                                                   # pragma: no cover - isa and ISS out of step
            self._fail(ErrorCode.ILLEGAL_INSTRUCTION, f"{op} has no ISS semantics")
        self.pc = next_pc
        return cycles


def _wrap32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def decode_step_counters(program: list[isa.Instruction], trit_format: TritFormat, cost: CostModel,
                         image: bytes | None = None) -> Counters:
    """Counters of one decode step of a compiled serving program (assembler.compiler): a two-token
    request minus a one-token request, so the request's set-up is not counted."""
    runs = []
    for prompt_length in (1, 2):
        iss = InstructionSetSimulator(program, image, trit_format, cost)
        iss.send(prompt_length, 0, *[0] * prompt_length)
        if iss.run() != "waiting":
            raise IssError(ErrorCode.NONE, iss.pc, "the program did not return to wait for a request")
        runs.append(iss.counters)
    one, two = runs
    groups = {g: two.by_group.get(g, 0) - one.by_group.get(g, 0) for g in two.by_group}
    return Counters(cycles=two.cycles - one.cycles, instructions=two.instructions - one.instructions,
                    bytes_read=two.bytes_read - one.bytes_read, bytes_written=two.bytes_written - one.bytes_written,
                    engine_cycles=two.engine_cycles - one.engine_cycles,
                    by_group=groups)
