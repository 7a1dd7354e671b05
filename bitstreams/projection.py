"""Decode tokens/s and watts for a model on a target: the validated cycle model x a clock, bounded by memory.

    cycles/token  = one decode step of the compiled program through the ISS cost model (assembler.iss),
                    calibrated to the RTL within 0.3 % (sim/accelerator), for the target's lanes and
                    bytes/cycle = sustained bandwidth / clock                                   (derived)
    tokens/s      = clock / cycles per token; it approaches bandwidth / image bytes per token (the roofline)
                and never exceeds it: the cost model streams every weight at the bytes/cycle given
    watts         = FPGA static + logic, block RAM, DSP (utilisation x energy per toggle x toggle rate x clock)
                    + external memory I/O + DRAM (background + energy per bit read)            (projected)

Every figure carries its tag: measured (P&R, simulation), derived (composed from measured parts) or
projected (a model with the coefficients of power_coefficients(), each with its source; docs/power.md).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from golden.packing import TritFormat

from .targets import BOARDS

REPORTS = Path(__file__).resolve().parent / "reports"


@dataclasses.dataclass(frozen=True)
class Coefficient:
    value: float
    unit: str
    source: str
    # "measured": by this repository (the source names the bench); "transcribed": copied from the source in
    # this repository's history; "literature": a value the source is known for, not re-read here;
    # "assumption": our choice, stated as such.
    status: str


@dataclasses.dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    tag: str            # measured | derived | projected
    note: str = ""

    def __str__(self):
        return f"{self.value:,.4g} {self.unit} ({self.tag})"


C = Coefficient
ACTIVITY = Path(__file__).resolve().parent.parent / "bench" / "results" / "toggle_activity.json"


@functools.cache
def power_coefficients() -> dict[str, Coefficient]:
    """The power model's coefficients by name, each with its unit, source and status. Read on first use
    (not at import: `mmfree` imports this module for its target names): the toggle rate is the measurement
    bench/toggle_activity.py keeps in bench/results."""
    try:
        activity = json.loads(ACTIVITY.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{ACTIVITY} is missing: run bench/toggle_activity.py (the measured toggle rate "
                                "the power model needs)") from None
    return {
        "toggle_rate": C(round(activity["toggle_rate"], 4), "transitions per net bit per cycle",
                         f"bench/toggle_activity.py: Verilator toggle coverage over decode ({activity['configuration']}); "
                         "vendor estimators default to 0.125", "measured"),
        # 40 nm ECP5; per toggle, routing included.
        "ecp5_lut_pj": C(3.0, "pJ per LUT4 toggle", "order of magnitude for 40-nm FPGA logic incl. routing "
                         "(Kuon & Rose, FPGA vs ASIC gap, IEEE TCAD 2007: FPGA dynamic power ~14x ASIC)", "assumption"),
        "ecp5_ff_pj": C(1.0, "pJ per FF toggle", "as ecp5_lut_pj", "assumption"),
        "ecp5_bram_pj": C(25.0, "pJ per 18-Kbit block RAM access", "as ecp5_lut_pj (a DP16KD access ~ 8 LUT toggles)",
                          "assumption"),
        "ecp5_dsp_pj": C(15.0, "pJ per 18x18 multiply", "as ecp5_lut_pj", "assumption"),
        "ecp5_static_w": C(0.1, "W", "Lattice Power Calculator class figure for an idle LFE5U-85F at 25 C", "literature"),
        # 14-16 nm FPGAs (Stratix 10, UltraScale+): about half the energy per toggle of 40 nm.
        "finfet_energy_scale": C(0.5, "x the 40-nm energies", "Dennard-style C*V^2 scaling 40 nm/1.1 V -> 16 nm/0.85 V",
                                 "assumption"),
        "stratix10_static_w": C(10.0, "W", "Intel Early Power Estimator class figure for a Stratix 10 GX 2800 at 50 C",
                                "literature"),
        "u280_static_w": C(10.0, "W", "AMD Xilinx Power Estimator class figure for an XCU280 at 50 C", "literature"),
        # SDR SDRAM from datasheet currents: (IDD4 - IDD3N) * VDD / (f * width) per bit read.
        "sdr_read_pj_per_bit": C(87.0, "pJ/bit", "Alliance AS4C4M32SA-6 datasheet Rev 1.0 (Sep 2015) Table 9: IDD4 200 mA, "
                                 "IDD3N 60 mA at 3.3 V, 166 MHz x 32 bit: 0.14 A * 3.3 V / 5.3 Gb/s", "transcribed"),
        "sdr_background_w": C(0.198, "W", "same table: IDD3N 60 mA * 3.3 V (a x32 part; the ULX3S x16 part is no higher)",
                              "transcribed"),
        "lvcmos33_pin_pf": C(10.0, "pF per pin incl. trace", "ECP5 sysIO pin capacitance (DS1044, ~6-8 pF) + trace",
                             "assumption"),
        # DDR3 on the ECP5 boards: Micron's IDD figures for 2 Gb x8 MT41J256M8 at DDR3-1600 (the MT18JDF51272AZ
        # module datasheet, Rev. C 04/13, Table 11, per chip of 18): IDD4R 84 mA, IDD3N 55 mA at 1.5 V.
        "ddr3_read_pj_per_bit": C(20.0, "pJ/bit", "core (IDD4R - IDD3N) x 1.5 V / (1600 Mb/s x 8) = 3.4 pJ/bit from "
                                  "Micron MT18JDF51272AZ Table 11, plus SSTL15 I/O and termination: taken as the "
                                  "DDR4 figure below", "assumption"),
        "ddr3_background_w": C(0.08, "W per x16 chip", "Micron MT18JDF51272AZ Rev. C Table 11: IDD3N 990 mA for 18 "
                               "x8 chips at 1.5 V = 0.083 W a chip (active standby; a 2 Gb x8 part: the boards' 4 Gb x16 parts are taken as equal)", "transcribed"),
        "ddr4_read_pj_per_bit": C(20.0, "pJ/bit", "Horowitz, 'Computing's energy problem', ISSCC 2014: DRAM 1.3-2.6 nJ "
                                  "per 64-bit access (low end)", "literature"),
        "ddr4_background_w": C(1.0, "W per DIMM channel", "Micron TN-40-07 method (DDR4 power calculator), active "
                               "standby of an 8-chip rank", "literature"),
        "hbm2_read_pj_per_bit": C(3.9, "pJ/bit", "O'Connor et al., 'Fine-Grained DRAM', MICRO 2017: HBM2 3.9 pJ/bit",
                                  "literature"),
        "hbm2_background_w": C(2.0, "W per 4 GB stack", "JEDEC HBM2 class figure", "assumption"),
    }


@dataclasses.dataclass(frozen=True)
class Target:
    """A board or FPGA class. peak_gb_s: the memory's peak; efficiency: sustained / peak; clock_mhz: None =
    the build report's (measured); build: the board whose P&R report gives the utilisation to scale."""
    name: str
    description: str
    memory: str
    capacity_bytes: int
    peak_gb_s: float
    efficiency: float
    efficiency_source: str
    memory_latency: int
    clock_mhz: float | None
    clock_source: str
    lanes: int
    build: str
    energy_scale: str                 # key of power_coefficients() scaling the 40-nm energies, or ""
    static: str                       # key of power_coefficients()
    dram_pj: str
    dram_background: str
    dram_channels: int = 1
    io_pins: int = 0                  # external memory data pins toggling at the data rate (on-board DRAM)
    peak_bytes_per_clock: float = 0   # > 0: peak = this x the build's memory clock (the accelerator's if none)
    vector_width: int = 1             # V of the vector, norm and data-mover units (hw.vmem)
    prefetch_bytes: int = 4096        # the buffer PREFETCHed matrices stream into (hw.accelerator)
    mem_bytes: int = 64               # the memory port's beat
    states_in_memory: bool = False    # the program keeps the recurrent states in DRAM (assembler.compiler)
    load_bytes_per_clock: float = 0   # > 0: image bytes a clock the host link loads (its source: LOAD_SOURCE)
    batch_lanes: int = 0              # > 0: a batch-B build puts its slots side by side, B engine trees of this many
                                      # lanes (hw.ternary_engine's parallel build); 0: the slots in turn, `lanes`
    write_bytes: int = 1              # VSTORE's writes (hw.data_mover): 4 where the memory port takes words (hw.axi)


