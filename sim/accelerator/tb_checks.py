"""cocotb: the data instructions' checks on the whole accelerator stop as the ISS stops (beside tb_accelerator, on
its builds).

Short programs, each started afresh on the image of tb_accelerator's model: first one that passes every check
(EMBED, QUANT, MATVEC, RMSNORM, VSTORE to the work area and VLOAD back: every VMEM word against the ISS), then one
program per check of EMBED, VLOAD / VLOADX, VSTORE, SENDV, QUANT, RMSNORM, MATVEC and PREFETCH, some failing two
checks at once (the first in the ISS's order must win), the prefetch queue's overflow last (it leaves the queue
full). Against assembler.iss on the same program and image: the final state, the error code and its pc. The
build's capability limits (QUANT longer than max_length, MATVEC / PREFETCH beyond max_rows), which the ISS does not
model, stop as ILLEGAL_INSTRUCTION at that instruction (hw.controller).
"""

import os
import random

import cocotb
import numpy as np

from assembler.asm import assemble
from assembler.compiler import compile_model
from assembler.isa import ADDRESS_SPACE, PREFETCH_DEPTH, ErrorCode
from assembler.iss import InstructionSetSimulator
from hw.controller import State
from sim.accelerator.harness import accelerator_for
from sim.accelerator.tb_accelerator import (CONFIG, EMIT_LOGITS, FORMAT, LANES, LOGITS_CHUNK, MEMORY_PORT,
                                            PREFETCH_BYTES, SEED, STATES_IN_MEMORY, VECTOR_WIDTH, attach_memory,
                                            iss_outcome, reset_with_model, run_to_stop)
from sim.host_link import HostLink
from sim.vmem import fill, read_all


