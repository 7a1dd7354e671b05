"""LiteDRAM DDR3 cores for the ECP5 boards, generated from the configurations kept here (`<board>.yml`, litedram_gen's
format) through LiteDRAM's Python API.

    <board>.yml ─► LiteDRAMConfig ─► litedram.gen.LiteDRAMCore (ECP5DDRPHY, its PLL, no CPU, an AXI user port)
                                      with the module's tRFC from its datasheet ─► <name>.v + GeneratedCore (ports)

`litedram_gen` would read the same YAML, but LiteDRAM gives DDR3 tRFC in clocks of the 1600 speed grade (208 for a
4 Gb part: 1.39 us at 75 MHz against the datasheet's 260 ns; docs/ddr3-litedram.md measured the cost, 79 % against
93 % of the read peak), and no YAML key changes it: the module is subclassed here with tRFC in nanoseconds
(`datasheet_module`), which only the Python API can take. sim/litedram/core.py builds its simulation core from the
same configurations and module.

Needs the `litedram` extra (litedram, litex, migen, liteeth, litescope, pythondata-misc-tapcfg).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from pathlib import Path

CONFIG_DIR = Path(__file__).parent

# DDR3 tRFC(min) by die density in Gb: JEDEC JESD79-3 refresh parameters by device density (the Micron MT41K
# datasheets give the same figures).
DDR3_TRFC_NS = {1: 110.0, 2: 160.0, 4: 260.0, 8: 350.0}


@dataclasses.dataclass(frozen=True)
class LiteDRAMConfig:
    """A core as litedram_gen's YAML describes it. name: the Verilog module; settings: the YAML's keys as litedram_gen
    reads them (module and PHY by name)."""
    name: str
    settings: dict

    @classmethod
    def load(cls, board: str) -> "LiteDRAMConfig":
        """CONFIG_DIR/<board>.yml; the module is named litedram_<board>."""
        import yaml

        path = CONFIG_DIR / f"{board}.yml"
        if not path.exists():
            kept = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yml")))
            raise FileNotFoundError(f"no LiteDRAM configuration {path} (kept: {kept})")
        settings = yaml.load(path.read_text(), Loader=yaml.Loader)
        # As litedram_gen converts them: Python literals written as words, clock frequencies as floats.
        words = {"False": False, "True": True, "None": None}
        settings = {key: words.get(value, value) if isinstance(value, str) else value
                    for key, value in settings.items()}
        settings.update({key: float(value) for key, value in settings.items() if "clk_freq" in key})
        return cls(name=f"litedram_{board.replace('-', '_')}", settings=settings)

    @property
    def sys_clk_freq(self) -> float:
        """user_clk, Hz: the controller's clock (the DDR3 clock is twice it, at 1:2)."""
        return self.settings["sys_clk_freq"]

    @property
    def axi_port(self) -> dict:
        return self.settings["user_ports"]["axi_0"]

    def with_axi_port(self, **changes) -> "LiteDRAMConfig":
        """The same core with the AXI user port's settings changed (e.g. block_until_ready)."""
        ports = {**self.settings["user_ports"], "axi_0": {**self.axi_port, **changes}}
        return dataclasses.replace(self, settings={**self.settings, "user_ports": ports})

    @property
    def density_gbit(self) -> int:
        """Gb of one DRAM die: the module's banks x rows x columns at the configured data width."""
        module = _module_class(self.settings["sdram_module"])
        return module.nbanks * module.nrows * module.ncols * 8 * self.settings["sdram_module_nb"] >> 30

    @property
    def size_bytes(self) -> int:
        """The memory behind the core: every rank."""
        return (self.density_gbit << 30) // 8 * self.settings.get("sdram_rank_nb", 1)

    @property
    def trfc_ns(self) -> float:
        return DDR3_TRFC_NS[self.density_gbit]


@dataclasses.dataclass(frozen=True)
class GeneratedCore:
    verilog: Path                    # the core's Verilog
    module: str                      # its top module's name
    ports: dict                      # port name -> (direction "input" | "output" | "inout", width)
    trfc_cycles: int | None = None   # the refresh time the controller was built with, in user_clk cycles


def datasheet_module(config: LiteDRAMConfig, *, rate: str | None = None):
    """The LiteDRAM module class of `config` with tRFC in nanoseconds from the datasheet (DDR3_TRFC_NS), every
    other timing LiteDRAM's; `rate` forces the frequency ratio (the simulation core's 1:2), else the caller's."""
    from litedram.modules import _SpeedgradeTimings

    base = _module_class(config.settings["sdram_module"])
    trfc = config.trfc_ns

    class DatasheetModule(base):
        speedgrade_timings = {grade: _SpeedgradeTimings(tRP=t.tRP, tRCD=t.tRCD, tWR=t.tWR, tRFC=(None, trfc),
                                                         tFAW=t.tFAW, tRAS=t.tRAS)
                              for grade, t in base.speedgrade_timings.items()}

        def __init__(self, clk_freq, rate=rate or "1:4", forced=rate):
            super().__init__(clk_freq, forced or rate)

    DatasheetModule.__name__ = f"{base.__name__}_tRFC{trfc:g}ns"
    return DatasheetModule


def core_settings(config: LiteDRAMConfig, **module_options) -> dict:
    """litedram.gen.LiteDRAMCore's configuration: the YAML's, module and PHY as classes."""
    from litedram import phy

    return {**config.settings, "sdram_module": datasheet_module(config, **module_options),
            "sdram_phy": getattr(phy, config.settings["sdram_phy"])}


def generate_core(config: LiteDRAMConfig, out: Path) -> GeneratedCore:
    """The hardware core of `config` (ECP5DDRPHY, the PLL from the board clock, user_clk / user_rst, the AXI user
    port, wb_ctrl to the CSRs) into folder `out` (out/gateware/<name>.v; LiteX's log in out/litedram.log)."""
    import litedram.gen as gen
    from litex.build.lattice import LatticePlatform
    from litex.soc.integration.builder import Builder

    out.mkdir(parents=True, exist_ok=True)
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        platform = LatticePlatform(config.settings["device"], io=[], toolchain="trellis")
        soc = gen.LiteDRAMCore(platform, core_settings(config), integrated_rom_size=0xC000)
        Builder(soc, output_dir=str(out), compile_gateware=False, compile_software=False).build(
            build_name=config.name, regular_comb=False)
    (out / "litedram.log").write_text(log.getvalue())
    core = read_core(out / "gateware" / f"{config.name}.v", config.name)
    return dataclasses.replace(core, trfc_cycles=soc.sdram.controller.settings.timing.tRFC)


def read_core(verilog: Path, module: str) -> GeneratedCore:
    """The ports of `module` in a generated Verilog file."""
    header = re.search(rf"module {module}\s*\((.*?)\);", verilog.read_text(), re.S).group(1)
    ports = {name: (direction, int(msb) + 1 if msb else 1)
             for direction, msb, name in re.findall(r"(input|output|inout)\s+wire\s+(?:\[(\d+):0\])?\s*(\w+)", header)}
    return GeneratedCore(verilog=verilog, module=module, ports=ports)


def _module_class(name: str):
    from litedram import modules

    return getattr(modules, name)
