"""cocotb testbench of the on-chip SPRAM image memory (hw/spram.py), same protocol as the SDRAM bench:
reads answer exactly the requested beats in order with what the bench wrote, byte writes change one byte,
and back-to-back requests stream at one beat a cycle."""

import os
import random

import cocotb
from cocotb.triggers import RisingEdge

from sim.clocking import start_and_reset
from sim.coverage import Coverage
from sim.sdram.tb_sdram import MEMORY_BINS, Bench, random_traffic, streaming

# An SPRAM takes a request every cycle and has no rows or refresh: the bins of those are not reachable.
BINS = ("read of one beat", "read of the most beats", "read after its write", "write run", "write 0x00", "write 0xFF")


@cocotb.test()
async def spram_memory_reads_what_was_written(dut):
    words = int(os.environ["WORDS"])
    rng = random.Random(int(os.environ.get("SEED", "7")))
    await start_and_reset(dut, low=("read_req__valid", "write__valid"), high=("read_resp__ready",))
    while dut.ready.value == 0:
        await RisingEdge(dut.clk)
    coverage = Coverage(f"spram {words} words", {name: MEMORY_BINS[name] for name in BINS})
    bench = Bench(dut, bytearray(2 * words), 2, written_only=True, coverage=coverage)
    cocotb.start_soon(bench.collect())
    for address in range(0, 2 * words, 97):                 # content everywhere, then the random mix
        await bench.write(address, rng.randrange(256))
    await random_traffic(bench, rng, row_beats=64)
    efficiency, cycles, _ = await streaming(bench, start=5, beats=min(4096, words - 5) // 16 * 16)
    dut._log.info(f"streaming: {efficiency:.3f} beats/cycle (measured)")
    assert efficiency > 0.99, "the memory does not stream one beat a cycle"
    coverage.finish()
