"""The fast harness (sim/fast: C++ around Verilator) against the cocotb bench (sim/link/server.py, a Python
step per cycle): the same request on the same device build gives the same tokens, the same instructions
executed and the same image bytes read; the cycle counts agree within CYCLE_TOLERANCE (the link's bytes
arrive at other cycles in the two harnesses, which shifts the memory's refresh phase against the work).
"""

import pytest

from assembler.compiler import compile_model
from golden.config import preset
from golden.hwexact import HardwareExactModel
from golden.image import image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model
from host.run import device_for, run
from host.transport import CocotbTransport, SimTransport

CYCLE_TOLERANCE = 0.01          # relative
PROMPT, TOKENS = [5, 17, 200, 3], 4


@pytest.mark.parametrize("memory, trit_format, preset_name, lanes", [
    ("sdram", TritFormat.TRITS_2BIT, "tiny", 16),                # the link tests' build (one Verilator build)
    pytest.param("ddr", TritFormat.TRITS_BASE3, "tiny-odd", 15, marks=pytest.mark.slow)])   # wide beats
def test_fast_and_cocotb_harnesses_agree(memory, trit_format, preset_name, lanes):
    model = quantize_model(random_model(preset(preset_name), seed=5))
    image = image_bytes(model, trit_format)
    info = parse_header(image)
    program = compile_model(info).program

    def device():
        return device_for(info, lanes=lanes, memory=memory, program_instructions=len(program.instructions),
                          vmem_words=program.vmem_words, timeout_cycles=256)

    results = {}
    for name, transport in [("fast", lambda: SimTransport(device(), memory=memory)),
                            ("cocotb", lambda: CocotbTransport(device(), memory=memory,
                                                               build_name=f"agreement_{preset_name}_{memory}"))]:
        link = transport()
        try:
            results[name] = run(image, info, PROMPT, TOKENS, link, timeout=120.0)
        finally:
            link.close()
    fast, cocotb = results["fast"], results["cocotb"]
    assert fast.tokens == cocotb.tokens == HardwareExactModel(model).generate(PROMPT, TOKENS)
    for counter in ("instructions", "bytes_requested", "bytes_received"):
        assert fast.counters[counter] == cocotb.counters[counter], counter
    assert abs(fast.cycles - cocotb.cycles) <= CYCLE_TOLERANCE * cocotb.cycles, (fast.cycles, cocotb.cycles)
