"""A cycle-level model of external memory for cocotb: the other side of hw.image_reader's read channel.

A request {addr (beat address), beats} is taken whenever offered; its beats come back in order,
the first `latency` cycles after the request, then one beat every `cycles_per_beat` cycles, except
during refresh: every `refresh_interval` cycles the memory serves nothing for `refresh_cycles`.
The model checks that the reader takes every beat the cycle it is offered (mem_resp.ready high):
a DRAM controller cannot wait.

Presets (cycles of a 100 MHz accelerator clock):
- SDRAM like the ULX3S's 16-bit SDR SDRAM (AS4C32M16SB-class): 2 bytes a beat, CAS latency 2-3 plus
  activate, ~10 cycles to the first beat; a refresh every 7.8 us (8192 rows per 64 ms) for ~7 cycles.
- DDR like a 64-bit DDR3/DDR4 DIMM channel behind a controller at 100 MHz: 16 bytes a beat (two 8-byte
  transfers per controller cycle at 4:1), ~30 cycles to the first beat, refresh every 7.8 us for tRFC
  ~260 ns (26 cycles).
- Wide like a group of HBM2 pseudo-channels (4 x 64-bit at 2 Gb/s, 16 B each per 100 MHz cycle) behind
  one 512-bit port: 64 bytes a beat, ~40 cycles to the first beat, refresh every 3.9 us (HBM's tREFI)
  for ~260 ns.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from host.protocol import MemoryKind
from hw.axi import AXI4MemoryPort
from hw.image_reader import WordWriteLayout
from sim.xcheck import dont_care, four_state


@dataclasses.dataclass(frozen=True)
class MemoryTiming:
    mem_bytes: int
    latency: int
    cycles_per_beat: int = 1
    refresh_interval: int = 0           # 0: no refresh
    refresh_cycles: int = 0
    write_cycles: int = 1               # cycles per write the port takes at most (assembler.cost.CostModel)

    @property
    def bytes_per_cycle(self) -> float:
        busy = self.refresh_cycles / self.refresh_interval if self.refresh_interval else 0.0
        return self.mem_bytes / self.cycles_per_beat * (1 - busy)


SDRAM_ULX3S = MemoryTiming(mem_bytes=2, latency=10, refresh_interval=780, refresh_cycles=7)
DDR_64BIT = MemoryTiming(mem_bytes=16, latency=30, refresh_interval=780, refresh_cycles=26)
HBM_WIDE = MemoryTiming(mem_bytes=64, latency=40, refresh_interval=390, refresh_cycles=26)
MEMORIES = {"sdram": SDRAM_ULX3S, "ddr": DDR_64BIT, "wide": HBM_WIDE}
# cocotbext-axi's AxiRam behind hw.axi.AXI4MemoryPort (the end-to-end bench with MEMORY_PORT=axi; not a memory this
# model serves, nor one to plan with): 16-byte beats, a beat a cycle, no refresh, the first beat 5 cycles after the
# accelerator's request (measured: request, AR 2 cycles later, R 2 after that, registered onto read_resp).
AXI_RAM = MemoryTiming(mem_bytes=16, latency=5, write_cycles=AXI4MemoryPort.WRITE_CYCLES)
# LiteDRAM's DDR3 controller and PHY model at the ECP5's 1:2 (sim/litedram/core.py, ECPIX-5's MT41K256M16 at
# 75 MHz): a 16-byte beat every 2 cycles at best; the first beat 24 cycles after its AR (measured, probe of
# docs/ddr3-litedram.md) plus hw.axi's 3; a 30-cycle refresh every 586 cycles (tREFI; tRFC 260 ns).
DDR3_ECPIX5 = MemoryTiming(mem_bytes=16, latency=27, cycles_per_beat=2, refresh_interval=586, refresh_cycles=30,
                           write_cycles=AXI4MemoryPort.WRITE_CYCLES)
BENCH_MEMORIES = {**MEMORIES, "axi_ram": AXI_RAM, "ddr3_ecpix5": DDR3_ECPIX5}   # the timings the end-to-end bench knows
MEMORY_KINDS = {"sdram": MemoryKind.SDR_SDRAM, "ddr": MemoryKind.DDR, "wide": MemoryKind.HBM}    # what a device of each reports (HELLO)


class ExternalMemory:
    """`contents` (padded to whole beats) behind the read channel; with `writable`, the write channel
    mem_write {addr: byte address, data: byte} (hw.image_reader.ByteWriteLayout), or a word and its byte mask
    (WordWriteLayout, told apart by the payload's width), is also served (always ready), and `contents` is a
    bytearray of at least `size` bytes. Under a four-state simulator a byte neither in `contents` nor written
    since reads as X (DRAM holds whatever it powered up with), as does the beat payload while none is offered."""

    def __init__(self, dut, contents: bytes, timing: MemoryTiming, prefix: str = "", *, writable: bool = False,
                 size: int = 0):
        self.dut, self.timing, self.prefix, self.writable = dut, timing, prefix, writable
        self.load(contents, size)
        self.beats_served = 0
        self.most_pending = 0           # the most beats asked for and not yet served at once (a prefetch distance)

    def load(self, contents: bytes, size: int = 0) -> None:
        """Hold `contents` from byte 0, then bytes never written up to `size` and a whole beat."""
        size = -(-max(len(contents), size) // self.timing.mem_bytes) * self.timing.mem_bytes
        self.contents = bytearray(contents) + bytearray(size - len(contents))
        self.written = bytearray(b"\1" * len(contents)) + bytearray(size - len(contents))   # 1: a known byte

    def _signal(self, name):
        return getattr(self.dut, self.prefix + name)

    def start(self):
        import cocotb
        cocotb.start_soon(self._run())

    async def _run(self):
        from cocotb.triggers import FallingEdge, ReadOnly

        timing, width = self.timing, self.timing.mem_bytes
        req_valid, req_ready, req_payload = (self._signal(n) for n in ("mem_req__valid", "mem_req__ready", "mem_req__payload"))
        resp_valid, resp_ready, resp_payload = (self._signal(n) for n in ("mem_resp__valid", "mem_resp__ready", "mem_resp__payload"))
        pending: deque[tuple[int, int]] = deque()        # (first cycle the beat may leave, beat address)
        cycle, next_beat_cycle = 0, 0
        while True:
            await FallingEdge(self.dut.clk)              # drive this cycle's outputs
            cycle += 1
            req_ready.value = 1
            refreshing = timing.refresh_interval and cycle % timing.refresh_interval < timing.refresh_cycles
            offer = bool(pending) and pending[0][0] <= cycle and cycle >= next_beat_cycle and not refreshing
            if offer:
                _, beat_addr = pending.popleft()
                start = beat_addr * width
                assert start + width <= len(self.contents), f"read of beat {beat_addr} beyond the memory"
                resp_payload.value = self._beat(start, width)
                next_beat_cycle = cycle + timing.cycles_per_beat
                self.beats_served += 1
            else:
                dont_care(resp_payload)
            resp_valid.value = int(offer)
            if self.writable:
                self._signal("mem_write__ready").value = 1
            await ReadOnly()                             # what the coming clock edge samples
            if self.writable and self._signal("mem_write__valid").value == 1:
                payload = self._signal("mem_write__payload").value
                write = int(payload)
                address = write & 0xFFFFFFFF
                if len(payload) == WordWriteLayout().size:
                    assert address % 4 == 0, f"a word write at the unaligned address {address}"
                    mask, word = write >> 64, (write >> 32) & 0xFFFFFFFF
                    writes = [(address + k, (word >> 8 * k) & 0xFF) for k in range(4) if mask >> k & 1]
                else:
                    writes = [(address, write >> 32)]
                for byte_address, value in writes:
                    assert byte_address < len(self.contents), f"write beyond the memory at {byte_address}"
                    self.contents[byte_address] = value
                    self.written[byte_address] = 1
            if offer:
                assert resp_ready.value == 1, "the reader did not take a beat the cycle it was offered"
            if req_valid.value == 1:
                payload = int(req_payload.value)
                beat_addr = payload & ((1 << self.addr_field_bits) - 1)
                beats = payload >> self.addr_field_bits
                assert beats >= 1, "a request for no beats"
                for k in range(beats):
                    pending.append((cycle + timing.latency, beat_addr + k))
                self.most_pending = max(self.most_pending, len(pending))

    def _beat(self, start: int, width: int):
        """The beat of `width` bytes from byte `start`: an int, or under a four-state simulator a LogicArray with
        X in the bytes never written."""
        value = int.from_bytes(self.contents[start:start + width], "little")
        if all(self.written[start:start + width]) or not four_state():
            return value
        from cocotb.types import LogicArray
        return LogicArray("".join(f"{self.contents[start + k]:08b}" if self.written[start + k] else "X" * 8
                                  for k in reversed(range(width))))

    @property
    def addr_field_bits(self) -> int:
        return 32 - (self.timing.mem_bytes - 1).bit_length()