# LiteDRAM's sustained read bandwidth on 256-beat AXI bursts at 1:2 with the datasheet's tRFC (the probe of
# docs/ddr3-litedram.md: 7.45 of 8 B/clock); sim.memory_model.DDR3_ECPIX5 models it.
DDR3_EFFICIENCY = 0.93
# The Ethernet link's image load (docs/ethernet.md): 729,984 bytes in 787,276 device cycles over LiteEth's GMII
# core in simulation (sim/eth, the shipped model's image), the wire's 0.929 bytes/cycle at most.
ETHERNET_LOAD_BYTES_PER_CLOCK = 0.927
LOAD_SOURCE = "measured: sim/eth, LiteEth UDP at GMII, the shipped model's image (docs/ethernet.md)"
DDR3_EFFICIENCY_SOURCE = ("measured: LiteDRAM's controller + PHY model at 1:2 (sim/litedram), 256-beat AXI reads, "
                          "tRFC 260 ns: 7.45 of 8 B/clock")

def ddr3_board(name: str, description: str, *, memory: str, capacity_bytes: int) -> Target:
    """A DDR3 board: LiteDRAM's ECP5 PHY at 1:2, so 4 transfers of the x16 bus a controller clock (the device's, no
    crossing): 8 B/clock peak; the board's datapath as it is built (bitstreams/targets.py: L 80 base-3, 16 B of trits a
    clock, twice the peak, as bench/decode_roofline.py's ddr3 system at L 64 in 2-bit; its V); the released models keep
    their states in DRAM there (bench/results/memory_budget.txt); the host link over Ethernet."""
    board = BOARDS[name]
    return Target(name=name, description=description, memory=memory, capacity_bytes=capacity_bytes, peak_gb_s=0.0,
                  efficiency=DDR3_EFFICIENCY, efficiency_source=DDR3_EFFICIENCY_SOURCE, memory_latency=27,
                  clock_mhz=None, clock_source="measured: the build's constraint, met after P&R", lanes=board.lanes,
                  vector_width=board.vector_width, prefetch_bytes=board.prefetch_bytes, mem_bytes=16, build=name,
                  energy_scale="",
                  static="ecp5_static_w", dram_pj="ddr3_read_pj_per_bit", dram_background="ddr3_background_w",
                  peak_bytes_per_clock=8, states_in_memory=True, load_bytes_per_clock=ETHERNET_LOAD_BYTES_PER_CLOCK)


