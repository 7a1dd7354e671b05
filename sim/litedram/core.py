"""LiteDRAM's DDR3 controller with its PHY model (SDRAMPHYModel) at the ECP5 PHY's 1:2 rate, generated as Verilog
for the end-to-end bench (sim/accelerator with MEMORY_PORT=litedram): the controller a board's core has, the
DRAM a model, the image preloaded.

`litedram_gen --sim` builds DDR3 at 1:4 with litex_sim's settings; this builds `litedram.gen.LiteDRAMCore` on a
SimPlatform with the module's timings for 1:2 and the model given a real `ECP5DDRPHY`'s PhySettings (nphases 2,
CL 6, CWL 5, its read and write latencies), as docs/ddr3-litedram.md describes. The configuration is the board's
(bitstreams/litedram/ecpix5.yml) and so is the module, tRFC from the datasheet (bitstreams.litedram.datasheet_module:
LiteDRAM gives it in clocks of the 1600 speed grade). One more upstream defect (measured by the probe there) is
worked around here: at nphases 2 the model's BankModel keeps one entry per 4 columns while the controller steps 8,
so a preloaded image comes back wrong: a bank model with one BL8 (8 columns) an entry.
AXI is not gated on init_done (the user port's `block_until_ready: False`): the model needs no initialisation; on a
board the init and read levelling (docs/ddr3-litedram.md) come first.

Needs the `litedram` extra (litedram, litex, migen, liteeth, litescope, pythondata-misc-tapcfg).
"""

from __future__ import annotations

import contextlib
import re
import struct
from pathlib import Path

from bitstreams.litedram import GeneratedCore, LiteDRAMConfig, core_settings, read_core

# The ECPIX-5's core (one x16 MT41K256M16, user_clk 75 MHz), as the board's bitstream builds it.
ECPIX5 = LiteDRAMConfig.load("ecpix5")
# The ButterStick's (DDR3L x16, as its bitstream builds it).
BUTTERSTICK = LiteDRAMConfig.load("butterstick")


def generate_sim_core(config: LiteDRAMConfig, image: bytes, out: Path) -> GeneratedCore:
    """The simulation core of `config` with `image` preloaded from address 0, into folder `out`."""
    import litedram.gen as gen
    import litedram.phy.model as model
    import litex.tools.litex_sim as litex_sim
    from litedram.common import burst_lengths
    from litedram.phy import ECP5DDRPHY
    from litex.build.sim import SimPlatform
    from litex.soc.integration.builder import Builder
    from migen.genlib.record import Record

    settings = core_settings(config.with_axi_port(block_until_ready=False), rate="1:2")   # no initialisation
    module = settings["sdram_module"]
    nbytes = settings["sdram_module_nb"]
    pads = Record([("a", (module.nrows - 1).bit_length()), ("ba", (module.nbanks - 1).bit_length()), ("ras_n", 1),
                   ("cas_n", 1), ("we_n", 1), ("cs_n", 1), ("dm", nbytes), ("dq", 8 * nbytes), ("dqs_p", nbytes),
                   ("clk_p", 1), ("cke", 1), ("odt", 1), ("reset_n", 1)])
    phy_settings = ECP5DDRPHY(pads, sys_clk_freq=config.sys_clk_freq).settings

    class CompactBankModel(model.BankModel):         # one BL8 an entry (see the module docstring)
        def __init__(self, data_width, nrows, ncols, burst_length, nphases, we_granularity, init):
            super().__init__(data_width, nrows, ncols, burst_lengths["DDR3"] // nphases, nphases, we_granularity,
                             init)

    data = image + bytes(-len(image) % 4)
    words = list(struct.unpack(f"<{len(data) // 4}I", data))
    original_model = gen.SDRAMPHYModel
    with _patched(litex_sim, "get_sdram_phy_settings", lambda memtype, data_width, clk_freq: phy_settings), \
            _patched(model, "BankModel", CompactBankModel), \
            _patched(gen, "SDRAMPHYModel", lambda **kw: original_model(init=words, **kw)):
        soc = gen.LiteDRAMCore(SimPlatform("", io=[]), settings, integrated_rom_size=0xC000)
        Builder(soc, output_dir=str(out), compile_gateware=False, compile_software=False).build(
            build_name=config.name, regular_comb=False, run=False)
    gateware = out / "gateware"
    source = gateware / f"{config.name}.v"
    text = re.sub(r'\$readmemh\("([^"/]+)"', lambda m: f'$readmemh("{gateware / m.group(1)}"', source.read_text())
    source.write_text(text)
    return read_core(source, config.name)


@contextlib.contextmanager
def _patched(owner, name, value):
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)
