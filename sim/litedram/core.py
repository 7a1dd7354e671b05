"""LiteDRAM's DDR3 controller with its PHY model (SDRAMPHYModel) at the ECP5 PHY's 1:2 rate, generated as Verilog
for the end-to-end bench (sim/accelerator with MEMORY_PORT=litedram): the controller a board's core has, the
DRAM a model, the image preloaded.

`litedram_gen --sim` builds DDR3 at 1:4 with litex_sim's settings; this builds `litedram.gen.LiteDRAMCore` on a
SimPlatform with the module's timings for 1:2 and the model given a real `ECP5DDRPHY`'s PhySettings (nphases 2,
CL 6, CWL 5, its read and write latencies), as docs/ddr3-litedram.md describes. Two upstream defects are worked
around here (both measured by the probe there):
- at nphases 2 the model's BankModel keeps one entry per 4 columns while the controller steps 8, so a preloaded
  image comes back wrong: a bank model with one BL8 (8 columns) an entry;
- DDR3 tRFC is given in clocks of the 1600 speed grade (208 for 4 Gb: 1.39 us at 75 MHz against the datasheet's
  260 ns): the module's tRFC is set in nanoseconds, TRFC_NS.
AXI is not gated on init_done (the user port's `block_until_ready: False`): the model needs no initialisation; on a board the
init and read levelling (docs/ddr3-litedram.md) come first.

Needs the `litedram` extra (litedram, litex, migen, liteeth, litescope, pythondata-misc-tapcfg).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import struct
from pathlib import Path

TRFC_NS = 260.0                     # DDR3 4 Gb tRFC (JEDEC); the 8 Gb parts' is 350 ns


@dataclasses.dataclass(frozen=True)
class LiteDRAMConfig:
    """A LiteDRAM core as litedram_gen's YAML describes it (the keys the project uses)."""
    name: str
    device: str
    sdram_module: str
    sdram_module_nb: int             # byte lanes (x8 units: a x16 chip is 2)
    sys_clk_freq: float              # the controller's clock, Hz
    input_clk_freq: float
    axi_data_width: int = 128        # the native width at 1:2 (16-bit bus x BL8)
    axi_id_width: int = 4
    block_until_ready: bool = True   # the user port waits for init_done (written after init and levelling)

    def yaml_dict(self) -> dict:
        return {"memtype": "DDR3", "device": self.device, "cpu": None, "sdram_module": self.sdram_module,
                "sdram_module_nb": self.sdram_module_nb, "sdram_rank_nb": 1, "sdram_phy": "ECP5DDRPHY",
                "input_clk_freq": self.input_clk_freq, "sys_clk_freq": self.sys_clk_freq, "init_clk_freq": 25e6,
                "cmd_buffer_depth": 16,
                "user_ports": {"axi_0": {"type": "axi", "data_width": self.axi_data_width,
                                         "id_width": self.axi_id_width, "block_until_ready": self.block_until_ready}}}


# LiteX's own settings for the board (litex-boards 2023.12, lambdaconcept_ecpix5): one x16 MT41K256M16, 75 MHz.
ECPIX5 = LiteDRAMConfig(name="litedram_ecpix5", device="LFE5UM5G-85F-8BG554I", sdram_module="MT41K256M16",
                        sdram_module_nb=2, sys_clk_freq=75e6, input_clk_freq=100e6)

# LiteX's settings for the ButterStick (litex-boards 2023.12, gsd_butterstick): DDR3L x16, the default
# MT41K64M16, 60 MHz. One rank here: LiteX's own target takes two from the board's two cs_n pins.
BUTTERSTICK = LiteDRAMConfig(name="litedram_butterstick", device="LFE5UM5G-85F-8BG381C", sdram_module="MT41K64M16",
                             sdram_module_nb=2, sys_clk_freq=60e6, input_clk_freq=30e6)


