"""cocotb testbench of the controller (with the vector unit and a VMEM) against the ISS.

Protocol checked: the program is written into program memory, VMEM is filled, the length is sent on
`start`; host words are offered on `host_in` with random gaps and taken from `host_out` with random
stalls, until the status says halted, error, or waiting with nothing left to send. Against
assembler.iss on the same program, VMEM and input: the words sent, the final state, error code and pc
(for errors), and every word of VMEM must agree.

The harness holds the controller and the vector unit (the image instructions run end to end in
sim/accelerator). Programs: a loop with scalar arithmetic and host echo; straight-line programs of random vector
instructions with random lengths and operands (and ARGMAX results sent back); single random instruction
words, legal and illegal (the controller must stop with ILLEGAL_INSTRUCTION exactly when
assembler.isa.decode rejects the word); jumps and vectors out of range.
"""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from assembler import isa
from assembler.asm import assemble
from assembler.iss import InstructionSetSimulator, IssError
from golden import formats as fmt
from golden.packing import TritFormat
from hw.controller import State
from hw.vector_unit import VectorOp
from sim.clocking import start_and_reset
from sim.coverage import Coverage
from sim.host_link import HostLink
from sim.vmem import fill, read_all

WORDS = int(os.environ["VMEM_WORDS"])
PROGRAM_WORDS = int(os.environ["PROGRAM_WORDS"])
VECTOR_WIDTH = int(os.environ.get("VECTOR_WIDTH", "1"))
# This harness has the vector unit only; the image instructions are exercised end to end in sim/accelerator.
NOT_IN_THIS_BUILD = {"QUANT", "MATVEC", "PREFETCH", "RMSNORM", "EMBED", "VLOAD", "VLOADX", "SENDV", "VSTORE", "VSTOREX"}


# The error codes this harness's programs can reach (the image's, the matrix ones and the slots' are the data
# path's: sim/accelerator, sim/matvec; VMEM_MISALIGNED needs V > 1).
REACHABLE_ERRORS = {isa.ErrorCode.ILLEGAL_INSTRUCTION, isa.ErrorCode.PC_OUT_OF_RANGE, isa.ErrorCode.VMEM_OUT_OF_RANGE,
                    isa.ErrorCode.BAD_SLOT} | ({isa.ErrorCode.VMEM_MISALIGNED} if VECTOR_WIDTH > 1 else set())
COVERAGE = Coverage(f"controller V{VECTOR_WIDTH}", {
    **{f"op {name}": f"{name} executed (the ISS's trace of a compared run)" for name in isa.OPS
       if name not in NOT_IN_THIS_BUILD},
    **{f"error {code.name}": f"a program stopped with {code.name}" for code in REACHABLE_ERRORS},
    **{f"outcome {name}": f"a run ended {name}" for name in ("HALTED", "WAITING", "ERROR", "illegal", "endless")},
})


def iss_outcome(instructions, vmem, inputs):
    iss = InstructionSetSimulator(instructions, b"", TritFormat.TRITS_2BIT, vmem_words=WORDS, vector_width=VECTOR_WIDTH,
                                  trace=True)
    iss.vmem[:] = vmem
    iss.send(*inputs)
    try:
        state = State.HALTED if iss.run(max_instructions=100_000) == "halted" else State.WAITING
        code, pc = isa.ErrorCode.NONE, None
    except IssError as error:
        state, code, pc = State.ERROR, error.code, error.pc
    for _, mnemonic, _ in iss.trace:
        COVERAGE.hit(f"op {mnemonic}")
    if code in REACHABLE_ERRORS:
        COVERAGE.hit(f"error {code.name}")
    return state, code, pc, iss.host_out, iss.vmem


async def run_on_dut(dut, words: list[bytes], vmem: np.ndarray, inputs: list[int], rng: random.Random,
                     max_cycles: int = 200_000):
    await FallingEdge(dut.clk)                      # a program left waiting is abandoned by a reset
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    for address, word in enumerate(words):
        await FallingEdge(dut.clk)
        dut.program_write__addr.value, dut.program_write__data.value = address, int.from_bytes(word, "little")
        dut.program_write__en.value = 1
    await FallingEdge(dut.clk)
    dut.program_write__en.value = 0
    await fill(dut, vmem, prefix="vmem_")
    dut.start__payload.value, dut.start__valid.value = len(words), 1
    await ReadOnly()
    assert dut.start__ready.value == 1
    await FallingEdge(dut.clk)
    dut.start__valid.value = 0
    link, quiet = HostLink(dut, rng, program_words=PROGRAM_WORDS, words=inputs, offer_rate=0.7, ready_rate=0.7), 0
    for _ in range(max_cycles):
        state, error, pc = await link.cycle()
        finished = state in (State.HALTED, State.ERROR) or (state is State.WAITING and not link.pending)
        quiet = quiet + 1 if finished else 0
        if quiet > 3:
            break
    else:
        if max_cycles == 200_000:
            raise AssertionError("the program neither finished nor waited")
    link.stop()
    sent = link.received
    got = await read_all(dut, WORDS, prefix="vmem_")
    return state, isa.ErrorCode(error), pc, sent, got


