"""cocotb testbench of ImageReader with the external-memory model (sim/memory_model.py).

Protocol checked: commands {addr, length, rows} queued with random gaps; the memory answers with its
latency, rate and refresh gaps and checks that no beat is refused; `data` drained with random stalls.
Every row must arrive as the image bytes of its range, in order, from a fresh word, its last word
zero-padded. Then long reads with a consumer that never stalls (one row; many short rows): cycle
counts against the slower of memory and consumer, and no beat fetched twice.
"""

import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from hw.image_reader import ReadLayout
from sim.clocking import start_and_reset
from sim.memory_model import MEMORIES, ExternalMemory
from sim.xcheck import dont_care

MEM = MEMORIES[os.environ["MEMORY"]]
OUT_BYTES = int(os.environ["OUT_BYTES"])
IMAGE_BYTES = 8192
READ = ReadLayout()


async def read(dut, jobs, rng, ready_rate):
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
    for _ in range(int(os.environ.get("JOBS", "60"))):
        length = rng.choice([1, 2, 3, OUT_BYTES - 1, OUT_BYTES, OUT_BYTES + 1, rng.randint(1, 400)])
        rows = rng.choice([1, 1, 2, 3, rng.randint(1, 12)])
        if rng.random() < 0.05:
            length, rows = rng.choice([(0, rows), (length, 0)])     # reads nothing, delivers nothing
        jobs.append((rng.randrange(0, IMAGE_BYTES - length * rows), length, rows))
    got, _ = await read(dut, jobs, rng, ready_rate=0.6)
    for (addr, length, rows), words in zip(jobs, got):
        assert words == expected(image, addr, length, rows), f"read of {rows} x {length} bytes at {addr} differs"

    # Throughput, consumer always ready; ideal: the slower of memory and consumer (a row's partial last
    # word costs the consumer a whole word), plus the latency.
    for addr, length, rows in [(64, 6000, 1), (37, 3 * OUT_BYTES + 1, 6000 // (3 * OUT_BYTES + 1))]:
        start_beats = memory.beats_served
        got, cycles = await read(dut, [(addr, length, rows)], rng, ready_rate=1.0)
        assert got[0] == expected(image, addr, length, rows)
        beats = memory.beats_served - start_beats
        spanned = (addr + length * rows - 1) // MEM.mem_bytes - addr // MEM.mem_bytes + 1
        assert beats == spanned, f"{beats} beats fetched for a range of {spanned}"
        ideal = max(length * rows / MEM.bytes_per_cycle, rows * -(-length // OUT_BYTES)) + MEM.latency
        dut._log.info(f"long read: {rows} x {length} bytes in {cycles} cycles, ideal {ideal:.0f} "
                      f"({100 * ideal / cycles:.1f} %), {beats} beats")
        assert cycles <= ideal / 0.95, f"{cycles} cycles for {rows} x {length} bytes, ideal {ideal:.0f}"
