"""cocotb testbench of the UART against a bit-level serial model in Python.

Protocol checked: 8N1, LSB first, idle high, DIVISOR cycles a bit. Receive: random bytes sent with
random idle gaps arrive in order on `rx`; a frame whose stop bit is low is dropped and counted; a byte
arriving while the previous is still untaken is dropped and counted. Transmit: bytes offered with random
gaps leave on tx_pin with every bit exactly DIVISOR cycles long (start 0, data, stop 1).
"""

import os
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from sim.clocking import start_and_reset
from sim.coverage import Coverage

DIVISOR = int(os.environ["DIVISOR"])
COVERAGE = {
    "rx 0x00": "a received byte of all zeros (a line low for nine bits)",
    "rx 0xFF": "a received byte of all ones (only the start bit low)",
    "rx back to back": "a start bit right after the previous stop bit",
    "rx waits": "a received byte held while its consumer is not ready",
    "framing error": "a frame whose stop bit is low, dropped and counted",
    "overrun": "a byte arriving while the previous one is untaken, dropped and counted",
    "tx waits": "a byte offered while the transmitter is busy",
    "tx 0x00": "a sent byte of all zeros",
    "tx 0xFF": "a sent byte of all ones",
}


def bits_of(byte, stop=1):
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


@cocotb.test()
async def uart_matches_the_serial_model(dut):
    await start_and_reset(dut, low=("rx__ready", "tx__valid"), high=("rx_pin",))
    rng = random.Random(3)
    coverage = Coverage(f"uart divisor {DIVISOR}", COVERAGE)

    # --- Receive ----------------------------------------------------------------------------------
    sent = [rng.randrange(256) for _ in range(40)] + [0x00, 0xFF, 0x55, 0xAA]
    line = []
    for index, byte in enumerate(sent):
        gap = 0 if index == 1 else rng.randrange(0, 3 * DIVISOR)     # the second frame directed back to back
        coverage.hit("rx back to back", gap == 0 and bool(line))
        line += [1] * gap + [b for b in bits_of(byte) for _ in range(DIVISOR)]
    broken = [b for b in bits_of(0x3C, stop=0) for _ in range(DIVISOR)] + [0] * DIVISOR + [1] * 3 * DIVISOR
    line += broken                                                   # a framing error, then a good byte
    line += [b for b in bits_of(0x81) for _ in range(DIVISOR)] + [1] * 2 * DIVISOR
    received = []
    for level in line:
        await FallingEdge(dut.clk)
        dut.rx_pin.value = level
        ready = rng.random() < 0.5
        dut.rx__ready.value = int(ready)
        await ReadOnly()
        coverage.hit("rx waits", not ready and dut.rx__valid.value == 1)
        if ready and dut.rx__valid.value == 1:
            received.append(int(dut.rx__payload.value))
    assert received == sent + [0x81], (received, sent)
    assert int(dut.framing_errors.value) == 1 and int(dut.overruns.value) == 0
    coverage.hit("framing error")
    coverage.hit("rx 0x00", 0x00 in received)
    coverage.hit("rx 0xFF", 0xFF in received)

    # Overrun: two bytes while nobody takes them; the first stays, the second is counted.
    await FallingEdge(dut.clk)
    dut.rx__ready.value = 0
    for byte in (0x11, 0x22):
        for level in [b for b in bits_of(byte) for _ in range(DIVISOR)]:
            await FallingEdge(dut.clk)
            dut.rx_pin.value = level
    for _ in range(2 * DIVISOR):
        await FallingEdge(dut.clk)
    assert int(dut.overruns.value) == 1 and dut.rx__valid.value == 1 and int(dut.rx__payload.value) == 0x11
    coverage.hit("overrun")
    dut.rx__ready.value = 1
    await FallingEdge(dut.clk)
    dut.rx__ready.value = 0

    # --- Transmit ---------------------------------------------------------------------------------
    to_send = [rng.randrange(256) for _ in range(12)] + [0x00, 0xFF]
    samples, queue = [], list(to_send)
    for _ in range(len(to_send) * 14 * DIVISOR):
        await FallingEdge(dut.clk)
        offer = bool(queue) and rng.random() < 0.3
        dut.tx__valid.value = int(offer)
        if offer:
            dut.tx__payload.value = queue[0]
        await ReadOnly()
        if offer and dut.tx__ready.value == 1:
            queue.pop(0)
        coverage.hit("tx waits", offer and dut.tx__ready.value == 0)
        samples.append(int(dut.tx_pin.value))
    decoded, at = [], 0
    while at < len(samples):
        if samples[at] == 1:
            at += 1
            continue
        frame = samples[at:at + 10 * DIVISOR]
        assert len(frame) == 10 * DIVISOR, "a frame cut short"
        bits = [frame[i * DIVISOR:(i + 1) * DIVISOR] for i in range(10)]
        assert all(len(set(bit)) == 1 for bit in bits), "a bit not exactly DIVISOR cycles long"
        levels = [bit[0] for bit in bits]
        assert levels[0] == 0 and levels[9] == 1, levels
        decoded.append(sum(levels[1 + i] << i for i in range(8)))
        at += 10 * DIVISOR
    assert decoded == to_send, (decoded, to_send)
    coverage.hit("tx 0x00", 0x00 in decoded)
    coverage.hit("tx 0xFF", 0xFF in decoded)
    coverage.finish()