@dataclasses.dataclass(frozen=True)
class GeneratedCore:
    verilog: Path                    # the core, its $readmemh paths absolute
    module: str                      # its top module's name
    ports: dict                      # port name -> (direction, width)


def generate_sim_core(config: LiteDRAMConfig, image: bytes, out: Path) -> GeneratedCore:
    """The simulation core of `config` with `image` preloaded from address 0, into folder `out`."""
    import litedram.gen as gen
    import litedram.phy.model as model
    import litex.tools.litex_sim as litex_sim
    from litedram import modules
    from litedram.common import burst_lengths
    from litedram.modules import _SpeedgradeTimings
    from litedram.phy import ECP5DDRPHY
    from litex.build.sim import SimPlatform
    from litex.soc.integration.builder import Builder
    from migen.genlib.record import Record

    base = getattr(modules, config.sdram_module)

    class Module12(base):                            # the timings at 1:2, tRFC in ns
        speedgrade_timings = {grade: _SpeedgradeTimings(tRP=t.tRP, tRCD=t.tRCD, tWR=t.tWR, tRFC=(None, TRFC_NS),
                                                         tFAW=t.tFAW, tRAS=t.tRAS)
                              for grade, t in base.speedgrade_timings.items()}

        def __init__(self, clk_freq, rate=None):
            super().__init__(clk_freq, "1:2")
    Module12.__name__ = f"{base.__name__}_1to2"

    nbytes = config.sdram_module_nb
    pads = Record([("a", (base.nrows - 1).bit_length()), ("ba", (base.nbanks - 1).bit_length()), ("ras_n", 1),
                   ("cas_n", 1), ("we_n", 1), ("cs_n", 1), ("dm", nbytes), ("dq", 8 * nbytes), ("dqs_p", nbytes),
                   ("clk_p", 1), ("cke", 1), ("odt", 1), ("reset_n", 1)])
    settings = ECP5DDRPHY(pads, sys_clk_freq=config.sys_clk_freq).settings

    class CompactBankModel(model.BankModel):         # one BL8 an entry (see the module docstring)
        def __init__(self, data_width, nrows, ncols, burst_length, nphases, we_granularity, init):
            super().__init__(data_width, nrows, ncols, burst_lengths["DDR3"] // nphases, nphases, we_granularity,
                             init)

    data = image + bytes(-len(image) % 4)
    words = list(struct.unpack(f"<{len(data) // 4}I", data))
    original_model = gen.SDRAMPHYModel
    config = dataclasses.replace(config, block_until_ready=False)      # the model needs no initialisation
    cfg = {**config.yaml_dict(), "sdram_module": Module12, "sdram_phy": ECP5DDRPHY}
    with _patched(litex_sim, "get_sdram_phy_settings", lambda memtype, data_width, clk_freq: settings), \
            _patched(model, "BankModel", CompactBankModel), \
            _patched(gen, "SDRAMPHYModel", lambda **kw: original_model(init=words, **kw)):
        soc = gen.LiteDRAMCore(SimPlatform("", io=[]), cfg, integrated_rom_size=0xC000)
        Builder(soc, output_dir=str(out), compile_gateware=False, compile_software=False).build(
            build_name=config.name, regular_comb=False, run=False)
    gateware = out / "gateware"
    source = gateware / f"{config.name}.v"
    text = re.sub(r'\$readmemh\("([^"/]+)"', lambda m: f'$readmemh("{gateware / m.group(1)}"', source.read_text())
    source.write_text(text)
    header = re.search(rf"module {config.name}\s*\((.*?)\);", text, re.S).group(1)
    ports = {name: (direction, int(msb) + 1 if msb else 1)
             for direction, msb, name in re.findall(r"(input|output)\s+wire\s+(?:\[(\d+):0\])?\s*(\w+)", header)}
    return GeneratedCore(verilog=source, module=config.name, ports=ports)


@contextlib.contextmanager
def _patched(owner, name, value):
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)