TARGETS = {t.name: t for t in [
    Target(name="ulx3s-85f", description="ULX3S: ECP5 LFE5U-85F, 32 MB SDR SDRAM x16 at the build clock",
           memory="SDR SDRAM 16-bit", capacity_bytes=32 << 20, peak_gb_s=0.0, efficiency=0.977,
           efficiency_source="measured: sim/sdram streaming, 4096 beats in 16-beat requests, ULX3S geometry and clock",
           memory_latency=10, clock_mhz=None, clock_source="measured: the build's constraint, met after P&R",
           lanes=16, build="ulx3s-85f", energy_scale="", static="ecp5_static_w", dram_pj="sdr_read_pj_per_bit",
           dram_background="sdr_background_w", io_pins=16, peak_bytes_per_clock=2, mem_bytes=2),
    ddr3_board("ecpix5-85f", "ECPIX-5: ECP5 LFE5UM5G-85F, 512 MiB DDR3 x16 (MT41K256M16) through LiteDRAM at 1:2",
               memory="DDR3 x16 at 4 transfers a clock", capacity_bytes=512 << 20),
    ddr3_board("butterstick", "ButterStick r1.0: ECP5 LFE5UM5G-85F, 256 MiB DDR3L x16 (two ranks of MT41K64M16) "
               "through LiteDRAM at 1:2", memory="DDR3L x16 at 4 transfers a clock", capacity_bytes=256 << 20),
    Target(name="ddr4-pac", description="the paper's class: Stratix 10 GX card (Intel PAC D5005 class), one DDR4-2400 "
           "x64 channel", memory="DDR4-2400 x64", capacity_bytes=8 << 30, peak_gb_s=19.2, efficiency=0.8,
           efficiency_source="assumption: DDR4 controller efficiency on long sequential reads",
           memory_latency=30, clock_mhz=200.0, clock_source="assumption: 200 MHz on a 14-nm FPGA (our 40-nm ECP5 engine: "
           "120 MHz measured)", lanes=512, vector_width=16, prefetch_bytes=1 << 18, build="ulx3s-85f",
           energy_scale="finfet_energy_scale", static="stratix10_static_w",
           dram_pj="ddr4_read_pj_per_bit", dram_background="ddr4_background_w"),
    Target(name="hbm-u280", description="HBM card: AMD Alveo U280 (XCU280), 8 GB HBM2, all 32 pseudo-channels",
           memory="HBM2, 2 stacks", capacity_bytes=8 << 30, peak_gb_s=460.0, efficiency=0.8,
           efficiency_source="assumption: HBM2 pseudo-channels on sequential reads", memory_latency=60,
           clock_mhz=250.0, clock_source="assumption: 250 MHz on a 16-nm FPGA", lanes=8192, vector_width=64,
           prefetch_bytes=1 << 22, build="ulx3s-85f",
           # Batched: a tree a slot as wide as the 2.7B's hidden rows (2,560 columns: one beat), B x 2,560 lanes in
           # all; the recurrent states' VSTOREs a word a write through the AXI port.
           batch_lanes=2560, write_bytes=4,
           energy_scale="finfet_energy_scale", static="u280_static_w", dram_pj="hbm2_read_pj_per_bit",
           dram_background="hbm2_background_w", dram_channels=2),
]}

