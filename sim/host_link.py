"""The host side of the accelerator's word link in cocotb: one clock cycle at a time."""

from cocotb.triggers import FallingEdge, ReadOnly

from hw.controller import State, StatusLayout
from sim.xcheck import dont_care


class HostLink:
    """Offers `pending` words on host_in (random gaps) and collects host_out words (random stalls);
    `cycle()` runs one clock cycle and returns (state, error code, pc) from the status port."""

    def __init__(self, dut, rng, *, program_words: int, words=(), offer_rate=0.8, ready_rate=0.8):
        self.dut, self.rng = dut, rng
        self.status = StatusLayout(program_words)
        self.pending, self.received = list(words), []
        self.offer_rate, self.ready_rate = offer_rate, ready_rate

    async def cycle(self):
        dut = self.dut
        offer = bool(self.pending) and self.rng.random() < self.offer_rate
        dut.host_in__valid.value = int(offer)
        if offer:
            dut.host_in__payload.value = self.pending[0] & 0xFFFFFFFF
        else:
            dont_care(dut.host_in__payload)
        ready = self.rng.random() < self.ready_rate
        dut.host_out__ready.value = int(ready)
        await ReadOnly()
        if offer and dut.host_in__ready.value == 1:
            self.pending.pop(0)
        if ready and dut.host_out__valid.value == 1:
            self.received.append(dut.host_out__payload.value.to_signed())
        status = int(dut.status.value)
        state = State((status >> self.status["state"].offset) & 0b111)
        error = (status >> self.status["error"].offset) & 0xF
        pc = status >> self.status["pc"].offset
        await FallingEdge(dut.clk)
        return state, error, pc

    def stop(self):
        self.dut.host_in__valid.value = self.dut.host_out__ready.value = 0
