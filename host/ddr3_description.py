"""What the host must know of a board's LiteDRAM core to bring its DDR3 up: the core's CSR map (byte addresses on
`wb_ctrl`), the ECP5 PHY's geometry, the DRAM's, and the DDR3 init sequence. One source: `host/ddr3_boards.json`,
produced by litedram itself and read at run time (a host needs no litedram installed):

    .venv/bin/python -m host.ddr3_description --write      # regenerate host/ddr3_boards.json (needs the litedram extra)

For each board the generator builds the standalone core exactly as a board build does (`litedram.gen.LiteDRAMCore`,
`cpu: None`, the YAML of sim/litedram/core.py's LiteDRAMConfig) and takes the CSR map from the `csr.json` its
Builder writes, the PHY and DRAM settings from the built core, the DFII bit values from litedram's Python header
(`litedram.init.get_sdram_phy_py_header`) and the sequence from `litedram.init.get_sdram_phy_init_sequence`.
tests/host/test_ddr3_description.py regenerates it and requires the stored file to be identical.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import tempfile
from pathlib import Path

from golden.errors import MmfreeError

BOARDS_JSON = Path(__file__).with_name("ddr3_boards.json")


class DramInitError(MmfreeError):
    """The DDR3 could not be brought up (unknown board, read levelling or memory test failed); the message says
    which byte lane or address, what was tried and what a user can check."""


@dataclasses.dataclass(frozen=True)
class InitStep:
    """One step of litedram's DDR3 init sequence: put `address` / `bank` on DFII phase 0, then either write the
    DFII control register (`control`, the reset and CKE steps) or issue `command` on phase 0; then wait."""
    comment: str
    address: int                    # DRAM A[addressbits-1:0] (a mode register's value)
    bank: int                       # DRAM BA (which mode register)
    control: int | None             # DFII control value (sel/cke/odt/reset_n bits), or None
    command: int | None             # DFII command bits (cs/we/cas/ras), or None
    wait_cycles: int                # sys-clock cycles the LiteX BIOS waits after the step (its cdelay)


@dataclasses.dataclass(frozen=True)
class PhyGeometry:
    """The ECP5 DDR PHY as the DFII sees it (litedram PhySettings)."""
    nphases: int                    # DFI phases a sys-clock cycle (2 at the ECP5's 1:2)
    rdphase: int                    # the phase reads are issued on
    wrphase: int                    # the phase writes are issued on
    databits: int                   # DQ lines (16: one x16 chip)
    dfi_databits: int               # bits of a phase's wrdata / rddata (4 beats x databits)
    strobes: int                    # byte lanes (one DQS each): the units read levelling calibrates
    delays: int                     # read delay settings a lane has (DQSBUFM READCLKSEL: 8)
    bitslips: int                   # read bitslip positions a lane has (4)
    cl: int                         # CAS latency, DRAM clocks
    cwl: int                        # CAS write latency, DRAM clocks

    @property
    def phase_bytes(self) -> int:
        return self.dfi_databits // 8


@dataclasses.dataclass(frozen=True)
class DramGeometry:
    bankbits: int
    rowbits: int
    colbits: int                    # column address bits; a BL8 burst covers 8 columns


@dataclasses.dataclass(frozen=True)
class LiteDRAMControl:
    """A board's LiteDRAM core as its `wb_ctrl` bus exposes it."""
    board: str
    sdram_module: str
    sys_clk_hz: int                 # the controller's clock (the BIOS's cdelay counts these)
    csr_addresses: dict             # CSR name -> byte address of its first 32-bit word on wb_ctrl
    csr_words: dict                 # CSR name -> 32-bit words (64-bit data registers: 2, high word first)
    dfii_control: dict              # sel / cke / odt / reset_n -> bit value
    dfii_command: dict              # cs / we / cas / ras / wrdata / rddata -> bit value
    phy: PhyGeometry
    dram: DramGeometry
    init_sequence: tuple            # of InitStep

    def address(self, name: str) -> int:
        """The byte address of CSR `name` (as litedram names it, e.g. "sdram_dfii_pi0_command")."""
        try:
            return self.csr_addresses[name]
        except KeyError:
            raise DramInitError(f"board {self.board}: the LiteDRAM core has no CSR {name!r} "
                                f"(regenerate {BOARDS_JSON.name}: python -m host.ddr3_description --write)") from None

    def control_value(self, *fields: str) -> int:
        value = 0
        for field in fields:
            value |= self.dfii_control[field]
        return value

    def command_value(self, *fields: str) -> int:
        value = 0
        for field in fields:
            value |= self.dfii_command[field]
        return value