# The engine's growth per lane (measured: bench/results/engine_synth.txt, 64 -> 256 lanes, Yosys synth_ecp5).
LUT_PER_LANE, FF_PER_LANE = 33.7, 28.3


def load_build_report(board: str, directory: Path = REPORTS) -> dict:
    path = directory / f"{board}.json"
    if not path.exists():
        raise FileNotFoundError(f"no build report {path}: run `mmfree build --board {board} --report-dir {directory}`")
    return json.loads(path.read_text())


def cycles_per_token(config, trit_format, *, lanes: int, bytes_per_cycle: float, memory_latency: int,
                     vector_width: int = 1, prefetch_bytes: int = 4096, mem_bytes: int = 64,
                     states_in_memory: bool = False):
    """(decode-step counters, memory bytes: the image and the program's work area) from the ISS cost model of such
    a build (hw.accelerator.cost_model_for) over the compiled program (no weights)."""
    from assembler.compiler import compile_model
    from assembler.iss import decode_step_counters
    from golden.image import image_layout
    from hw.accelerator import cost_model_for

    layout = image_layout(config, trit_format)
    compiled = compile_model(layout, states_in_memory=states_in_memory)
    cost = cost_model_for(lanes=lanes, vector_width=vector_width, prefetch_bytes=prefetch_bytes, mem_bytes=mem_bytes,
                          bytes_per_cycle=bytes_per_cycle, memory_latency=memory_latency)
    return decode_step_counters(compiled.program.instructions, trit_format, cost), compiled.memory_bytes


def decode_rate(step_cycles: int, step_bytes: int, clock_hz: float, bandwidth_bytes_s: float) -> tuple[float, float]:
    """(tokens/s from the cycle model, roofline tokens/s = bandwidth / bytes per token). The cycle model
    streams every weight at the given bytes/cycle, so the first can only approach the second (tested)."""
    return clock_hz / step_cycles, bandwidth_bytes_s / step_bytes


