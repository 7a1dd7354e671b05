"""The VMEM of the unit testbenches: hw.vmem.Vmem shared by a unit and a word-wide host port.

`add_vmem` is the Amaranth side (the host writes and reads single words, only while the unit is
idle); `fill` / `read_all` are the cocotb side, through the `<prefix>write__*` / `<prefix>read__*` ports.
"""

from amaranth.lib import memory, wiring
from amaranth.lib.wiring import Out
from cocotb.triggers import FallingEdge, ReadOnly
import numpy as np

from hw.vmem import ACT, READ_LATENCY, Vmem, word_read, word_write
from sim.xcheck import assert_known, dont_care


def host_ports(vmem_words: int, prefix: str = "host_") -> dict:
    width = (vmem_words - 1).bit_length()
    return {f"{prefix}write": Out(memory.WritePort.Signature(addr_width=width, shape=ACT)),
            f"{prefix}read": Out(memory.ReadPort.Signature(addr_width=width, shape=ACT))}


def add_vmem(m, *, vmem_words: int, vector_width: int, unit_reads, unit_write, host_write, host_read) -> Vmem:
    """A Vmem with a read port per entry of `unit_reads` (the unit's ReadSignature masters) plus one for
    the host; its write port serves the unit, or the host when it writes (one word: its lane alone)."""
    m.submodules.vmem = vmem = Vmem(words=vmem_words, vector_width=vector_width, read_ports=len(unit_reads) + 1)
    for port, client in zip(vmem.read, unit_reads):
        wiring.connect(m, client, port)
    row, data, enables = word_write(m, host_write, vector_width)
    with m.If(host_write.en):
        m.d.comb += [vmem.write.addr.eq(row), vmem.write.data.eq(data), vmem.write.en.eq(enables)]
    with m.Else():
        m.d.comb += [vmem.write.addr.eq(unit_write.addr), vmem.write.data.eq(unit_write.data),
                     vmem.write.en.eq(unit_write.en)]
    host = vmem.read[len(unit_reads)]
    m.d.comb += host.en.eq(1)
    word_read(m, host, host_read, vector_width)
    return vmem


async def fill(dut, values, prefix: str = "host_") -> None:
    write_addr, write_data, write_en = (getattr(dut, f"{prefix}write__{n}") for n in ("addr", "data", "en"))
    for address, value in enumerate(values):
        await FallingEdge(dut.clk)
        write_addr.value, write_data.value, write_en.value = address, int(value) & 0xFFFFFFFF, 1
    await FallingEdge(dut.clk)
    write_en.value = 0
    dont_care(write_addr, write_data)


async def read_all(dut, words: int, prefix: str = "host_") -> np.ndarray:
    """Words 0 .. words - 1, one address at a time (READ_LATENCY cycles each); none may hold X or Z."""
    read_addr, read_data = getattr(dut, f"{prefix}read__addr"), getattr(dut, f"{prefix}read__data")
    out = []
    for address in range(words):
        read_addr.value = address
        for _ in range(READ_LATENCY):
            await FallingEdge(dut.clk)
        await ReadOnly()
        assert_known(read_data, f"VMEM word {address}")
        out.append(read_data.value.to_signed())
        await FallingEdge(dut.clk)
    return np.array(out, dtype=np.int64)
