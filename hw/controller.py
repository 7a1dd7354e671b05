"""`Controller`: fetches and executes the instruction stream (assembler.isa), sequencing the units.

    program memory ─► fetch ─► decode + legality ─► execute: scalar registers, branches, VL, S (here)
                                                           ├► vector unit (cmd / done)
                                                           └► host link (host_in / host_out words)

One instruction at a time: fetch (1 cycle, block RAM), decode (1: the instruction register), operands (1:
the rs register read, legality and the checks on fields, VL and the image length registered), prepare (1:
the checks on the scalar operand, the ADDI sum, the branch decision and the one multiply registered; see
hw.operands), execute (1 for scalar and control instructions; a vector instruction until the unit reports
done; RECV/SEND until the host link moves). Execute decides from those registers (and the product's one
compare), and the vector unit's and data mover's commands are registers: ISSUE_CYCLES = 5 per instruction.
Legality is decided from assembler.isa exactly as the disassembler decides it (opcode, no bits outside
the operand fields, SETLEN 1..MAX_VL, normalised SETSCALE, rows >= 1); range errors as the ISS raises
them. On an error the controller stops, holding the error code and the pc of the instruction (a jump
beyond the program memory reports program_words as its pc).

Capability limits of a build stop as ILLEGAL_INSTRUCTION: QUANT/RMSNORM longer than max_length, MATVEC
with more than max_rows rows or more than max_cols columns.

Batch: a build of `batch` B Q slots (assembler.isa) stops a QUANT or ARGMAX slot >= B or MATVEC slots > B with BAD_SLOT,
keeps a "quantised" and a "searched" flag per slot (with the norm unit's per-slot state, MATVEC's NO_QUANT: every slot it
serves quantised, all of slot 0's length), and checks the last slot's results (vd + (slots - 1) stride) against
VMEM; the QUANT's slot goes to the norm unit, MATVEC's slots and stride to the MATVEC unit.

Protocol. The host writes the program through `program_write` while the controller is not running,
then sends {program length, image length in bytes} on `start`; the image header is checked (`check`:
hw.image_check, an error stops with its code at pc 0), then execution begins at pc 0. `status` tells the state
(idle, running, waiting for the host, halted, error), the error code and the pc. `stop` ends a RECV
wait (no unit is busy then) or clears a halt or error, back to idle.
"""

from __future__ import annotations

import functools

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream
from amaranth.lib.wiring import In, Out

from assembler import isa

from golden.packing import TritFormat

from . import decode
from .component import CheckedComponent
from .data_mover import MoveCommand
from .image_reader import ADDRESS_BITS, ReadLayout
from .matvec_unit import MatVecCommand, PrefetchLayout
from .norm_unit import NormCommand, QuantState
from .operands import Operands
from .rsqrt import SFloatLayout
from .sequencing import dispatch, dispatch_states, offer
from .vector_unit import ARGMAX_INDEX, VectorCommand, VectorOp
from .ternary_engine import check_batch
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
    MOVE = 6            # EMBED, VLOAD, SENDV, VSTORE


class StatusLayout(data.StructLayout):
    def __init__(self, program_words: int):
        super().__init__({"state": State, "error": unsigned(4), "pc": range(program_words + 1)})


