"""hw.crc32's flat multi-byte steps against zlib.crc32 (the image check folds 1 to 4 bytes a word)."""

import random
import zlib

import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from hw.crc32 import CRC32_INIT, crc32_bytes


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_crc32_bytes_matches_zlib(count):
    m = Module()
    crc, data = Signal(32), Signal(8 * count)
    result = crc32_bytes(m, crc, data, count, "result")
    rng = random.Random(count)

    async def bench(ctx):
        for _ in range(50):
            prefix, chunk = rng.randbytes(rng.randrange(8)), rng.randbytes(count)
            ctx.set(crc, zlib.crc32(prefix) ^ CRC32_INIT)
            ctx.set(data, int.from_bytes(chunk, "little"))
            assert ctx.get(result) ^ CRC32_INIT == zlib.crc32(prefix + chunk)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
