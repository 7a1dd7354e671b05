"""`AcceleratorOnLiteDRAM`: the accelerator behind hw.axi's AXI4 port and LiteDRAM's controller with its PHY model
(sim/litedram/core.py), one clock: what the end-to-end bench runs with MEMORY_PORT=litedram.

    accelerator ─ mem_req / mem_resp ─► AXI4MemoryPort ─ axi ─► LiteDRAM (Verilog: controller, crossbar,
                                                                 AXI-to-native bridge, SDRAMPHYModel)
"""

from __future__ import annotations

from amaranth import C, Cat, ClockSignal, Instance, Module
from amaranth.lib import wiring

from hw.accelerator import Accelerator
from hw.component import pass_through
from hw.litedram import AXI_PREFIX
from sim.accelerator.axi_top import AcceleratorOnAXI

from .core import GeneratedCore


class AcceleratorOnLiteDRAM(wiring.Component):
    """accelerator: the hw.accelerator.Accelerator; core: the generated LiteDRAM simulation core (its AXI data
    width must be the accelerator's memory width). Ports: the accelerator's less mem_req and mem_resp, and
    `axi_error` (hw.axi's sticky flag)."""

    def __init__(self, accelerator: Accelerator, core: GeneratedCore):
        data_width, id_width = core.ports[AXI_PREFIX + "rdata"][1], core.ports[AXI_PREFIX + "rid"][1]
        if data_width != 8 * accelerator.mem_bytes:
            raise ValueError(f"the core's AXI port is {data_width} bits wide, the accelerator's memory "
                             f"{8 * accelerator.mem_bytes}")
        self.core = core
        self.inner = AcceleratorOnAXI(accelerator, addr_width=core.ports[AXI_PREFIX + "araddr"][1],
                                      id_width=id_width)
        members = {name: member for name, member in self.inner.signature.members.items() if name != "axi"}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        pass_through(m, self, inner, self.signature.members)
        axi, ports = inner.axi, {}
        for name, (direction, width) in self.core.ports.items():
            if not name.startswith(AXI_PREFIX):
                continue
            signal = name[len(AXI_PREFIX):]
            value = getattr(axi, signal)
            if signal in ("awsize", "arsize"):           # LiteDRAM declares them 4 bits wide (AXI: 3)
                value = Cat(value, C(0, width - len(value)))
            ports[("i_" if direction == "input" else "o_") + name] = value
        # The controller's register bus is idle: the model needs no initialisation (sim/litedram/core.py).
        idle = {f"i_wb_ctrl_{name}": C(0, self.core.ports[f"wb_ctrl_{name}"][1])
                for name in ("adr", "dat_w", "sel", "cyc", "stb", "we", "cti", "bte")}
        m.submodules.litedram = Instance(self.core.module, i_clk=ClockSignal("sync"), i_sim_trace=C(0, 1),
                                         **ports, **idle)
        return m
