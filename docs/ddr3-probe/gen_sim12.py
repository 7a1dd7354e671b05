#!/usr/bin/env python3
"""Generate a simulation LiteDRAM core (SDRAMPHYModel) with the ECP5DDRPHY's 1:2 settings and the same
user-facing interface as litedram_gen's hardware core (wb_ctrl, init_done/init_error, user_port_axi_0_*,
user_clk/user_rst), but with a plain `clk`/`rst` sys clock instead of the ECP5 CRG + DDR pins.

Reuses litedram.gen.LiteDRAMCore on a SimPlatform, patched so that
  * the SDRAM module timings are computed for "1:2" (gen.py hard-codes "1:4" for DDR3 in sim), and
  * the PHY model gets the PhySettings of a real ECP5DDRPHY (nphases=2, dfi_databits=4*databits, CL/CWL,
    read/write latency as the ECP5 PHY), instead of litex_sim's S7-like 1:4 settings.

usage: gen_sim12.py CONFIG.yml [--name N] [--output-dir D] [--small] [--init FILE.bin]
"""
import argparse, os, sys, time
import yaml

from migen import *
from migen.genlib.record import Record

from litex.build.sim import SimPlatform
from litex.soc.integration.builder import Builder

import litedram.gen as gen
from litedram import modules as litedram_modules
from litedram.phy import ECP5DDRPHY
import litex.tools.litex_sim as litex_sim


def ecp5_phy_settings(module_cls, nbytes, sys_clk_freq, nranks=1):
    """PhySettings exactly as ECP5DDRPHY computes them (instantiate the PHY on dummy pads, keep .settings)."""
    m = module_cls
    pads = Record([
        ("a", m.geom_settings_rowbits if hasattr(m, "geom_settings_rowbits") else (m.nrows - 1).bit_length()),
        ("ba", (m.nbanks - 1).bit_length()),
        ("ras_n", 1), ("cas_n", 1), ("we_n", 1), ("cs_n", nranks),
        ("dm", nbytes), ("dq", 8*nbytes), ("dqs_p", nbytes),
        ("clk_p", 1), ("cke", 1), ("odt", 1), ("reset_n", 1),
    ])
    return ECP5DDRPHY(pads, sys_clk_freq=sys_clk_freq).settings


def main():
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("--name", default="litedram_sim")
    p.add_argument("--output-dir", default="build_sim")
    p.add_argument("--module", default=None, help="override sdram_module (e.g. MT41K64M16 for a smaller model)")
    p.add_argument("--init", default=None, help="binary image preloaded into the model (little-endian 32-bit words)")
    p.add_argument("--trfc-ns", type=float, default=None,
                   help="override tRFC in ns (LiteDRAM's DDR3 modules give tRFC in clock cycles of the 1600 speed "
                        "grade, e.g. 208 ck for 4 Gb, i.e. ~5x the 260 ns datasheet value at 150 MHz)")
    p.add_argument("--compact", action="store_true",
                   help="store one BL8 (8 columns) per model memory entry instead of stock 4 (at nphases=2 the stock "
                        "model allocates 2x the DRAM size and leaves every other entry unused, and its init-image "
                        "layout then does not match what the controller reads)")
    args = p.parse_args()

    cfg = yaml.load(open(args.config).read(), Loader=yaml.Loader)
    for k, v in list(cfg.items()):
        if v in ("None", "True", "False"):
            cfg[k] = {"None": None, "True": True, "False": False}[v]
        if "clk_freq" in k:
            cfg[k] = float(v)
    base_module = getattr(litedram_modules, args.module or cfg["sdram_module"])
    sys_clk_freq = cfg["sys_clk_freq"]
    nbytes = cfg["sdram_module_nb"]

    # Module forced to 1:2 whatever rate gen.py asks for.
    class Module12(base_module):
        def __init__(self, clk_freq, rate=None):
            super().__init__(clk_freq, "1:2")
    if args.trfc_ns is not None:
        from litedram.modules import _SpeedgradeTimings
        Module12.speedgrade_timings = {
            k: _SpeedgradeTimings(tRP=v.tRP, tRCD=v.tRCD, tWR=v.tWR, tRFC=(None, args.trfc_ns), tFAW=v.tFAW,
                                  tRAS=v.tRAS)
            for k, v in base_module.speedgrade_timings.items()}
    Module12.__name__ = base_module.__name__ + "_1to2"
    cfg["sdram_module"] = Module12
    cfg["sdram_phy"] = ECP5DDRPHY  # informative only on SimPlatform

    settings = ecp5_phy_settings(base_module, nbytes, sys_clk_freq)
    t = Module12(sys_clk_freq).timing_settings
    print("timings (sys cycles):", {k: getattr(t, k) for k in ("tRP", "tRCD", "tWR", "tWTR", "tREFI", "tRFC",
                                                               "tFAW", "tCCD", "tRRD", "tRC", "tRAS", "tZQCS")})
    print("ECP5 PHY settings:", {k: getattr(settings, k) for k in (
        "phytype", "memtype", "databits", "dfi_databits", "nphases", "rdphase", "wrphase", "cl", "cwl",
        "read_latency", "write_latency", "bitslips", "delays", "read_leveling")})

    # The model takes phytype from the settings we pass; keep the ECP5 values but mark it a model.
    def _settings(memtype, data_width, clk_freq):
        assert memtype == "DDR3" and data_width == 8*nbytes
        return settings
    litex_sim.get_sdram_phy_settings = _settings

    if args.compact:
        import litedram.phy.model as model_mod
        from litedram.common import burst_lengths
        _BankModel = model_mod.BankModel
        class CompactBankModel(_BankModel):
            def __init__(self, data_width, nrows, ncols, burst_length, nphases, we_granularity, init):
                super().__init__(data_width, nrows, ncols, burst_lengths["DDR3"]//nphases, nphases,
                                 we_granularity, init)
        model_mod.BankModel = CompactBankModel

    if args.init:
        import struct
        data = open(args.init, "rb").read()
        data += b"\0" * (-len(data) % 4)
        words = list(struct.unpack(f"<{len(data)//4}I", data))
        orig = gen.SDRAMPHYModel
        def model_with_init(**kw):
            return orig(init=words, **kw)
        gen.SDRAMPHYModel = model_with_init

    platform = SimPlatform("", io=[])
    t0 = time.time()
    soc = gen.LiteDRAMCore(platform, cfg, integrated_rom_size=0xC000)
    builder = Builder(soc, output_dir=args.output_dir, compile_gateware=False, compile_software=False)
    builder.build(build_name=args.name, regular_comb=False, run=False)
    print(f"generated in {time.time()-t0:.1f}s")
    # The DFII init sequence as Python data (what the BIOS' init_sequence() does), for a testbench/FSM.
    from litedram.init import get_sdram_phy_py_header
    ctrl = soc.sdram.controller.settings
    with open(os.path.join(args.output_dir, "sdram_init.py"), "w") as f:
        f.write(get_sdram_phy_py_header(ctrl.phy, ctrl.timing))


if __name__ == "__main__":
    main()
