"""The VMEM scratchpad of the unit testbenches: a memory shared by a unit and a host port.

`VmemWithHost` is the Amaranth side (the host writes and reads only while the unit is idle);
`fill` / `read_all` are the cocotb side, through the `<prefix>write__*` / `<prefix>read__*` ports.
"""

from amaranth import Mux
from amaranth.lib import memory
from amaranth.lib.wiring import Out
from cocotb.triggers import FallingEdge, ReadOnly
import numpy as np

from hw.vector_unit import ACT


def host_ports(vmem_words: int, prefix: str = "host_") -> dict:
    width = (vmem_words - 1).bit_length()
    return {f"{prefix}write": Out(memory.WritePort.Signature(addr_width=width, shape=ACT)),
            f"{prefix}read": Out(memory.ReadPort.Signature(addr_width=width, shape=ACT))}


def add_vmem(m, vmem_words: int, unit_write, host_write, host_read) -> memory.Memory:
    """A VMEM whose write port serves the unit, or the host when it writes; plus a host read port.
    The caller adds the unit's read ports with `vmem.read_port(domain="sync")`."""
    m.submodules.vmem = vmem = memory.Memory(shape=ACT, depth=vmem_words, init=[])
    write, read = vmem.write_port(), vmem.read_port(domain="sync")
    m.d.comb += [
        write.addr.eq(Mux(host_write.en, host_write.addr, unit_write.addr)),
        write.data.eq(Mux(host_write.en, host_write.data, unit_write.data)),
        write.en.eq(unit_write.en | host_write.en),
        read.addr.eq(host_read.addr), host_read.data.eq(read.data),
    ]
    return vmem


async def fill(dut, values, prefix: str = "host_") -> None:
    write_addr, write_data, write_en = (getattr(dut, f"{prefix}write__{n}") for n in ("addr", "data", "en"))
    for address, value in enumerate(values):
        await FallingEdge(dut.clk)
        write_addr.value, write_data.value, write_en.value = address, int(value) & 0xFFFFFFFF, 1
    await FallingEdge(dut.clk)
    write_en.value = 0


async def read_all(dut, words: int, prefix: str = "host_") -> np.ndarray:
    read_addr, read_data = getattr(dut, f"{prefix}read__addr"), getattr(dut, f"{prefix}read__data")
    out = []
    for address in range(words):
        read_addr.value = address
        await FallingEdge(dut.clk)
        await ReadOnly()
        out.append(read_data.value.to_signed())
        await FallingEdge(dut.clk)
    return np.array(out, dtype=np.int64)
