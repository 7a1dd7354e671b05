"""cocotb testbench of ImageReader with the external-memory model (sim/memory_model.py).

Protocol checked: commands {addr, length} queued with random gaps; the memory answers with its
latency, rate and refresh gaps and checks that no beat is refused; `data` drained with random stalls.
Every word must hold the image bytes of its range, in order, the last word zero-padded. Then one long
read with a consumer that never stalls: its cycle count against the slower of memory and consumer.
"""

import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from sim.clocking import start_and_reset
from sim.memory_model import DDR_64BIT, SDRAM_ULX3S, ExternalMemory

MEM = {"sdram": SDRAM_ULX3S, "ddr": DDR_64BIT}[os.environ["MEMORY"]]
OUT_BYTES = int(os.environ["OUT_BYTES"])
IMAGE_BYTES = 8192


async def read(dut, jobs, rng, ready_rate):
    """Offer every job, drain every word; returns (words per job, cycles)."""
    expected_words = [-(-length // OUT_BYTES) for _, length in jobs]
    words, queue, cycles = [], list(jobs), 0
    while len(words) < sum(expected_words):
        offer = bool(queue) and rng.random() < 0.8
        if offer:
            addr, length = queue[0]
            dut.cmd__payload.value = addr | length << 32
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


def expected(image: bytes, addr: int, length: int) -> list[int]:
    chunk = image[addr:addr + length]
    chunk += bytes(-len(chunk) % OUT_BYTES)
    return [int.from_bytes(chunk[i:i + OUT_BYTES], "little") for i in range(0, len(chunk), OUT_BYTES)]


@cocotb.test()
async def reads_match_the_image_and_keep_up(dut):
    await start_and_reset(dut, low=("cmd__valid", "data__ready"))
    rng = random.Random(int(os.environ.get("SEED", "5")))
    image = bytes(rng.randrange(256) for _ in range(IMAGE_BYTES))
    memory = ExternalMemory(dut, image, MEM)
    memory.start()
    await FallingEdge(dut.clk)
    jobs = []
    for _ in range(int(os.environ.get("JOBS", "60"))):
        length = rng.choice([1, 2, 3, OUT_BYTES - 1, OUT_BYTES, OUT_BYTES + 1, rng.randint(1, 400)])
        jobs.append((rng.randrange(0, IMAGE_BYTES - length), length))
    got, _ = await read(dut, jobs, rng, ready_rate=0.6)
    for (addr, length), words in zip(jobs, got):
        assert words == expected(image, addr, length), f"read of {length} bytes at {addr} differs"

    # Throughput: a long read, consumer always ready. Ideal: the slower of memory and consumer.
    length = 6000
    start_beats = memory.beats_served
    got, cycles = await read(dut, [(64, length)], rng, ready_rate=1.0)
    assert got[0] == expected(image, 64, length)
    ideal = length / min(MEM.bytes_per_cycle, OUT_BYTES) + MEM.latency
    dut._log.info(f"long read: {length} bytes in {cycles} cycles, ideal {ideal:.0f} "
                  f"({100 * ideal / cycles:.1f} %), {memory.beats_served - start_beats} beats")
    assert cycles <= ideal / 0.95, f"{cycles} cycles for {length} bytes, ideal {ideal:.0f}"
