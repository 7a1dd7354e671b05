"""cocotb testbench of ImageReader with the external-memory model (sim/memory_model.py).

Protocol checked: commands {addr, length, rows} queued with random gaps; the memory answers with its
latency, rate and refresh gaps and checks that no beat is refused; `data` drained with random stalls.
Every row must arrive as the image bytes of its range, in order, from a fresh word, its last word
zero-padded. Then long reads with a consumer that never stalls (one row; many short rows): cycle
counts against the slower of memory and consumer, no beat fetched twice, and the whole prefetch distance
(fifo_beats beats asked for and not yet arrived) reached: a burst is asked for as soon as there is room for it.
"""

import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from hw.image_reader import ReadLayout
from sim.clocking import start_and_reset
from sim.coverage import Coverage
from sim.memory_model import MEMORIES, ExternalMemory
from sim.xcheck import dont_care

MEM = MEMORIES[os.environ["MEMORY"]]
OUT_BYTES = int(os.environ["OUT_BYTES"])
FIFO_BEATS = int(os.environ["FIFO_BEATS"])       # the reader's prefetch distance (outstanding_beats: the same)
# The long read's row: 6,000 bytes, or 512 beats of a wide memory (its fixed ~30 cycles of latency in the reader
# would otherwise weigh more than 5 % against a few hundred beats: the throughput bound below).
LONG_ROW = 6000 if MEM.mem_bytes <= 16 else 512 * MEM.mem_bytes
IMAGE_BYTES = 8192 + (LONG_ROW if LONG_ROW > 6000 else 0)
READ = ReadLayout()
COVERAGE = {
    "length 0": "a command of zero-byte rows: nothing read, nothing delivered",
    "rows 0": "a command of no rows",
    "length 1": "one-byte rows: a word of one byte and padding",
    "length a word": "rows of exactly one output word",
    "length a word + 1": "rows one byte past a word: the last word holds one byte",
    "rows many": "a command of several rows, each from a fresh word",
    "row ends mid-beat": "a row whose end falls inside a memory beat: the next row starts in the same beat",
    "address unaligned": "a read starting inside a memory beat",
    "address aligned": "a read starting on a memory beat",
    "command waits": "a command offered while the reader is busy (cmd.ready low)",
    "consumer stalls": "a word offered while the consumer is not ready",
    "a long row": "a row spanning more than a hundred memory beats",
}


