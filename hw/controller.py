"""`Controller`: fetches and executes the instruction stream (assembler.isa), sequencing the units.

    program memory ─► fetch ─► decode + legality ─► execute: scalar registers, branches, VL, S (here)
                                                           ├► vector unit (cmd / done)
                                                           └► host link (host_in / host_out words)

One instruction at a time: fetch (1 cycle, block RAM), decode (1), prepare (1: legality and the operand
products registered, so that execute decides from registers), execute (1 for scalar and control
instructions; a vector instruction until the unit reports done; RECV/SEND until the host link moves).
Legality is decided from assembler.isa exactly as the disassembler decides it (opcode, no bits outside
the operand fields, SETLEN 1..MAX_VL, normalised SETSCALE, rows >= 1); range errors as the ISS raises
them. On an error the controller stops, holding the error code and the pc of the instruction (a jump
beyond the program memory reports program_words as its pc).

Capability limits of a build stop as ILLEGAL_INSTRUCTION: QUANT/RMSNORM longer than max_length, MATVEC
with more than max_rows rows or more than max_cols columns.

Protocol. The host writes the program through `program_write` while the controller is not running,
then sends {program length, image length in bytes} on `start`; the image header is checked (`check`:
hw.image_check, an error stops with its code at pc 0), then execution begins at pc 0. `status` tells the state
(idle, running, waiting for the host, halted, error), the error code and the pc. `stop` ends a RECV
wait (no unit is busy then) or clears a halt or error, back to idle.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream
from amaranth.lib.wiring import In, Out

from assembler import isa

from golden.packing import TritFormat

from . import decode
from .component import CheckedComponent
from .data_mover import MoveCommand, MoveOp
from .image_reader import ADDRESS_BITS, ReadLayout
from .matvec_unit import MatVecCommand, PrefetchLayout
from .norm_unit import NormCommand, QuantState
from .rsqrt import SFloatLayout
from .sequencing import dispatch, dispatch_states, offer
from .vector_unit import VectorCommand, VectorOp
from .vmem import check_vector_width, check_vmem_words

INSTRUCTION_BITS = decode.INSTRUCTION_BITS


class State(enum.Enum, shape=3):
    IDLE = 0
    RUNNING = 1
    WAITING = 2         # RECV with nothing from the host
    HALTED = 3
    ERROR = 4


class Activity(enum.Enum, shape=3):
    """What the controller spends the current cycle on (performance counters; they partition time)."""
    IDLE = 0            # not running
    CHECK = 7           # validating the image header at start (hw.image_check)
    CONTROL = 1         # fetch, decode, execute of every instruction; scalar and control instructions
    HOST = 2            # RECV / SEND: waiting for or handing over a host word
    VECTOR = 3          # a vector-unit instruction
    NORM = 4            # QUANT / RMSNORM
    MATVEC = 5
    MOVE = 6            # EMBED, VLOAD, SENDV


class StatusLayout(data.StructLayout):
    def __init__(self, program_words: int):
        super().__init__({"state": State, "error": unsigned(4), "pc": range(program_words + 1)})


class Controller(CheckedComponent):
    """Parameters
    program_words: program memory depth (instructions).
    vmem_words: VMEM depth (words); vector operands beyond it stop with VMEM_OUT_OF_RANGE.

    Ports
    program_write: write port of the program memory (128-bit instructions), for the host.
    start: stream of the program length (instructions); starts execution at pc 0.
    host_in / host_out: streams of 32-bit words (RECV / SEND).
    vector / vector_done: the vector unit's command and done streams.
    status: StatusLayout.  scale: the S register (SFloatLayout), for the BitLinear units.
    """

    @classmethod
    def check_parameters(cls, *, program_words, vmem_words, vector_width=1, **_):
        if not isinstance(program_words, int) or not 2 <= program_words <= 1 << 16:
            raise ValueError(f"program_words must be in 2..65536, got {program_words!r}")
        check_vector_width(vector_width)
        check_vmem_words(vmem_words, vector_width)

    def __init__(self, *, program_words: int, vmem_words: int, max_length: int = 64, max_cols: int = 64,
                 max_rows: int = 256, trit_format: TritFormat = TritFormat.TRITS_2BIT, vector_width: int = 1):
        self.program_words = program_words
        self.vmem_words = vmem_words
        self.max_length, self.max_cols, self.max_rows = max_length, max_cols, max_rows
        self.trit_format, self.vector_width = trit_format, vector_width
        super().__init__({
            "program_write": Out(memory.WritePort.Signature(addr_width=(program_words - 1).bit_length(),
                                                            shape=INSTRUCTION_BITS)),
            "start": In(stream.Signature(data.StructLayout({"length": range(program_words + 1),
                                                            "image_bytes": ADDRESS_BITS}))),
            "host_in": In(stream.Signature(32)),
            "host_out": Out(stream.Signature(32)),
            "vector": Out(stream.Signature(VectorCommand(vmem_words))),
            "vector_done": In(stream.Signature(range(isa.MAX_VL + 1))),
            "norm": Out(stream.Signature(NormCommand(vmem_words, max_length))), "norm_done": In(stream.Signature(0)),
            "norm_read": Out(stream.Signature(ReadLayout())),
            "quant": In(QuantState()),
            "matvec": Out(stream.Signature(MatVecCommand(vmem_words, max_rows))), "matvec_done": In(stream.Signature(0)),
            "matvec_error": In(1), "matvec_mismatch": In(1),
            "prefetch": Out(stream.Signature(PrefetchLayout(max_rows, max_cols))),
            "prefetched": In(range(isa.PREFETCH_DEPTH + 1)),
            "mover": Out(stream.Signature(MoveCommand(vmem_words))), "mover_done": In(stream.Signature(0)),
            "check": Out(stream.Signature(data.StructLayout({"image_bytes": ADDRESS_BITS}))),
            "check_done": In(stream.Signature(data.StructLayout({"code": isa.ErrorCode}))),
            "stop": In(1),                  # leave a RECV wait (or a halt / error) for IDLE
            "status": Out(StatusLayout(program_words)),
            "executing": Out(1),            # one cycle per instruction executed (performance counters)
            "activity": Out(Activity),
            "scale": Out(SFloatLayout()),
        })

    def elaborate(self, platform):
        m = Module()
        program = memory.Memory(shape=INSTRUCTION_BITS, depth=self.program_words, init=[])
        m.submodules.program = program
        write = program.write_port()
        fetch = program.read_port(domain="sync")
        m.d.comb += [write.addr.eq(self.program_write.addr), write.data.eq(self.program_write.data),
                     write.en.eq(self.program_write.en)]

        state = Signal(State)
        error = Signal(4)
        pc = Signal(range(self.program_words + 1))
        length = Signal(range(self.program_words + 1))
        instruction = Signal(INSTRUCTION_BITS)
        registers = [Signal(signed(isa.SCALAR_BITS), name=f"r{i}") for i in range(isa.SCALAR_REGISTERS)]
        vector_length = Signal(range(isa.MAX_VL + 1), init=1)
        image_bytes = Signal(ADDRESS_BITS)
        quant_valid = Signal()                              # a QUANT has run: MATVEC has activations
        scale = Signal(SFloatLayout())
        m.d.comb += [self.status.state.eq(state), self.status.error.eq(error), self.status.pc.eq(pc),
                     self.scale.eq(scale)]

        def field(name):
            spec = isa.FIELDS[name]
            value = instruction[32 * spec.word + spec.low:32 * spec.word + spec.low + spec.bits]
            return value.as_signed() if spec.signed else value

        opcode = field("opcode")
        rd, rs = field("rd"), field("rs")
        rs_value = Signal(signed(isa.SCALAR_BITS))
        with m.Switch(rs):
            for index, register in enumerate(registers):
                with m.Case(index):
                    m.d.comb += rs_value.eq(register)

        def write_rd(value):
            with m.Switch(rd):
                for index, register in enumerate(registers):
                    with m.Case(index):
                        m.d.sync += register.eq(value)

        legal = decode.legal(m, instruction, opcode, field)
        aligned = decode.aligned(m, opcode, field, self.vector_width)

        # PREPARE registers what EXECUTE decides on, so that no multiply or wide compare precedes its
        # decision in one cycle: legality, EMBED's row address, MATVEC's matrix size in bytes.
        legal_r = Signal()
        per_byte = self.trit_format.trits_per_byte
        row_address = field("w0") + ((vector_length * rs_value.as_unsigned()[:16]) << 1)
        matrix_bytes = field("c") * ((self.quant.length + per_byte - 1) // per_byte)
        prefetch_bytes = field("c") * ((field("b") + per_byte - 1) // per_byte)
        embed_row, matvec_bytes = Signal(row_address.shape()), Signal(matrix_bytes.shape())
        prefetch_bytes_r = Signal(prefetch_bytes.shape())
        aligned_r = Signal()
        prepared = [legal_r.eq(legal), embed_row.eq(row_address), matvec_bytes.eq(matrix_bytes),
                    prefetch_bytes_r.eq(prefetch_bytes), aligned_r.eq(aligned)]

        # Vector operands: word address = field * VMEM_ALIGN; every operand the op reads or writes must fit.
        def vector_address(name):
            return Cat(Const(0, (isa.VMEM_ALIGN - 1).bit_length()), field(name))

        def fits(name):
            return vector_address(name) + vector_length <= self.vmem_words

        def image_fits(address, nbytes):
            return (address + nbytes) <= image_bytes

        def stop(code: isa.ErrorCode):
            m.d.sync += [state.eq(State.ERROR), error.eq(code)]

        vector_ops = {op.mnemonic: op for op in isa.OPS.values() if op.mnemonic in VectorOp.__members__}
        self._commands(m, opcode, field, vector_address, vector_length, rs_value, embed_row, image_bytes)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += self.start.ready.eq(1)
                with m.If(self.stop):
                    m.d.sync += state.eq(State.IDLE)
                with m.Elif(self.start.valid):
                    m.d.sync += [length.eq(self.start.payload.length), image_bytes.eq(self.start.payload.image_bytes),
                                 quant_valid.eq(0), pc.eq(0), state.eq(State.RUNNING),
                                 error.eq(isa.ErrorCode.NONE), vector_length.eq(1)]
                    m.next = "CHECK"
            with dispatch(m, "CHECK", command=self.check, done=self.check_done):
                with m.If(self.check_done.payload.code != isa.ErrorCode.NONE):
                    stop(self.check_done.payload.code)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += fetch.addr.eq(pc)
                with m.If(pc >= length):
                    stop(isa.ErrorCode.PC_OUT_OF_RANGE)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "DECODE"
            with m.State("DECODE"):
                m.d.sync += instruction.eq(fetch.data)
                m.next = "PREPARE"
            with m.State("PREPARE"):
                m.d.sync += prepared
                m.next = "EXECUTE"
            with m.State("EXECUTE"):
                m.d.comb += self.executing.eq(1)
                next_pc = pc + 1
                with m.If(~legal_r):
                    stop(isa.ErrorCode.ILLEGAL_INSTRUCTION)
                    m.next = "IDLE"
                with m.Elif(~aligned_r):
                    stop(isa.ErrorCode.VMEM_MISALIGNED)
                    m.next = "IDLE"
                with m.Else():
                    with m.Switch(opcode):
                        with m.Case(isa.OPS["NOP"].opcode):
                            m.d.sync += pc.eq(next_pc)
                            m.next = "FETCH"
                        with m.Case(isa.OPS["HALT"].opcode):
                            m.d.sync += state.eq(State.HALTED)
                            m.next = "IDLE"
                        with m.Case(isa.OPS["JMP"].opcode):
                            m.d.sync += pc.eq(Mux(field("w0") > self.program_words, self.program_words, field("w0")))
                            m.next = "FETCH"
                        with m.Case(isa.OPS["BZ"].opcode, isa.OPS["BNZ"].opcode):
                            taken = (rs_value == 0) == (opcode == isa.OPS["BZ"].opcode)
                            target = Mux(field("w0") > self.program_words, self.program_words, field("w0"))
                            m.d.sync += pc.eq(Mux(taken, target, next_pc))
                            m.next = "FETCH"
                        with m.Case(isa.OPS["LI"].opcode):
                            write_rd(field("w1_signed"))
                            m.d.sync += pc.eq(next_pc)
                            m.next = "FETCH"
                        with m.Case(isa.OPS["ADDI"].opcode):
                            write_rd((rs_value + field("w1_signed"))[:isa.SCALAR_BITS])
                            m.d.sync += pc.eq(next_pc)
                            m.next = "FETCH"
                        with m.Case(isa.OPS["SETLEN"].opcode):
                            m.d.sync += [vector_length.eq(field("w0")), pc.eq(next_pc)]
                            m.next = "FETCH"
                        with m.Case(isa.OPS["SETSCALE"].opcode):
                            m.d.sync += [scale.m.eq(field("w1_mant")), scale.e.eq(field("w1_exp")), pc.eq(next_pc)]
                            m.next = "FETCH"
                        with m.Case(isa.OPS["RECV"].opcode):
                            m.d.sync += state.eq(State.WAITING)
                            m.next = "RECV"
                        with m.Case(isa.OPS["SEND"].opcode):
                            m.next = "SEND"
                        for mnemonic, op in vector_ops.items():
                            with m.Case(op.opcode):
                                names = [o.field for o in op.operands if o.kind is isa.Kind.VREG]
                                in_range = Const(1)
                                for name in names:
                                    in_range &= fits(name)
                                with m.If(~in_range):
                                    stop(isa.ErrorCode.VMEM_OUT_OF_RANGE)
                                    m.next = "IDLE"
                                with m.Else():
                                    m.next = "VECTOR"
                        self._execute_data(m, opcode, field, fits, image_fits, stop, rs_value, vector_length,
                                           quant_valid, embed_row, matvec_bytes, prefetch_bytes_r)
            with m.State("RECV"):
                m.d.comb += self.host_in.ready.eq(~self.stop)
                with m.If(self.stop):
                    m.d.sync += state.eq(State.IDLE)
                    m.next = "IDLE"
                with m.Elif(self.host_in.valid):
                    write_rd(self.host_in.payload.as_signed())
                    m.d.sync += [pc.eq(pc + 1), state.eq(State.RUNNING)]
                    m.next = "FETCH"
            with m.State("SEND"):
                m.d.comb += [self.host_out.valid.eq(1), self.host_out.payload.eq(rs_value)]
                with m.If(self.host_out.ready):
                    m.d.sync += pc.eq(pc + 1)
                    m.next = "FETCH"
            with dispatch(m, "VECTOR", command=self.vector, done=self.vector_done):
                with m.If(opcode == isa.OPS["ARGMAX"].opcode):
                    write_rd(self.vector_done.payload)
                m.d.sync += pc.eq(pc + 1)
                m.next = "FETCH"
            self._data_states(m, opcode, field, vector_length, quant_valid, stop, pc)
        # Every state but IDLE belongs to one activity; a unit's two states are those dispatch() defines.
        activities = {Activity.CHECK: dispatch_states("CHECK"),
                      Activity.CONTROL: ("FETCH", "DECODE", "PREPARE", "EXECUTE"), Activity.HOST: ("RECV", "SEND"),
                      Activity.VECTOR: dispatch_states("VECTOR"),
                      Activity.NORM: ("NORM_READ", *dispatch_states("NORM")),
                      Activity.MATVEC: ("PREFETCH", *dispatch_states("MATVEC")), Activity.MOVE: dispatch_states("MOVE")}
        listed, defined = [state for states in activities.values() for state in states], set(fsm.encoding) - {"IDLE"}
        assert sorted(listed) == sorted(defined), f"activities list {sorted(listed)}, the FSM has {sorted(defined)}"
        for activity, states in activities.items():
            with m.If(Cat(fsm.ongoing(state) for state in states).any()):
                m.d.comb += self.activity.eq(activity)
        return m

    def _execute_data(self, m, opcode, field, fits, image_fits, stop, token, vector_length, quant_valid, embed_row,
                      matvec_bytes, prefetch_bytes):
        """EXECUTE for QUANT, RMSNORM, MATVEC, EMBED, VLOAD, SENDV: the checks in the ISS's order, then
        the dispatch state. (`fits` checks a vector operand against VL; MATVEC's destination uses rows.)"""
        E = isa.ErrorCode
        ops = isa.OPS
        vl = vector_length

        def check(*rules):
            """rules: (condition that must hold, error) in order; dispatch to `state` when all hold."""
            def go(state):
                for index, (ok, code) in enumerate(rules):
                    ctx = m.If(~ok) if index == 0 else m.Elif(~ok)
                    with ctx:
                        stop(code)
                        m.next = "IDLE"
                with m.Else():
                    m.next = state
            return go

        with m.Case(ops["QUANT"].opcode, ops["RMSNORM"].opcode):
            is_rms = opcode == ops["RMSNORM"].opcode
            check((vl <= self.max_length, E.ILLEGAL_INSTRUCTION), (fits("b"), E.VMEM_OUT_OF_RANGE),
                  (image_fits(field("w0"), vl << 2), E.IMAGE_OUT_OF_RANGE),
                  (~is_rms | fits("a"), E.VMEM_OUT_OF_RANGE))("NORM_READ")
        with m.Case(ops["MATVEC"].opcode):
            cols = self.quant.length
            rows = field("c")
            vd_end = Signal(range(isa.VMEM_WORDS + (1 << 16) + 1))
            m.d.comb += vd_end.eq((field("a") << 2) + rows)
            check((quant_valid, E.NO_QUANT),
                  ((rows <= self.max_rows) & (cols <= self.max_cols), E.ILLEGAL_INSTRUCTION),
                  (image_fits(field("w0"), matvec_bytes), E.IMAGE_OUT_OF_RANGE),
                  (vd_end <= self.vmem_words, E.VMEM_OUT_OF_RANGE))("MATVEC")
        with m.Case(ops["PREFETCH"].opcode):
            check(((field("c") <= self.max_rows) & (field("b") <= self.max_cols), E.ILLEGAL_INSTRUCTION),
                  (self.prefetched != isa.PREFETCH_DEPTH, E.BAD_PREFETCH),
                  (image_fits(field("w0"), prefetch_bytes), E.IMAGE_OUT_OF_RANGE))("PREFETCH")
        with m.Case(ops["EMBED"].opcode):
            rows = field("c")
            check(((token >= 0) & (token < rows), E.BAD_TOKEN),
                  (image_fits(embed_row, vl << 1), E.IMAGE_OUT_OF_RANGE),
                  (image_fits(field("w1") + token.as_unsigned()[:16], 1), E.IMAGE_OUT_OF_RANGE),
                  (fits("a"), E.VMEM_OUT_OF_RANGE))("MOVE")
        with m.Case(ops["VLOAD"].opcode):
            check((image_fits(field("w0"), vl << 2), E.IMAGE_OUT_OF_RANGE), (fits("a"), E.VMEM_OUT_OF_RANGE))("MOVE")
        with m.Case(ops["SENDV"].opcode):
            check((fits("b"), E.VMEM_OUT_OF_RANGE))("MOVE")

    def _commands(self, m, opcode, field, vector_address, vector_length, token, embed_row, image_bytes):
        """The command payloads of the units, from the instruction being executed: driven in every state,
        they count only while the command is offered (hw.sequencing.dispatch)."""
        ops = isa.OPS
        m.d.comb += self.check.payload.image_bytes.eq(image_bytes)
        m.d.comb += self.vector.payload.length.eq(vector_length)
        self._vector_operands(m, opcode, vector_address)
        cmd = self.norm.payload
        m.d.comb += [cmd.opcode.eq(opcode), cmd.length.eq(vector_length),
                     cmd.d.eq(vector_address("a")), cmd.x.eq(vector_address("b")), cmd.eps.eq(field("w1")),
                     cmd.norm_exp.eq(field("c_exp"))]
        cmd = self.matvec.payload
        m.d.comb += [cmd.d.eq(vector_address("a")), cmd.trits.eq(field("w0")), cmd.rows.eq(field("c"))]
        cmd = self.prefetch.payload
        m.d.comb += [cmd.trits.eq(field("w0")), cmd.rows.eq(field("c")), cmd.cols.eq(field("b"))]
        cmd = self.mover.payload
        token16 = token.as_unsigned()[:16]
        m.d.comb += cmd.length.eq(vector_length)
        with m.Switch(opcode):
            with m.Case(ops["VLOAD"].opcode):
                m.d.comb += [cmd.opcode.eq(MoveOp.VLOAD), cmd.d.eq(vector_address("a")), cmd.src.eq(field("w0"))]
            with m.Case(ops["EMBED"].opcode):
                m.d.comb += [cmd.opcode.eq(MoveOp.EMBED), cmd.d.eq(vector_address("a")),
                             cmd.src.eq(embed_row),
                             cmd.exp_addr.eq(field("w1") + token16)]
            with m.Case(ops["SENDV"].opcode):
                m.d.comb += [cmd.opcode.eq(MoveOp.SENDV), cmd.d.eq(vector_address("b"))]

    def _data_states(self, m, opcode, field, vector_length, quant_valid, stop, pc):
        ops = isa.OPS
        # QUANT / RMSNORM: ask for the norm weights, then start the unit, then wait.
        with offer(m, "NORM_READ", command=self.norm_read, next_state="NORM"):
            m.d.comb += [self.norm_read.payload.addr.eq(field("w0")),
                         self.norm_read.payload.length.eq(vector_length << 2), self.norm_read.payload.rows.eq(1)]
        with dispatch(m, "NORM", command=self.norm, done=self.norm_done):
            with m.If(opcode == ops["QUANT"].opcode):
                m.d.sync += quant_valid.eq(1)
            m.d.sync += pc.eq(pc + 1)
            m.next = "FETCH"
        with offer(m, "PREFETCH", command=self.prefetch, next_state="FETCH"):
            with m.If(self.prefetch.ready):
                m.d.sync += pc.eq(pc + 1)
        with dispatch(m, "MATVEC", command=self.matvec, done=self.matvec_done):
            with m.If(self.matvec_mismatch):
                stop(isa.ErrorCode.BAD_PREFETCH)
                m.next = "IDLE"
            with m.Elif(self.matvec_error):
                stop(isa.ErrorCode.BAD_TRITS)
                m.next = "IDLE"
            with m.Else():
                m.d.sync += pc.eq(pc + 1)
                m.next = "FETCH"
        with dispatch(m, "MOVE", command=self.mover, done=self.mover_done):
            m.d.sync += pc.eq(pc + 1)
            m.next = "FETCH"

    def _vector_operands(self, m, opcode, vector_address):
        """ISA operands -> the vector unit's d, x, y, z (see hw.vector_unit: VMULADD's x is the state vd)."""
        cmd = self.vector.payload
        m.d.comb += cmd.opcode.eq(opcode)
        with m.Switch(opcode):
            for op in isa.OPS.values():
                if op.mnemonic not in VectorOp.__members__:
                    continue
                fields = {o.name: o.field for o in op.operands if o.kind is isa.Kind.VREG}
                roles = {"VADD": dict(d="vd", x="va", y="vb"), "VMUL": dict(d="vd", x="va", y="vb"),
                         "VMULADD": dict(d="vd", x="vd", y="va", z="vb"), "ARGMAX": dict(x="vs"),
                         "VZERO": dict(d="vd")}.get(op.mnemonic, dict(d="vd", x="vs"))
                with m.Case(op.opcode):
                    for role, operand in roles.items():
                        m.d.comb += getattr(cmd, role).eq(vector_address(fields[operand]))