class Controller(CheckedComponent):
    """Parameters
    program_words: program memory depth (instructions).
    vmem_words: VMEM depth (words); vector operands beyond it stop with VMEM_OUT_OF_RANGE.
    batch: Q slots (1..isa.MAX_BATCH).

    Ports
    program_write: write port of the program memory (128-bit instructions), for the host.
    start: stream of the program length (instructions); starts execution at pc 0.
    host_in / host_out: streams of 32-bit words (RECV / SEND).
    vector / vector_done: the vector unit's command and done streams.
    status: StatusLayout.  scale: the S register (SFloatLayout), for the BitLinear units.
    """

    # The states every instruction walks before its unit (if any) takes over: its issue cost in cycles.
    ISSUE_STATES = ("FETCH", "DECODE", "OPERANDS", "PREPARE", "EXECUTE")
    ISSUE_CYCLES = len(ISSUE_STATES)

    @classmethod
    def check_parameters(cls, *, program_words, vmem_words, vector_width=1, batch=1, **_):
        check_batch(batch)
        if not isinstance(program_words, int) or not 2 <= program_words <= 1 << 16:
            raise ValueError(f"program_words must be in 2..65536, got {program_words!r}")
        check_vector_width(vector_width)
        check_vmem_words(vmem_words, vector_width)

    def __init__(self, *, program_words: int, vmem_words: int, max_length: int = 64, max_cols: int = 64,
                 max_rows: int = 256, trit_format: TritFormat = TritFormat.TRITS_2BIT, vector_width: int = 1,
                 batch: int = 1):
        self.program_words = program_words
        self.batch = batch          # Q slots: a QUANT slot or MATVEC slots beyond it stop with BAD_SLOT
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
            "vector_done": In(stream.Signature(ARGMAX_INDEX)),
            "norm": Out(stream.Signature(NormCommand(vmem_words, max_length, batch))),
            "norm_done": In(stream.Signature(0)),
            "norm_read": Out(stream.Signature(ReadLayout())),
            "quant": In(data.ArrayLayout(QuantState(), batch)),
            "matvec": Out(stream.Signature(MatVecCommand(vmem_words, max_rows, batch))),
            "matvec_done": In(stream.Signature(0)),
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
        quant_valid = Signal(self.batch)                    # per Q slot: a QUANT has run, MATVEC has activations
        scale = Signal(SFloatLayout())
        m.d.comb += [self.status.state.eq(state), self.status.error.eq(error), self.status.pc.eq(pc),
                     self.scale.eq(scale)]

        def field(name):
            spec = isa.FIELDS[name]
            value = instruction[32 * spec.word + spec.low:32 * spec.word + spec.low + spec.bits]
            return value.as_signed() if spec.signed else value

        opcode, rd = field("opcode"), field("rd")

        # Scalar results are written back a cycle late (a register of the value and of the enable): the
        # decisions of EXECUTE, RECV or a done handshake stay off the register file's enables. The next
        # instruction reads its operands two states (FETCH, DECODE) after, so it sees the value.
        writeback, writeback_rd, writeback_value = Signal(), Signal.like(rd), Signal(signed(isa.SCALAR_BITS))
        m.d.sync += writeback.eq(0)
        with m.If(writeback):
            with m.Switch(writeback_rd):
                for index, register in enumerate(registers):
                    with m.Case(index):
                        m.d.sync += register.eq(writeback_value)

        def write_rd(value):
            m.d.sync += [writeback.eq(1), writeback_rd.eq(rd), writeback_value.eq(value)]

        # OPERANDS and PREPARE register everything EXECUTE decides on and the units' command payloads.
        searched = Signal(self.batch)                       # per A slot: an ARGMAX / ARGMAXC into it ran since start
        ops = Operands(m, controller=self, instruction=instruction, field=field, registers=registers,
                       vector_length=vector_length, image_bytes=image_bytes, searched=searched, quant_valid=quant_valid)

        def stop(code: isa.ErrorCode):
            m.d.sync += [state.eq(State.ERROR), error.eq(code)]

        vector_ops = {op.mnemonic: op for op in isa.OPS.values() if op.mnemonic in VectorOp.__members__}
        self._commands(m, field, vector_length, image_bytes)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += self.start.ready.eq(1)
                with m.If(self.stop):
                    m.d.sync += state.eq(State.IDLE)
                with m.Elif(self.start.valid):
                    m.d.sync += [length.eq(self.start.payload.length), image_bytes.eq(self.start.payload.image_bytes),
                                 quant_valid.eq(0), searched.eq(0), pc.eq(0), state.eq(State.RUNNING),
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
                m.next = "OPERANDS"
            with m.State("OPERANDS"):
                m.d.sync += ops.operands_step
                m.next = "PREPARE"
            with m.State("PREPARE"):
                m.d.sync += ops.prepare_step
                m.next = "EXECUTE"
            with m.State("EXECUTE"):
                m.d.comb += self.executing.eq(1)
                next_pc = pc + 1
                with m.If(~ops.legal):
                    stop(isa.ErrorCode.ILLEGAL_INSTRUCTION)
                    m.next = "IDLE"
                with m.Elif(~ops.aligned):
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
                            m.d.sync += pc.eq(ops.jump_target)
                            m.next = "FETCH"
                        with m.Case(isa.OPS["BZ"].opcode, isa.OPS["BNZ"].opcode):
                            m.d.sync += pc.eq(Mux(ops.branch_taken, ops.jump_target, next_pc))
                            m.next = "FETCH"
                        with m.Case(isa.OPS["LI"].opcode):
                            write_rd(field("w1_signed"))
                            m.d.sync += pc.eq(next_pc)
                            m.next = "FETCH"
                        with m.Case(isa.OPS["ADDI"].opcode):
                            write_rd(ops.addi_sum)
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
                                in_range = Cat(ops.fits[name] for name in names).all()
                                slot_ok = ops.argmax_slot_ok if mnemonic in ("ARGMAX", "ARGMAXC") else Const(1, 1)
                                with m.If(~slot_ok):
                                    stop(isa.ErrorCode.BAD_SLOT)
                                    m.next = "IDLE"
                                with m.Elif(~in_range):
                                    stop(isa.ErrorCode.VMEM_OUT_OF_RANGE)
                                    m.next = "IDLE"
                                with m.Else():
                                    m.next = "VECTOR"
                        self._execute_data(m, opcode, ops, stop, quant_valid)
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
                m.d.comb += [self.host_out.valid.eq(1), self.host_out.payload.eq(ops.token)]
                with m.If(self.host_out.ready):
                    m.d.sync += pc.eq(pc + 1)
                    m.next = "FETCH"
            with dispatch(m, "VECTOR", command=self.vector, done=self.vector_done):
                with m.If((opcode == isa.OPS["ARGMAX"].opcode) | (opcode == isa.OPS["ARGMAXC"].opcode)):
                    write_rd(self.vector_done.payload)
                    m.d.sync += searched.eq(searched | (Const(1, self.batch) << field("rs")))
                m.d.sync += pc.eq(pc + 1)
                m.next = "FETCH"
            self._data_states(m, opcode, field, vector_length, quant_valid, stop, pc)
        # Every state but IDLE belongs to one activity; a unit's two states are those dispatch() defines.
        activities = {Activity.CHECK: dispatch_states("CHECK"),
                      Activity.CONTROL: self.ISSUE_STATES, Activity.HOST: ("RECV", "SEND"),
                      Activity.VECTOR: dispatch_states("VECTOR"),
                      Activity.NORM: ("NORM_READ", *dispatch_states("NORM")),
                      Activity.MATVEC: ("PREFETCH", *dispatch_states("MATVEC")), Activity.MOVE: dispatch_states("MOVE")}
        listed, defined = [state for states in activities.values() for state in states], set(fsm.encoding) - {"IDLE"}
        assert sorted(listed) == sorted(defined), f"activities list {sorted(listed)}, the FSM has {sorted(defined)}"
        for activity, states in activities.items():
            with m.If(Cat(fsm.ongoing(state) for state in states).any()):
                m.d.comb += self.activity.eq(activity)
        return m

    def _execute_data(self, m, opcode, ops, stop, quant_valid):
        """EXECUTE for QUANT, RMSNORM, MATVEC, PREFETCH, EMBED, VLOAD, SENDV, VSTORE: the checks (registered by
        OPERANDS / PREPARE, hw.operands) in the ISS's order, then the dispatch state."""
        E = isa.ErrorCode
        codes = isa.OPS

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

        with m.Case(codes["QUANT"].opcode, codes["RMSNORM"].opcode):
            is_rms = opcode == codes["RMSNORM"].opcode
            check((ops.slot_ok, E.BAD_SLOT), (ops.short, E.ILLEGAL_INSTRUCTION), (ops.fits["b"], E.VMEM_OUT_OF_RANGE),
                  (ops.words_fit, E.IMAGE_OUT_OF_RANGE), (~is_rms | ops.fits["a"], E.VMEM_OUT_OF_RANGE))("NORM_READ")
        with m.Case(codes["MATVEC"].opcode):
            check((ops.slots_ok, E.BAD_SLOT), (ops.quant_ok, E.NO_QUANT), (ops.matvec_shape, E.ILLEGAL_INSTRUCTION),
                  (ops.product_fits, E.IMAGE_OUT_OF_RANGE), (ops.matvec_dest_fits, E.VMEM_OUT_OF_RANGE))("MATVEC")
        with m.Case(codes["PREFETCH"].opcode):
            # the prefetch queue's level is the unit's, read as EXECUTE decides (as before the split)
            check((ops.prefetch_shape, E.ILLEGAL_INSTRUCTION), (self.prefetched != isa.PREFETCH_DEPTH, E.BAD_PREFETCH),
                  (ops.product_fits, E.IMAGE_OUT_OF_RANGE))("PREFETCH")
        with m.Case(codes["EMBED"].opcode):
            check((ops.token_ok, E.BAD_TOKEN), (ops.product_fits, E.IMAGE_OUT_OF_RANGE),
                  (ops.exponent_fits, E.IMAGE_OUT_OF_RANGE), (ops.fits["a"], E.VMEM_OUT_OF_RANGE))("MOVE")
        with m.Case(codes["VLOAD"].opcode, codes["VLOADX"].opcode):
            check((ops.external_in_image | ops.work_fits, E.IMAGE_OUT_OF_RANGE),
                  (ops.fits["a"], E.VMEM_OUT_OF_RANGE))("MOVE")
        with m.Case(codes["VSTORE"].opcode, codes["VSTOREX"].opcode):
            check((ops.work_fits, E.IMAGE_OUT_OF_RANGE), (ops.fits["b"], E.VMEM_OUT_OF_RANGE))("MOVE")
        with m.Case(codes["SENDV"].opcode):
            check((ops.fits["b"], E.VMEM_OUT_OF_RANGE))("MOVE")

    def _commands(self, m, field, vector_length, image_bytes):
        """The payloads of the units whose commands are fields of the instruction register as they stand
        (the vector unit's and the data mover's are chosen per opcode and registered: hw.operands)."""
        m.d.comb += self.check.payload.image_bytes.eq(image_bytes)
        vector_address = functools.partial(Operands.vector_address, field)
        cmd = self.norm.payload
        m.d.comb += [cmd.opcode.eq(field("opcode")), cmd.length.eq(vector_length),
                     cmd.d.eq(vector_address("a")), cmd.x.eq(vector_address("b")), cmd.eps.eq(field("w1")),
                     cmd.norm_exp.eq(field("c_exp"))]
        if self.batch > 1:
            m.d.comb += self.norm.payload.slot.eq(field("rd"))
        cmd = self.matvec.payload
        m.d.comb += [cmd.d.eq(vector_address("a")), cmd.trits.eq(field("w0")), cmd.rows.eq(field("c"))]
        if self.batch > 1:
            m.d.comb += [cmd.slots.eq(field("b")), cmd.stride.eq(vector_address("w1"))]
        cmd = self.prefetch.payload
        m.d.comb += [cmd.trits.eq(field("w0")), cmd.rows.eq(field("c")), cmd.cols.eq(field("b"))]

    def _data_states(self, m, opcode, field, vector_length, quant_valid, stop, pc):
        ops = isa.OPS
        # QUANT / RMSNORM: ask for the norm weights, then start the unit, then wait.
        with offer(m, "NORM_READ", command=self.norm_read, next_state="NORM"):
            m.d.comb += [self.norm_read.payload.addr.eq(field("w0")),
                         self.norm_read.payload.length.eq(vector_length << 2), self.norm_read.payload.rows.eq(1)]
        with dispatch(m, "NORM", command=self.norm, done=self.norm_done):
            for k in range(self.batch):
                with m.If((opcode == ops["QUANT"].opcode) & (field("rd") == k)):
                    m.d.sync += quant_valid[k].eq(1)
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