async def check(dut, label, instructions, vmem, inputs, rng):
    words = [ins.encode() if isinstance(ins, isa.Instruction) else ins for ins in instructions]
    decoded = []
    for word in words:
        try:
            instruction = isa.decode(word)
        except isa.DecodeError:
            instruction = None
        decoded.append(instruction)
    want_state, want_code, want_pc, want_sent, want_vmem = iss_outcome(
        [d if d is not None else isa.Instruction(isa.OPS["NOP"], ()) for d in decoded], vmem, inputs)
    first_illegal = next((i for i, d in enumerate(decoded) if d is None), None)
    endless = want_state is State.ERROR and want_code is isa.ErrorCode.NONE     # the ISS's instruction limit
    state, code, pc, sent, got_vmem = await run_on_dut(dut, words, vmem, inputs, rng,
                                                       max_cycles=3000 if endless else 200_000)
    if endless and first_illegal is None:
        assert state is State.RUNNING, f"{label}: an endless program stopped ({state.name}/{code.name})"
        # Stopped at an arbitrary point: what it sent so far is what the ISS sent first.
        assert sent == want_sent[:len(sent)], f"{label}: an endless program sent {sent}, ISS {want_sent[:len(sent)]}"
        return "endless"
    if first_illegal is not None and (want_state is not State.ERROR or want_pc >= first_illegal) \
            and code is isa.ErrorCode.ILLEGAL_INSTRUCTION and pc == first_illegal:
        # The ISS ran a NOP in its place; the controller must stop there, with what the ISS has done when it
        # first reaches that word (the ISS on the program with a HALT there).
        halted = [d if d is not None else isa.Instruction(isa.OPS["NOP"], ()) for d in decoded]
        halted[first_illegal] = isa.Instruction(isa.OPS["HALT"], ())
        _, _, _, until_sent, until_vmem = iss_outcome(halted, vmem, inputs)
        assert sent == until_sent, f"{label}: sent {sent} before the illegal word, ISS {until_sent}"
        bad = np.nonzero(got_vmem != until_vmem)[0]
        assert bad.size == 0, f"{label}: VMEM differs at {bad[:8].tolist()} when stopped at the illegal word"
        COVERAGE.hit("error ILLEGAL_INSTRUCTION")      # the ISS runs a NOP for a word it cannot decode
        return "illegal"
    assert (state, code) == (want_state, want_code), f"{label}: state {state.name}/{code.name}, ISS {want_state.name}/{want_code.name}"
    if want_state is State.ERROR:
        # A jump target past the program memory is reported as program_words (the pc register's limit).
        assert pc == min(want_pc, PROGRAM_WORDS), f"{label}: error at pc {pc}, ISS at {want_pc}"
    assert sent == want_sent, f"{label}: sent {sent}, ISS {want_sent}"
    bad = np.nonzero(got_vmem != want_vmem)[0]
    assert bad.size == 0, f"{label}: VMEM differs at {bad[:8].tolist()}"
    return state.name


def random_vector_program(rng: random.Random, nprng: np.random.Generator) -> list[isa.Instruction]:
    lines = []
    for _ in range(rng.randint(3, 10)):
        length = rng.choice([1, 3, 8, 17, 30])
        lines.append(f"SETLEN {length}")
        op = rng.choice(list(VectorOp))
        spec = isa.OPS[op.name]
        operands = []
        for operand in spec.operands:
            if operand.kind is isa.Kind.SREG:
                operands.append(f"r{rng.randint(1, 7)}")
            elif operand.name == "slot":            # ARGMAX's A slot: a build of batch 1 stops slot 1 (BAD_SLOT)
                operands.append(str(rng.choice([0, 0, 0, 0, 0, 0, 0, 1])))
            else:
                # Operands are equal or disjoint (the ISA leaves partial overlaps undefined): block starts.
                block = WORDS // 4
                operands.append(str(block * rng.randrange(4)))
        lines.append(f"{op.name} {', '.join(operands)}")
        if op in (VectorOp.ARGMAX, VectorOp.ARGMAXC):
            lines.append(f"SEND {operands[0]}")
    lines.append("HALT")
    return assemble("\n".join(lines)).instructions


