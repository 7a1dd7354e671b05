"""cocotb end-to-end test: a compiled model generating tokens on the whole accelerator.

Protocol checked: the model image lies in the external-memory model (latency, refresh gaps); the
program is written into program memory and started with its length and the image size; the host
sends a request (prompt length, tokens to generate, the prompt tokens) with random gaps and takes the
words with random stalls: for each generated token the logits (SENDV) then the token (SEND). Against
the instruction-level simulator on the same image and program, and the hardware-exact golden model:
every word the host receives (all logits, all tokens) and, once the accelerator waits for the next
request, every layer's recurrent state in VMEM. Cycles per token are reported.
"""

import os
import random

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from assembler.compiler import compile_model
from assembler.iss import InstructionSetSimulator
from golden.config import preset
from golden.hwexact import HardwareExactModel
from golden.image import image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model
from hw.accelerator import CountersLayout
from hw.controller import State
from sim.clocking import start_and_reset
from sim.host_link import HostLink
from sim.memory_model import DDR_64BIT, SDRAM_ULX3S, ExternalMemory
from sim.vmem import read_all

PRESET, SEED = os.environ["MODEL_PRESET"], int(os.environ["MODEL_SEED"])
FORMAT = TritFormat[os.environ["FORMAT"]]
MEMORY = {"sdram": SDRAM_ULX3S, "ddr": DDR_64BIT}[os.environ["MEMORY"]]
PROGRAM_WORDS, VMEM_WORDS = int(os.environ["PROGRAM_WORDS"]), int(os.environ["VMEM_WORDS"])
COUNTERS = CountersLayout()


@cocotb.test()
async def model_generates_bit_exactly(dut):
    await start_and_reset(dut, low=("program_write__en", "start__valid", "host_in__valid", "host_out__ready",
                                    "vmem_write__en"), high=("vmem_read__en",))
    qmodel = quantize_model(random_model(preset(PRESET), seed=SEED))
    image = image_bytes(qmodel, FORMAT)
    info = parse_header(image)
    compiled = compile_model(info, emit_logits=True)
    words = compiled.program.to_bytes()
    memory = ExternalMemory(dut, image, MEMORY)
    memory.start()
    rng = random.Random(SEED)
    prompt = [rng.randrange(info.config.vocab_size) for _ in range(3)]
    generate = int(os.environ.get("TOKENS", "3"))
    requests = [len(prompt), generate] + prompt

    iss = InstructionSetSimulator(compiled.program.instructions, image, info.trit_format, vmem_words=VMEM_WORDS)
    iss.send(*requests)
    assert iss.run() == "waiting"
    expected = []
    for logits, token in zip(iss.vectors_out, iss.host_out):
        expected += [int(v) for v in logits] + [token]
    golden_tokens = HardwareExactModel(qmodel).generate(prompt, generate)
    assert iss.host_out == golden_tokens, "the ISS disagrees with the golden model (see tests/assembler)"

    for address in range(0, len(words), 16):
        await FallingEdge(dut.clk)
        dut.program_write__addr.value = address // 16
        dut.program_write__data.value = int.from_bytes(words[address:address + 16], "little")
        dut.program_write__en.value = 1
    await FallingEdge(dut.clk)
    dut.program_write__en.value = 0
    start = dut.start__payload
    start.value = (len(words) // 16) | len(image) << (PROGRAM_WORDS).bit_length()
    dut.start__valid.value = 1
    await ReadOnly()
    assert dut.start__ready.value == 1
    await FallingEdge(dut.clk)
    dut.start__valid.value = 0

    link, cycles, token_cycles = HostLink(dut, rng, program_words=PROGRAM_WORDS, words=requests), 0, []
    received = link.received
    while True:
        state, error, pc = await link.cycle()
        cycles += 1
        if len(received) % (info.config.vocab_size + 1) == 0 and len(received) // (info.config.vocab_size + 1) > len(token_cycles):
            token_cycles.append(cycles)
        assert state is not State.ERROR, f"stopped with error {error} at pc {pc}"
        if state is State.WAITING and not link.pending and len(received) >= len(expected):
            break
        assert cycles < 3_000_000, f"no end after {cycles} cycles ({len(received)} of {len(expected)} words)"
    link.stop()
    assert len(received) == len(expected), f"received {len(received)} words, expected {len(expected)}"
    bad = [i for i, (a, b) in enumerate(zip(received, expected)) if a != b]
    assert not bad, f"{len(bad)} words differ, first at {bad[0]}: {received[bad[0]]} vs {expected[bad[0]]}"
    # Counters: the instructions and the image bytes the units asked for equal the ISS's (the hardware
    # has also entered the RECV it now waits in); the rest are reported.
    raw = int(dut.counters.value)
    counters = {name: (raw >> COUNTERS[name].offset) & ((1 << COUNTERS[name].width) - 1) for name in COUNTERS.members}
    assert counters["instructions"] == iss.counters.instructions + 1, (counters, iss.counters)
    assert counters["bytes_requested"] == iss.counters.bytes_read, (counters, iss.counters)
    assert counters["bytes_received"] >= counters["bytes_requested"]
    dut._log.info(f"counters (measured): {counters}; ISS: {iss.counters.instructions} instructions, "
                  f"{iss.counters.bytes_read} bytes")
    vmem = await read_all(dut, VMEM_WORDS, prefix="vmem_")
    inner = info.config.inner_size
    for layer, address in enumerate(compiled.state_addresses):
        np.testing.assert_array_equal(vmem[address:address + inner], iss.vmem[address:address + inner],
                                      err_msg=f"layer {layer} state")
    per_token = np.diff([0] + token_cycles)
    dut._log.info(f"{PRESET} {FORMAT.name} {os.environ['MEMORY']}: tokens {received[info.config.vocab_size::info.config.vocab_size + 1]}, "
                  f"cycles per generated token {per_token.tolist()}, ISS estimate {iss.counters.cycles} cycles in all")
