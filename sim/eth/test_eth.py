"""The host link over Gigabit Ethernet in simulation: the host driver's real datagrams, as Ethernet/IPv4/UDP
frames on LiteEth's GMII pins (sim/eth/server.py), load the image and generate exactly the golden model's
tokens; a WRITE_IMAGE datagram lost or damaged on the way is sent again, never written silently."""

import json

import pytest

from assembler.compiler import compile_model
from golden.config import preset
from golden.hwexact import HardwareExactModel
from golden.image import image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model
from host import protocol as p
from host.run import device_for, run
from host.transport import CocotbUdpTransport

PROMPT, TOKENS = [5, 17, 200, 3], 4


def ethernet_run(model, trit_format, *, lanes, memory, tmp_path, faults=""):
    """run() over the simulated Ethernet device; returns the RunResult and the testbench's load timing."""
    image = image_bytes(model, trit_format)
    info = parse_header(image)
    program = compile_model(info).program
    device = device_for(info, lanes=lanes, memory=memory, program_instructions=len(program.instructions),
                        vmem_words=program.vmem_words, timeout_cycles=256)
    stats = tmp_path / "load.json"
    link = CocotbUdpTransport(device, memory=memory, build_name=f"eth_{info.config.hidden_size}_{memory}",
                              env={"FAULTS": faults, "STATS_FILE": str(stats)}, log_file=tmp_path / "sim.log")
    try:
        result = run(image, info, PROMPT, TOKENS, link, timeout=120.0)
    finally:
        link.close()
    return image, result, json.loads(stats.read_text())


@pytest.mark.parametrize("faults", ["", "drop:2,corrupt:5"])
def test_the_ethernet_device_generates_the_golden_tokens(faults, tmp_path):
    model = quantize_model(random_model(preset("tiny"), seed=5))
    image, result, timing = ethernet_run(model, TritFormat.TRITS_2BIT, lanes=16, memory="sdram", tmp_path=tmp_path,
                                         faults=faults)
    assert result.tokens == HardwareExactModel(model).generate(PROMPT, TOKENS)
    frames = -(-len(image) // (p.MAX_PAYLOAD - 4))
    if faults:      # the lost and the damaged frame were sent again (run checks the held image's CRC)
        assert timing["image_frames"] > frames
        # The damaged one reached the link and its CRC refused it (the lost one had no answer at all).
        assert timing["naks"] == [f"{p.Command.WRITE_IMAGE:02x}{p.NakCode.BAD_CRC:02x}"]
    else:
        assert timing["image_frames"] == frames and timing["image_bytes"] == len(image)
        cycles = timing["last_ack_cycle"] - timing["first_cycle"]
        print(f"image load: {len(image):,} bytes in {cycles:,} cycles: {len(image) / cycles:.3f} bytes/cycle, "
              f"{len(image) / cycles * 75:.1f} MB/s at 75 MHz")


@pytest.mark.slow
def test_the_shipped_model_over_ethernet(tmp_path):
    """The shipped model (models/stdlib-256, its 730 KB base-3 image) behind DDR: the load rate over a
    larger image (printed), and the golden tokens."""
    from golden.zoo import load_model

    model = quantize_model(load_model("stdlib-256"))
    image, result, timing = ethernet_run(model, TritFormat.TRITS_BASE3, lanes=80, memory="ddr", tmp_path=tmp_path)
    assert result.tokens == HardwareExactModel(model).generate(PROMPT, TOKENS)
    assert timing["image_frames"] == -(-len(image) // (p.MAX_PAYLOAD - 4))
    cycles = timing["last_ack_cycle"] - timing["first_cycle"]
    print(f"image load: {len(image):,} bytes in {cycles:,} cycles: {len(image) / cycles:.3f} bytes/cycle, "
          f"{len(image) / cycles * 75:.1f} MB/s at 75 MHz")