def random_word(rng: random.Random) -> bytes:
    """A random instruction word, legal or not, that is not one of the ops this harness has no unit for."""
    while True:
        word = _random_word(rng)
        try:
            if isa.decode(word).op.mnemonic in NOT_IN_THIS_BUILD:
                continue
        except isa.DecodeError:
            pass
        return word


def _random_word(rng: random.Random) -> bytes:
    op = rng.choice([o for o in isa.OPS.values() if o.mnemonic not in NOT_IN_THIS_BUILD])
    args = tuple(rng.choice([r.start, r.stop - 1, rng.randrange(r.start, r.stop)])
                 for r in (isa.operand_range(o) for o in op.operands))
    word = bytearray(isa.INSTRUCTION.pack(*[0] * 4))
    try:
        word = bytearray(isa.Instruction(op, args).encode())
    except ValueError:
        pass
    if rng.random() < 0.5:                              # a stray bit, maybe outside the operand fields
        bit = rng.randrange(128)
        word[bit // 8] ^= 1 << (bit % 8)
    if rng.random() < 0.1:
        word[0] = rng.randrange(256)                    # any opcode
    return bytes(word)


@cocotb.test()
async def controller_matches_iss(dut):
    await start_and_reset(dut, low=("program_write__en", "start__valid", "host_in__valid", "host_out__ready",
                                    "vmem_write__en"))
    rng = random.Random(int(os.environ.get("SEED", "3")))
    nprng = np.random.default_rng(3)
    special = np.array([fmt.ACT_MIN, fmt.ACT_MAX, 0, fmt.ACT_ONE, -fmt.ACT_ONE, 1 << 20, -(1 << 25)], dtype=np.int64)

    def random_vmem():
        vmem = nprng.integers(-(8 << 16), 8 << 16, size=WORDS)
        mask = nprng.random(WORDS) < 0.15
        vmem[mask] = nprng.choice(special, size=int(mask.sum()))
        return vmem

    loop = assemble("""
            RECV r1            ; count
            RECV r2
            LI r3, 0
    again:  ADDI r3, r3, 7
            ADDI r2, r2, -3
            ADDI r1, r1, -1
            BNZ r1, again
            SEND r3
            SEND r2
            LI r4, 2147483647
            ADDI r4, r4, 1     ; wraps to -2**31
            SEND r4
            BZ r0, 0
            RECV r5            ; waits: nothing more is sent
    """).instructions
    outcomes = {}
    result = await check(dut, "loop", loop, random_vmem(), [5, 100], rng)
    outcomes[result] = outcomes.get(result, 0) + 1
    for trial in range(int(os.environ.get("VECTOR_PROGRAMS", "12"))):
        program = random_vector_program(rng, nprng)
        result = await check(dut, f"vector program {trial}", program, random_vmem(), [], rng)
        outcomes[result] = outcomes.get(result, 0) + 1
    errors = [assemble("JMP 40").instructions, assemble(f"SETLEN 8\nVADD {WORDS - 4}, 0, 0").instructions,
              assemble(f"SETLEN 8\nVZERO 0\nSETLEN 9\nVCOPY 0, {WORDS - 8}").instructions,
              [isa.Instruction(isa.OPS["NOP"], ())]]
    for index, program in enumerate(errors):
        result = await check(dut, f"error program {index}", program, random_vmem(), [], rng)
        outcomes[result] = outcomes.get(result, 0) + 1
    for trial in range(int(os.environ.get("RANDOM_WORDS", "60"))):
        word = random_word(rng)
        result = await check(dut, f"word {word.hex()}", [word, isa.Instruction(isa.OPS["HALT"], ()).encode()],
                             random_vmem(), [rng.randrange(1 << 32)], rng)
        outcomes[result] = outcomes.get(result, 0) + 1
    dut._log.info(f"outcomes: {outcomes}")
    for outcome in outcomes:
        COVERAGE.hit(f"outcome {outcome}")
    COVERAGE.finish()
    assert outcomes.get("illegal", 0) > 0 and outcomes.get("HALTED", 0) > 0 and outcomes.get("ERROR", 0) > 0