def board_names(path: Path = BOARDS_JSON) -> list[str]:
    return sorted(json.loads(path.read_text())["boards"])


def load_control(board: str, path: Path = BOARDS_JSON) -> LiteDRAMControl:
    """The description of `board` ("ecpix5", "butterstick") from the stored file."""
    boards = json.loads(path.read_text())["boards"]
    if board not in boards:
        raise DramInitError(f"no LiteDRAM description for board {board!r} in {path}; "
                            f"known: {', '.join(sorted(boards))}")
    entry = boards[board]
    return LiteDRAMControl(
        board=board, sdram_module=entry["sdram_module"], sys_clk_hz=entry["sys_clk_hz"],
        csr_addresses={name: reg["addr"] for name, reg in entry["csr"].items()},
        csr_words={name: reg["size"] for name, reg in entry["csr"].items()},
        dfii_control=entry["dfii_control"], dfii_command=entry["dfii_command"],
        phy=PhyGeometry(**entry["phy"]), dram=DramGeometry(**entry["geometry"]),
        init_sequence=tuple(InitStep(**step) for step in entry["init_sequence"]))


# Generation (needs the litedram extra) ----------------------------------------------------------------------------

def board_configs() -> dict:
    """Board name -> bitstreams.litedram.LiteDRAMConfig: the cores the project generates for its DDR3 boards."""
    from sim.litedram.core import BUTTERSTICK, ECPIX5
    return {"ecpix5": ECPIX5, "butterstick": BUTTERSTICK}


def build_core(config, out: Path):
    """Build the standalone hardware core of `config` (LiteDRAMConfig) into folder `out` as litedram_gen does
    (csr.json, csr.csv, software/include/generated/*.h, gateware/); returns the built LiteDRAMCore."""
    from litedram.gen import LiteDRAMCore
    from litex.build.lattice import LatticePlatform
    from litex.soc.integration.builder import Builder

    from bitstreams.litedram import core_settings

    with contextlib.redirect_stdout(io.StringIO()):          # the Builder prints the whole module tree
        soc = LiteDRAMCore(LatticePlatform(config.settings["device"], io=[], toolchain="trellis"), core_settings(config),
                           integrated_rom_size=0xC000)
        Builder(soc, output_dir=str(out), compile_gateware=False, compile_software=False).build(
            build_name=config.name, regular_comb=False, run=False)
    return soc


def describe(config, soc, out: Path) -> dict:
    """The JSON entry of `config`'s core `soc`, built into folder `out` by build_core."""
    from litedram.init import get_sdram_phy_init_sequence, get_sdram_phy_py_header

    phy, settings = soc.ddrphy.settings, soc.sdram.controller.settings
    registers = json.loads((out / "csr.json").read_text())["csr_registers"]
    names: dict = {}
    exec(get_sdram_phy_py_header(phy, settings.timing), names)   # dfii_control_* / dfii_command_* = their bits

    def bits(expression: str) -> int:
        value = 0
        for term in expression.split("|"):
            value |= names[term.strip().lower()]
        return value

    sequence, _ = get_sdram_phy_init_sequence(phy, settings.timing)
    steps = []
    for comment, address, bank, command, wait in sequence:
        is_control = command.startswith("DFII_CONTROL")
        steps.append({"comment": comment, "address": address, "bank": bank,
                      "control": bits(command) if is_control else None,
                      "command": None if is_control else bits(command), "wait_cycles": wait})
    prefix = {"dfii_control": "dfii_control_", "dfii_command": "dfii_command_"}
    return {
        "core": config.name, "sdram_module": config.settings["sdram_module"], "sys_clk_hz": round(config.sys_clk_freq),
        "csr": {name: {"addr": reg["addr"], "size": reg["size"]} for name, reg in registers.items()},
        **{key: {name[len(start):]: value for name, value in names.items() if name.startswith(start)}
           for key, start in prefix.items()},
        "phy": {field.name: getattr(phy, field.name) for field in dataclasses.fields(PhyGeometry)},
        "geometry": {field.name: getattr(settings.geom, field.name) for field in dataclasses.fields(DramGeometry)},
        "init_sequence": steps,
    }


def generate() -> dict:
    from importlib.metadata import version
    boards = {}
    for board, config in board_configs().items():
        with tempfile.TemporaryDirectory() as out:
            boards[board] = describe(config, build_core(config, Path(out)), Path(out))
    return {"generator": "python -m host.ddr3_description --write", "litedram": version("litedram"),
            "boards": boards}


def render(description: dict) -> str:
    return json.dumps(description, indent=1) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {BOARDS_JSON} (else print it)")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.write:
        BOARDS_JSON.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