async def read(dut, jobs, rng, ready_rate, coverage):
    """Offer every job (addr, length, rows), drain every word; returns (words per job, cycles)."""
    expected_words = [rows * -(-length // OUT_BYTES) for _, length, rows in jobs]
    words, queue, cycles = [], list(jobs), 0
    while len(words) < sum(expected_words):
        offer = bool(queue) and rng.random() < 0.8
        if offer:
            fields = dict(zip(("addr", "length", "rows"), queue[0]))
            dut.cmd__payload.value = sum(value << READ[name].offset for name, value in fields.items())
        else:
            dont_care(dut.cmd__payload)
        dut.cmd__valid.value = int(offer)
        ready = rng.random() < ready_rate
        dut.data__ready.value = int(ready)
        await ReadOnly()
        if offer and dut.cmd__ready.value == 1:
            queue.pop(0)
        coverage.hit("command waits", offer and dut.cmd__ready.value == 0)
        coverage.hit("consumer stalls", not ready and dut.data__valid.value == 1)
        if ready and dut.data__valid.value == 1:
            words.append(int(dut.data__payload.value))
        await FallingEdge(dut.clk)
        cycles += 1
        assert cycles < 200_000, "reads never finished"
    dut.cmd__valid.value = dut.data__ready.value = 0
    per_job, at = [], 0
    for count in expected_words:
        per_job.append(words[at:at + count])
        at += count
    return per_job, cycles


def expected(image: bytes, addr: int, length: int, rows: int = 1) -> list[int]:
    words = []
    for row in range(rows):
        chunk = image[addr + row * length:addr + (row + 1) * length]
        chunk += bytes(-len(chunk) % OUT_BYTES)
        words += [int.from_bytes(chunk[i:i + OUT_BYTES], "little") for i in range(0, len(chunk), OUT_BYTES)]
    return words


@cocotb.test()
async def reads_match_the_image_and_keep_up(dut):
    await start_and_reset(dut, low=("cmd__valid", "data__ready", "flush"))
    rng = random.Random(int(os.environ.get("SEED", "5")))
    image = bytes(rng.randrange(256) for _ in range(IMAGE_BYTES))
    memory = ExternalMemory(dut, image, MEM)
    memory.start()
    await FallingEdge(dut.clk)
    jobs = []
    for _ in range(int(os.environ.get("READ_JOBS", "60"))):
        length = rng.choice([1, 2, 3, OUT_BYTES - 1, OUT_BYTES, OUT_BYTES + 1, rng.randint(1, 400)])
        rows = rng.choice([1, 1, 2, 3, rng.randint(1, 12)])
        if rng.random() < 0.05:
            length, rows = rng.choice([(0, rows), (length, 0)])     # reads nothing, delivers nothing
        jobs.append((rng.randrange(0, IMAGE_BYTES - length * rows), length, rows))
    coverage = Coverage(f"image reader {MEM.mem_bytes}-byte beats, {OUT_BYTES}-byte words", COVERAGE)
    got, _ = await read(dut, jobs, rng, ready_rate=0.6, coverage=coverage)
    for (addr, length, rows), words in zip(jobs, got):
        assert words == expected(image, addr, length, rows), f"read of {rows} x {length} bytes at {addr} differs"
        sample(coverage, addr, length, rows)

    # Throughput, consumer always ready; ideal: the slower of memory and consumer (a row's partial last
    # word costs the consumer a whole word), plus the latency.
    for addr, length, rows in [(64, LONG_ROW, 1), (37, 3 * OUT_BYTES + 1, 6000 // (3 * OUT_BYTES + 1))]:
        start_beats, memory.most_pending = memory.beats_served, 0
        got, cycles = await read(dut, [(addr, length, rows)], rng, ready_rate=1.0, coverage=coverage)
        assert got[0] == expected(image, addr, length, rows)
        sample(coverage, addr, length, rows)
        beats = memory.beats_served - start_beats
        spanned = (addr + length * rows - 1) // MEM.mem_bytes - addr // MEM.mem_bytes + 1
        assert beats == spanned, f"{beats} beats fetched for a range of {spanned}"
        ideal = max(length * rows / MEM.bytes_per_cycle, rows * -(-length // OUT_BYTES)) + MEM.latency
        dut._log.info(f"long read: {rows} x {length} bytes in {cycles} cycles, ideal {ideal:.0f} "
                      f"({100 * ideal / cycles:.1f} %), {beats} beats")
        assert cycles <= ideal / 0.95, f"{cycles} cycles for {rows} x {length} bytes, ideal {ideal:.0f}"
        # A burst is asked for as soon as the FIFO has room for it: the whole prefetch distance is reached
        assert memory.most_pending == FIFO_BEATS, f"at most {memory.most_pending} beats asked ahead, not {FIFO_BEATS}"
    coverage.finish()


def sample(coverage, addr: int, length: int, rows: int) -> None:
    """The bins a checked command (addr, length, rows) reached."""
    coverage.hit("length 0", length == 0)
    coverage.hit("rows 0", rows == 0)
    coverage.hit("length 1", length == 1 and rows > 0)
    coverage.hit("length a word", length == OUT_BYTES and rows > 0)
    coverage.hit("length a word + 1", length == OUT_BYTES + 1 and rows > 0)
    coverage.hit("rows many", rows > 1 and length > 0)
    coverage.hit("row ends mid-beat", rows > 1 and (addr + length) % MEM.mem_bytes != 0)
    coverage.hit("address unaligned", length * rows > 0 and addr % MEM.mem_bytes != 0)
    coverage.hit("address aligned", length * rows > 0 and addr % MEM.mem_bytes == 0)
    coverage.hit("a long row", length > 100 * MEM.mem_bytes and rows > 0)
