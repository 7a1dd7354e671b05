"""Parameter validation and elaboration of the image reader (behaviour: sim/image_reader)."""

import pytest
from amaranth.back import verilog

from hw.image_reader import ImageReader


@pytest.mark.parametrize("mem_bytes, out_bytes", [(1, 1), (2, 16), (16, 13)])
def test_elaborates(mem_bytes, out_bytes):
    reader = ImageReader(mem_bytes=mem_bytes, out_bytes=out_bytes)
    assert len(reader.data.payload) == 8 * out_bytes and len(reader.mem_resp.payload) == 8 * mem_bytes
    assert "module image_reader" in verilog.convert(reader, name="image_reader")


@pytest.mark.parametrize("kwargs, message", [
    (dict(mem_bytes=3, out_bytes=4), "mem_bytes"), (dict(mem_bytes=128, out_bytes=4), "mem_bytes"),
    (dict(mem_bytes=2, out_bytes=0), "out_bytes"), (dict(mem_bytes=2, out_bytes=4, burst_beats=0), "burst_beats"),
    (dict(mem_bytes=2, out_bytes=4, burst_beats=16, fifo_beats=24), "fifo_beats"),
])
def test_refuses_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageReader(**kwargs)