def power(target: Target, utilisation: dict, clock_hz: float, read_bytes_s: float) -> dict[str, Figure]:
    """Watts by component (projected), from utilisation (cells), the clock and the DRAM read rate."""
    k = {name: c.value for name, c in power_coefficients().items()}
    alpha, scale = k["toggle_rate"], k[target.energy_scale] if target.energy_scale else 1.0
    logic = clock_hz * alpha * scale * (utilisation["lut"] * k["ecp5_lut_pj"] + utilisation["ff"] * k["ecp5_ff_pj"]) * 1e-12
    bram = clock_hz * alpha * scale * utilisation["bram"] * k["ecp5_bram_pj"] * 1e-12
    dsp = clock_hz * alpha * scale * utilisation["dsp"] * k["ecp5_dsp_pj"] * 1e-12
    # On-board DRAM pins: C * V^2 per transition, half the data bits flip per beat on average.
    beats_s = read_bytes_s / (target.io_pins / 8) if target.io_pins else 0.0
    io = target.io_pins * 0.5 * beats_s * k["lvcmos33_pin_pf"] * 1e-12 * 3.3 ** 2
    dram = read_bytes_s * 8 * k[target.dram_pj] * 1e-12 + target.dram_channels * k[target.dram_background]
    parts = {"fpga_static": k[target.static], "logic": logic, "block_ram": bram, "dsp": dsp, "memory_io": io,
             "dram": dram}
    figures = {name: Figure(value, "W", "projected") for name, value in parts.items()}
    figures["total"] = Figure(sum(parts.values()), "W", "projected")
    return figures


def scaled_utilisation(report: dict, lanes: int) -> dict[str, float]:
    """The build's cells plus the engine's per-lane growth for a target with more (or fewer) lanes."""
    used = {cell: v["used"] for cell, v in report["utilisation"].items()}
    extra = lanes - report["parameters"]["lanes"]
    lut = used.get("TRELLIS_COMB", used.get("ICESTORM_LC", 0)) + LUT_PER_LANE * extra
    ff = used.get("TRELLIS_FF", used.get("ICESTORM_LC", 0)) + FF_PER_LANE * extra
    bram = used.get("DP16KD", used.get("ICESTORM_RAM", 0)) + extra / 32      # weight/activation buffers
    return {"lut": lut, "ff": ff, "bram": bram, "dsp": used.get("MULT18X18D", used.get("ICESTORM_DSP", 0))}


def batching(config, target: Target, trit_format, *, clock: float, bytes_per_cycle: float, batch: int,
             prompt: int = 64) -> dict:
    """Prefill and decode at batch B against one (assembler.throughput: the ISS cost model of the target's
    datapath and memory over the single-request and the batched programs): tokens/s and the ratios."""
    from assembler.throughput import batch_cycles
    from golden.image import image_layout
    from hw.accelerator import cost_model_for

    layout = image_layout(config, trit_format)
    side_by_side = target.batch_lanes > 0
    costs = {b: cost_model_for(lanes=target.batch_lanes if side_by_side and b > 1 else target.lanes,
                               slot_trees=b if side_by_side else 1, vector_width=target.vector_width,
                               prefetch_bytes=target.prefetch_bytes, mem_bytes=target.mem_bytes,
                               bytes_per_cycle=bytes_per_cycle, memory_latency=target.memory_latency,
                               write_bytes=target.write_bytes) for b in (1, batch)}
    one, many = (batch_cycles(layout, b, costs[b], prompt=prompt, vector_width=target.vector_width,
                              states_in_memory=target.states_in_memory) for b in (1, batch))
    return {"batch": batch, "prompt": prompt,
            "engine": (f"{batch} trees of {target.batch_lanes} lanes, the slots side by side" if side_by_side else
                       f"{target.lanes} lanes, the slots in turn"),
            "prefill_one": one.prefill_tokens_per_s(clock), "prefill": many.prefill_tokens_per_s(clock),
            "decode_one": one.decode_tokens_per_s(clock), "decode": many.decode_tokens_per_s(clock)}