@cocotb.test()
async def data_checks_stop_as_the_iss_does(dut):
    qmodel, image, info = await reset_with_model(dut)
    compiled = compile_model(info, emit_logits=EMIT_LOGITS, logits_chunk=LOGITS_CHUNK, states_in_memory=STATES_IN_MEMORY)
    accelerator = accelerator_for(CONFIG, compiled, trit_format=FORMAT, memory=os.environ["MEMORY"], lanes=LANES,
                                  vector_width=VECTOR_WIDTH, prefetch_bytes=PREFETCH_BYTES)
    controller = accelerator.controller
    # the work area: what the program would use, and room for this test's VSTORE
    memory = attach_memory(dut, image + bytes(max(compiled.memory_bytes - len(image), 0) + 4096),
                           random.Random(SEED + 1))
    sections = {s.kind.name: s for s in reversed(info.sections)}          # the first of each kind
    matrix, norm = sections["TRITS"].offset, sections["NORM_WEIGHT"].offset
    mant, exps = sections["EMBED_MANTISSAS"].offset, sections["EMBED_EXPONENTS"].offset
    d, vocab, words, n = info.config.hidden_size, info.config.vocab_size, accelerator.vmem_words, len(image)
    assert d > 32 and words % 64 == 0
    beyond = words - 32                     # aligned for every V the benches build; d words from it leave VMEM
    embed = (lambda token, vd=0, mantissas=mant, exponents=exps:           # noqa: E731
             f"LI r1, {token}\nSETLEN {d}\nEMBED {vd}, r1, {vocab}, 0x{mantissas:x}, 0x{exponents:x}")
    quant = lambda vs=0, weights=norm: f"SETLEN {d}\nQUANT {vs}, 0x{weights:x}, -8, 3, 0"      # noqa: E731
    matvec = lambda vd=128, trits=matrix, rows=8: f"MATVEC {vd}, 0x{trits:x}, {rows}, 1, 0"    # noqa: E731
    prefetch = lambda trits=matrix, rows=8: f"PREFETCH 0x{trits:x}, {rows}, {d}"               # noqa: E731
    # (source, the instruction a capability limit stops, counted from the end) - None: the ISS decides
    programs = [
        (f"{embed(3)}\n{quant()}\n{matvec()}\nRMSNORM 192, 0, 0x{norm:x}, -8, 3\nVSTORE 192, 0x{n:x}\n"
         f"VLOAD 256, 0x{n:x}\nHALT", None),
        (embed(vocab), None), (embed(-1), None),                                   # BAD_TOKEN
        (embed(3, mantissas=n - 16), None), (embed(3, exponents=n - 1), None),     # the row, the exponent byte
        (embed(3, vd=beyond), None), (embed(vocab, vd=beyond), None),              # VMEM; BAD_TOKEN first
        (f"SETLEN 8\nVLOAD 0, 0x{n - 16:x}", None),                                # across the image's end
        (f"SETLEN 8\nVLOAD 0, 0x{ADDRESS_SPACE - 16:x}", None),                    # across the address space's
        (f"SETLEN {d}\nVLOAD {beyond}, 0x{n:x}", None),
        (f"SETLEN {d}\nVLOAD {beyond}, 0x{n - 8:x}", None),                        # the image check first
        (f"LI r2, 16\nSETLEN 8\nVLOADX 0, 0x{n - 32:x}, r2", None),
        (f"SETLEN 8\nVSTORE 0, 0x0", None),                                        # into the image
        (f"SETLEN {d}\nVSTORE {beyond}, 0x{n:x}", None), (f"SETLEN {d}\nSENDV {beyond}", None),
        (quant(weights=n - 8), None), (quant(vs=beyond), None), (quant(vs=beyond, weights=n - 8), None),
        (f"SETLEN {controller.max_length + 1}\nQUANT 0, 0x{norm:x}, -8, 3, 0", 1),
        (f"SETLEN {d}\nRMSNORM {beyond}, 0, 0x{norm:x}, -8, 3", None),
        (matvec(), None),                                                          # NO_QUANT
        (f"{embed(3)}\n{quant()}\n{matvec(trits=n - 4)}", None),
        (f"{embed(3)}\n{quant()}\n{matvec(vd=beyond, rows=64)}", None),
        (f"{embed(3)}\n{quant()}\n{matvec(vd=beyond, rows=64, trits=n - 4)}", None),   # the image first
        (f"{embed(3)}\n{quant()}\n{matvec(rows=controller.max_rows + 1)}", 1),
        (prefetch(trits=n - 4), None), (prefetch(rows=controller.max_rows + 1), 1),
        ("\n".join([prefetch()] * (PREFETCH_DEPTH + 1)), None),                  # BAD_PREFETCH: last
    ]
    link = HostLink(dut, random.Random(SEED), program_words=accelerator.program_words)
    await fill(dut, np.zeros(words, dtype=np.int64), prefix="vmem_")       # as the ISS starts
    for index, (source, limit) in enumerate(programs):
        program = assemble(source + ("" if source.endswith("HALT") else "\nHALT"), "<data checks>")
        assert len(program.instructions) <= accelerator.program_words
        iss = InstructionSetSimulator(program.instructions, image, info.trit_format, vmem_words=words,
                                      vector_width=VECTOR_WIDTH)
        want = (iss_outcome(iss) if limit is None else
                (State.ERROR, ErrorCode.ILLEGAL_INSTRUCTION, len(program.instructions) - 1 - limit))
        got = await run_to_stop(dut, link, program, n, accelerator.program_words)
        dut._log.info(f"program {index}: {got}, ISS {want}")
        assert got == want, f"program {index}:\n{source}\nstopped {got}, expected {want}"
        if index == 0:
            assert want[0] is State.HALTED, "the first program passes every check"
            vmem = await read_all(dut, words, prefix="vmem_")
            bad = np.nonzero(vmem != iss.vmem)[0]
            assert bad.size == 0, f"VMEM differs at {bad[:6].tolist()}: {vmem[bad[:6]].tolist()} vs {iss.vmem[bad[:6]].tolist()}"
        elif limit is None:
            assert want[0] is State.ERROR, f"program {index} was meant to fail a check:\n{source}"
    if MEMORY_PORT != "native":
        memory.check()
