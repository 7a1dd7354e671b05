"""pytest entry of the image reader's cocotb testbench, for an SDRAM-like, a DDR-like and (slow) an HBM-like memory
feeding a 512-byte word, the beat of the HBM projection's 2,560-lane base-3 engine trees."""

import pytest

from hw.image_reader import ImageReader
from sim.memory_model import DDR_64BIT, HBM_WIDE, SDRAM_ULX3S
from sim.runner import run_cocotb

CASES = [("sdram", SDRAM_ULX3S, 16, 32), ("ddr", DDR_64BIT, 4, 128), ("ddr", DDR_64BIT, 13, 128),
         pytest.param("wide", HBM_WIDE, 512, 64, marks=pytest.mark.slow)]


@pytest.mark.parametrize("memory, timing, out_bytes, fifo_beats", CASES,
                         ids=[f"{m}-out{o}" for m, _, o, _ in (getattr(case, "values", case) for case in CASES)])
def test_image_reader_streams_the_image(memory, timing, out_bytes, fifo_beats):
    reader = ImageReader(mem_bytes=timing.mem_bytes, out_bytes=out_bytes, burst_beats=16, fifo_beats=fifo_beats)
    run_cocotb(reader, toplevel="image_reader", test_module="sim.image_reader.tb_image_reader",
               build_name=f"image_reader_{memory}_{out_bytes}",
               env={"MEMORY": memory, "OUT_BYTES": str(out_bytes), "FIFO_BEATS": str(fifo_beats)})