def project(config, target: Target, trit_format=None, *, report: dict | None = None,
            bandwidth_gb_s: float | None = None, clock_mhz: float | None = None, batch: int | None = None) -> dict:
    """The projection of one model on one target, every figure tagged; trit_format None: the packing the target's
    own build reads (its report), base-3 for a target not built. batch: also prefill and decode with B Q slots
    (`batching`), projected: a batch-B build's clock and size are taken as the build's."""
    report = report if report is not None else load_build_report(target.build)
    if trit_format is None:
        own = target.build == target.name and "trit_format" in report["parameters"]
        trit_format = TritFormat[report["parameters"]["trit_format"]] if own else TritFormat.TRITS_BASE3
    if clock_mhz is not None:
        clock, clock_tag, clock_note = clock_mhz * 1e6, "projected", "given"
    elif target.clock_mhz is None:
        if not report["timing_met"]:
            clock = report["fmax_mhz"] * 1e6
            clock_note = "the build's Fmax (timing not met at its constraint)"
        else:
            clock, clock_note = report["parameters"]["clock_mhz"] * 1e6, target.clock_source
        clock_tag = "measured"
    else:
        clock, clock_tag, clock_note = target.clock_mhz * 1e6, "projected", target.clock_source
    if bandwidth_gb_s is not None:
        peak = bandwidth_gb_s * 1e9
    elif target.peak_bytes_per_clock:             # on the build's memory clock (its own, or the accelerator's)
        memory_mhz = report["parameters"].get("memory_clock_mhz")
        own_clock = memory_mhz and memory_mhz != report["parameters"]["clock_mhz"]    # else it follows the device's
        peak = target.peak_bytes_per_clock * (memory_mhz * 1e6 if clock_mhz is None and own_clock else clock)
    else:
        peak = target.peak_gb_s * 1e9
    bandwidth = peak * target.efficiency
    step, image_bytes = cycles_per_token(config, trit_format, lanes=target.lanes, vector_width=target.vector_width,
                                         prefetch_bytes=target.prefetch_bytes, mem_bytes=target.mem_bytes,
                                         bytes_per_cycle=bandwidth / clock,
                                         memory_latency=target.memory_latency, states_in_memory=target.states_in_memory)
    tokens_s, roofline = decode_rate(step.cycles, step.bytes_read, clock, bandwidth)
    read_bytes_s = tokens_s * step.bytes_read
    watts = power(target, scaled_utilisation(report, target.lanes), clock, read_bytes_s)
    measured_clock = clock_tag == "measured"
    rate_tag = "derived" if measured_clock and target.efficiency_source.startswith("measured") else "projected"
    return {
        "target": target.name, "lanes": target.lanes,
        "clock": Figure(clock / 1e6, "MHz", clock_tag, clock_note),
        "bandwidth": Figure(bandwidth / 1e9, "GB/s", rate_tag, target.efficiency_source),
        "image_bytes": image_bytes, "fits": image_bytes <= target.capacity_bytes,
        "bytes_per_token": step.bytes_read,
        "cycles_per_token": Figure(step.cycles, "cycles", "derived", "ISS cost model, calibrated to the RTL"),
        "tokens_per_s": Figure(tokens_s, "tokens/s", rate_tag),
        "roofline_tokens_per_s": Figure(roofline, "tokens/s", rate_tag, "bandwidth / bytes per token"),
        "percent_of_roofline": 100 * tokens_s / roofline,
        "watts": watts,
        "tokens_per_joule": Figure(tokens_s / watts["total"].value, "tokens/J", "projected"),
        "load_seconds": (Figure(image_bytes / (target.load_bytes_per_clock * clock), "s", rate_tag, LOAD_SOURCE)
                         if target.load_bytes_per_clock else None),
        "batching": (None if not batch or batch == 1 else
                     {name: Figure(value, "tokens/s", rate_tag if name.endswith("_one") else "projected")
                      if isinstance(value, float) else value
                      for name, value in batching(config, target, trit_format, clock=clock,
                                                  bytes_per_cycle=bandwidth / clock, batch=batch).items()}),
    }


def format_projection(model: str, result: dict) -> str:
    target = TARGETS[result["target"]]
    lines = [f"{model} on {target.description}: {result['lanes']} lanes",
             f"  clock              {result['clock']}  [{result['clock'].note}]",
             f"  memory bandwidth   {result['bandwidth']}  [{target.memory}; {result['bandwidth'].note}]",
             f"  image + work area  {result['image_bytes'] / 2 ** 20:,.1f} MiB"
             + ("" if result["fits"] else f"  (does NOT fit the {target.capacity_bytes / 2 ** 20:,.0f} MiB memory)"),
             f"  bytes per token    {result['bytes_per_token']:,}",
             f"  cycles per token   {result['cycles_per_token']}",
             f"  decode             {result['tokens_per_s']}, {result['percent_of_roofline']:.1f} % of the "
             f"memory roofline {result['roofline_tokens_per_s']}",
             "  power              " + ", ".join(f"{name} {fig.value:.3g} W" for name, fig in result["watts"].items()
                                                  if name != "total") + f"; total {result['watts']['total']}",
             f"  energy efficiency  {result['tokens_per_joule']}",
             *([f"  image load         {result['load_seconds']}  [over Ethernet: {result['load_seconds'].note}]"]
               if result["load_seconds"] else []),
             *(_batching_lines(result["batching"]) if result.get("batching") else []),
             "  power coefficients and their sources: docs/power.md"]
    return "\n".join(lines)


