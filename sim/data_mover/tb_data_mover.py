"""cocotb testbench of DataMover (VLOAD, EMBED, SENDV, VSTORE) with the image reader and the memory model.

Protocol checked: a command; image bytes arrive through the reader (latency, refresh gaps); `done`
with random delay; SENDV words taken with random stalls. References: VLOAD copies int32 words;
EMBED equals golden HardwareExactModel.embed's arithmetic (sat32(round_shift(m, -(e + 16)))) for
random rows, odd and even lengths, exponents that shift left and right, the int16 extremes; SENDV
sends exactly VMEM's words; VSTORE writes exactly their little-endian bytes to dst, dst + 1, ... in order
(its write channel stalled at random like the host). Every VMEM word is compared after every command.
WRITE_BYTES=4: VSTORE's writes are aligned words with byte masks, read back as the bytes they write (in order,
each exactly once); a word at an aligned dst must be one write, an unaligned one two.
"""

import os

import cocotb
import numpy as np

from golden import fixedpoint as fxp
from golden import formats as fmt
from hw.data_mover import MoveCommand, MoveOp
from sim.clocking import command_until_done, start_unit_test
from sim.coverage import Coverage
from sim.memory_model import MEMORIES, ExternalMemory
from sim.vmem import fill, read_all

WORDS = int(os.environ["VMEM_WORDS"])
MEMORY = MEMORIES[os.environ["MEMORY"]]
LANES = int(os.environ["VECTOR_WIDTH"])
WRITE_BYTES = int(os.environ.get("WRITE_BYTES", "1"))
CMD = MoveCommand(WORDS)
IMAGE_BYTES = 1 << 14


async def execute(dut, rng, **fields):
    """One command; (the words SENDV gave the host, the (address, byte) writes VSTORE made), both taken with
    the same random stalls as `done`."""
    sent, written, writes = [], [], []

    def drive(ready):
        dut.host_out__ready.value = int(ready)
        dut.mem_write__ready.value = int(ready)

    def sample(ready):
        if ready and dut.host_out__valid.value == 1:
            sent.append(dut.host_out__payload.value.to_signed())
        if ready and dut.mem_write__valid.value == 1:
            write = int(dut.mem_write__payload.value)
            address = write & 0xFFFFFFFF
            if WRITE_BYTES == 1:
                written.append((address, write >> 32))
                return
            assert address % 4 == 0, f"word write at the unaligned address {address:#x}"
            word, mask = (write >> 32) & 0xFFFFFFFF, write >> 64
            assert mask, "a word write of no byte"
            written.extend(((address + k) % (1 << 32), (word >> 8 * k) & 0xFF) for k in range(4) if mask >> k & 1)
            writes.append(address)

    payload = sum((v & ((1 << CMD[k].width) - 1)) << CMD[k].offset for k, v in fields.items())
    await command_until_done(dut, payload, rng, max_cycles=20_000, ready_rate=0.6, drive=drive, sample=sample)
    dut.host_out__ready.value = 0
    dut.mem_write__ready.value = 0
    if fields["opcode"] == MoveOp.VSTORE.value and WRITE_BYTES == 4:
        assert len(writes) == fields["length"] * (1 if fields["src"] % 4 == 0 else 2), \
            f"{len(writes)} word writes for {fields['length']} words at {fields['src']:#x}"
    return sent, written


COVERAGE = {
    **{f"op {op.name}": f"{op.name} executed" for op in MoveOp},
    "embed saturates +": "an EMBED element clamped to ACT_MAX (a left shift past 32 bits)",
    "embed saturates -": "an EMBED element clamped to ACT_MIN",
    "embed shifts left": "an EMBED row with e + 16 > 0", "embed rounds": "an EMBED row shifted right, bits dropped",
    "int16 extremes": "an EMBED row of -32768 / 32767", "length 1": "a one-word move",
    "length off the lanes": "a length not a multiple of V", "store at the top": "a VSTORE ending at 2**32",
    **({"aligned store": "a VSTORE to a multiple of 4 (a write a word)",
        "unaligned store": "a VSTORE off the words (two writes a word)"} if WRITE_BYTES == 4 else {}),
}