def _batching_lines(rows: dict) -> list[str]:
    b, prompt = rows["batch"], rows["prompt"]
    ratio = lambda name: rows[name].value / rows[f"{name}_one"].value     # noqa: E731
    return [f"  prefill            {rows['prefill_one']} one token a weight pass; {rows['prefill']} at B {b} "
            f"({ratio('prefill'):.2f}x; a {prompt}-token prompt, B tokens a pass)",
            f"  batched decode     {rows['decode_one']} one request; {rows['decode']} for {b} requests together "
            f"({ratio('decode'):.2f}x; a batch-{b} build: {rows['engine']}, its clock taken as the build's: "
            f"projected)"]


def markdown() -> str:
    """docs/power.md, generated from this module (`python -m bitstreams.projection`)."""
    lines = ["# Power and performance projection model", "",
             "Generated from `bitstreams/projection.py` (`python -m bitstreams.projection`); `mmfree report` applies it.", ""]
    lines += [line[4:] if line.startswith("    ") else line for line in __doc__.splitlines()]
    lines += ["", "## Coefficients", "",
              "Status: *measured* = by this repository (the bench named); *transcribed* = copied from the cited source "
              "into this repository; *literature* = the value the "
              "source is known for, not re-read for this repository (check before relying on it); *assumption* = our "
              "choice, with the reasoning given.", "",
              "| name | value | unit | status | source |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {c.value:g} | {c.unit} | {c.status} | {c.source} |" for name, c in power_coefficients().items()]
    lines += ["", "## Targets", "",
              "| target | memory | peak | sustained / peak | clock | lanes, V, prefetch | static | DRAM |",
              "|---|---|---|---|---|---|---|---|"]
    for t in TARGETS.values():
        peak = f"{t.peak_bytes_per_clock:g} B/clock" if t.peak_bytes_per_clock else f"{t.peak_gb_s:g} GB/s"
        clock = "the build's (measured)" if t.clock_mhz is None else f"{t.clock_mhz:g} MHz ({t.clock_source})"
        lines.append(f"| {t.name}: {t.description} | {t.memory}, {t.capacity_bytes / 2 ** 30:g} GiB | {peak} | "
                     f"{t.efficiency:g} ({t.efficiency_source}) | {clock} | {t.lanes}, {t.vector_width}, "
                     f"{t.prefetch_bytes // 1024} KiB"
                     + (f"; batched: B trees of {t.batch_lanes} lanes" if t.batch_lanes else "")
                     + (f"; VSTORE {t.write_bytes} B a write" if t.write_bytes > 1 else "")
                     + f" | {t.static} | {t.dram_pj}, "
                     f"{t.dram_channels} x {t.dram_background} |")
    lines += ["", "## What is measured and what is not", "",
              "- Measured: utilisation and Fmax of the ULX3S build (nextpnr, `bitstreams/reports/`), the SDRAM "
              "controller's sustained efficiency (`sim/sdram/`), the cycle model's agreement with the RTL "
              "(`sim/accelerator/`, within 0.3 %), the engine's growth per lane (`bench/results/engine_synth.txt`).",
              "- Toggle rate: measured on the RTL's nets in simulation (bench/toggle_activity.py), one average for all "
              "logic; post-synthesis nets (LUT outputs, routing) toggle differently, and block RAM and DSP activity "
              "is taken as that same average.",
              "- Larger targets reuse the ULX3S build's utilisation plus the engine's per-lane growth: no place and "
              "route was run for them, so their clock is an assumption and their figures are *projected*.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    (Path(__file__).resolve().parent.parent / "docs" / "power.md").write_text(markdown(), encoding="utf-8")