@cocotb.test()
async def data_moves_match_golden(dut):
    coverage = Coverage(f"data mover V{LANES}" + (" word writes" if WRITE_BYTES == 4 else ""), COVERAGE)
    rng, py_rng = await start_unit_test(dut, low=("cmd__valid", "done__ready", "host_out__ready", "mem_write__ready"),
                                        seed=31)
    image = bytearray(rng.integers(0, 256, size=IMAGE_BYTES, dtype=np.uint8).tobytes())
    vocab, width = 40, 21
    table_at, exps_at = 1001, 9001                          # unaligned on purpose
    table = rng.integers(-(1 << 15), 1 << 15, size=(vocab, width))
    table[0, :] = -(1 << 15)
    table[1, :] = (1 << 15) - 1
    exps = rng.integers(-40, 12, size=vocab)                 # e + 16 from -24 (right) to +27 (left, saturating)
    image[table_at:table_at + table.size * 2] = table.astype("<i2").tobytes()
    image[exps_at:exps_at + vocab] = exps.astype("i1").tobytes()
    memory = ExternalMemory(dut, bytes(image), MEMORY)
    memory.start()
    vmem = rng.integers(-(1 << 30), 1 << 30, size=WORDS)
    await fill(dut, vmem)
    for trial in range(int(os.environ.get("TRIALS", "24"))):
        op = [MoveOp.VLOAD, MoveOp.EMBED, MoveOp.SENDV, MoveOp.VSTORE][trial % 4]
        length = width if op is MoveOp.EMBED else int(rng.choice([1, 2, 7, 32, 60, LANES - 1 or 1, LANES + 1]))
        d = int(rng.integers(0, (WORDS - length) // LANES + 1)) * LANES       # rows: V-aligned
        coverage.hit(f"op {op.name}")
        coverage.hit("length 1", length == 1)
        coverage.hit("length off the lanes", length % LANES != 0 or LANES == 1)
        if op is MoveOp.VLOAD:
            src = int(rng.integers(0, IMAGE_BYTES - 4 * length))
            await execute(dut, py_rng, opcode=op.value, length=length, d=d, src=src, exp_addr=0)
            vmem[d:d + length] = np.frombuffer(bytes(image[src:src + 4 * length]), dtype="<i4")
        elif op is MoveOp.EMBED:
            token = int(rng.integers(0, vocab)) if trial > 2 else trial % 2
            await execute(dut, py_rng, opcode=op.value, length=length, d=d, src=table_at + 2 * width * token,
                          exp_addr=exps_at + token)
            shift = -(int(exps[token]) + fmt.ACT_FRAC)
            unsaturated = fxp.round_shift(table[token], shift)
            vmem[d:d + length] = fxp.saturate(unsaturated, fmt.ACT_BITS)
            coverage.hit("embed saturates +", unsaturated > fmt.ACT_MAX)
            coverage.hit("embed saturates -", unsaturated < fmt.ACT_MIN)
            coverage.hit("embed shifts left", shift < 0)
            coverage.hit("embed rounds", shift > 0 and (table[token] % (1 << shift) != 0).any())
            coverage.hit("int16 extremes", (np.abs(table[token]) >= (1 << 15) - 1).all())
        elif op is MoveOp.SENDV:
            sent, _ = await execute(dut, py_rng, opcode=op.value, length=length, d=d, src=0, exp_addr=0)
            assert sent == vmem[d:d + length].tolist(), f"trial {trial}: SENDV sent {sent[:6]}…"
        else:                                           # up to the top of the 32-bit address space
            dst = int(rng.choice([IMAGE_BYTES + int(rng.integers(0, 4096)), (1 << 32) - 4 * length]))
            _, written = await execute(dut, py_rng, opcode=op.value, length=length, d=d, src=dst, exp_addr=0)
            want = list(zip(range(dst, dst + 4 * length), vmem[d:d + length].astype("<i4").tobytes()))
            assert written == want, f"trial {trial}: VSTORE wrote {written[:6]}…, want {want[:6]}…"
            coverage.hit("store at the top", dst + 4 * length == 1 << 32)
            if WRITE_BYTES == 4:
                coverage.hit("aligned store" if dst % 4 == 0 else "unaligned store")
        got = await read_all(dut, WORDS)
        bad = np.nonzero(got != vmem)[0]
        assert bad.size == 0, f"trial {trial} {op.name}: VMEM differs at {bad[:6].tolist()}: {got[bad[:6]].tolist()} vs {vmem[bad[:6]].tolist()}"
    coverage.finish()
