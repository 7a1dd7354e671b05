"""host/ddr3_boards.json is what litedram generates, and the bring-up's first steps are the LiteX BIOS's: checked
against the core litedram builds here (its csr.json, and the C the BIOS would run: software/include/generated/
csr.h and sdram_phy.h's init_sequence()), not against the project's own code."""

import json
import re

import pytest

pytest.importorskip("litedram")

from host.ddr3_description import BOARDS_JSON, board_configs, build_core, describe, load_control  # noqa: E402
from host.ddr3_init import bring_up  # noqa: E402
from sim.litedram.csr_model import LiteDRAMCsrModel  # noqa: E402

BOARDS = sorted(board_configs())


@pytest.fixture(scope="module", params=BOARDS)
def built(request, tmp_path_factory):
    """(board, config, soc, folder) of a freshly generated standalone core."""
    config = board_configs()[request.param]
    out = tmp_path_factory.mktemp(request.param)
    return request.param, config, build_core(config, out), out


def test_stored_description_is_what_litedram_generates(built):
    from importlib.metadata import version
    board, config, soc, out = built
    stored = json.loads(BOARDS_JSON.read_text())
    assert stored["litedram"] == version("litedram"), "regenerate: python -m host.ddr3_description --write"
    assert stored["boards"][board] == describe(config, soc, out), \
        "regenerate: python -m host.ddr3_description --write"


def test_every_csr_address_is_the_generated_cores(built):
    board, _, _, out = built
    rows = [line.split(",") for line in (out / "csr.csv").read_text().splitlines() if line.startswith("csr_register")]
    generated = {name: (int(address, 16), int(size)) for _, name, address, size, _ in rows}
    control = load_control(board)
    assert {name: (control.address(name), control.csr_words[name]) for name in control.csr_addresses} == generated


class RecordingBus:
    """Records every write and pause in order, passing reads and writes to a model."""

    def __init__(self, model):
        self.model, self.events = model, []

    def read(self, address):
        return self.model.read(address)

    def write(self, address, value):
        self.events.append(("write", address, value))
        self.model.write(address, value)

    def pause(self, seconds):
        self.events.append(("pause", seconds))


def bios_init_steps(out, clock_hz):
    """The writes and waits of the BIOS's sdram_init up to levelling, from the generated C headers:
    sdram_software_control_on (control = DFII_CONTROL_SOFTWARE = CKE | ODT | RESET_N), ddrctrl_init_done_write(0),
    ddrctrl_init_error_write(0) (sdram.c), then init_sequence() as sdram_phy.h spells it."""
    generated = out / "software" / "include" / "generated"
    csr_h, phy_h = (generated / "csr.h").read_text(), (generated / "sdram_phy.h").read_text()
    addresses = {name.lower(): int(value, 16)
                 for name, value in re.findall(r"#define CSR_(\w+)_ADDR \(CSR_BASE \+ (0x[0-9a-f]+)L\)", csr_h)}
    defines = {name: int(value, 0) for name, value in re.findall(r"#define (DFII_\w+) (0x[0-9a-fA-F]+)", phy_h)}

    def value(expression):
        result = 0
        for term in expression.split("|"):
            result |= defines[term] if term in defines else int(term, 0)
        return result

    bodies = {name: body for name, body in re.findall(r"void (\w+)\((?:int cmd|void)\)\s*\{(.*?)\n\}", phy_h, re.S)}
    events = []

    def run(body, cmd=None):
        for statement in re.findall(r"(\w+)\(([^()]*)\);", body):
            function, argument = statement
            argument = argument.replace("cmd", cmd) if cmd is not None else argument
            if function == "cdelay":
                events.append(("pause", int(argument) / clock_hz))
            elif function in bodies:
                run(bodies[function], argument)
            else:
                events.append(("write", addresses[re.fullmatch(r"(\w+)_write", function).group(1)], value(argument)))

    software = defines["DFII_CONTROL_CKE"] | defines["DFII_CONTROL_ODT"] | defines["DFII_CONTROL_RESET_N"]
    events += [("write", addresses["sdram_dfii_control"], software), ("write", addresses["ddrctrl_init_done"], 0),
               ("write", addresses["ddrctrl_init_error"], 0)]
    run(bodies["init_sequence"])
    return events, addresses


def test_init_writes_and_waits_are_the_bios_generated_init_sequence(built):
    board, config, soc, out = built
    clock_hz = json.loads((out / "csr.json").read_text())["constants"]["config_clock_frequency"]
    expected, addresses = bios_init_steps(out, clock_hz)
    control = load_control(board)
    lanes = control.phy.strobes
    bus = RecordingBus(LiteDRAMCsrModel(control, [{(0, delay) for delay in range(3, 6)}] * lanes))
    bring_up(bus, control, pause=bus.pause)
    phy_base = min(address for name, address in addresses.items() if name.startswith("ddrphy_"))
    first_phy = next(index for index, event in enumerate(bus.events)
                     if event[0] == "write" and event[1] >= phy_base and event[1] < addresses["sdram_dfii_control"])
    assert bus.events[:first_phy] == expected
    assert sum(1 for event in expected if event[0] == "write") > 20     # the parse found the sequence


def test_patterns_and_checked_bytes_are_the_bios_c(tmp_path):
    """The pattern bursts (seeds 42, 84, 36) and the bytes compared per lane, from sdram.c's own lines compiled with
    libbase/lfsr.h (litex 2024.12), against host/ddr3_levelling.py."""
    import os
    import shutil
    import subprocess

    import litex

    from host.ddr3_levelling import SEEDS, checked_bytes, pattern_burst
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    software = os.path.join(os.path.dirname(litex.__file__), "soc", "software")
    source = open(os.path.join(software, "liblitedram", "sdram.c")).read()
    generate = re.search(r"/\* Generate pseudo-random sequence \*/(.*?)/\* Activate \*/", source, re.S).group(1)
    offsets = re.search(r"(nebo = [^;]*;\s*pebo = [^;]*;)", source).group(1)
    phy = load_control("ecpix5").phy
    program = tmp_path / "bios.c"
    program.write_text(f"""
#include <stdio.h>
#include "libbase/lfsr.h"
#define SDRAM_PHY_PHASES {phy.nphases}
#define DFII_PIX_DATA_BYTES {phy.phase_bytes}
#define SDRAM_PHY_XDR 2
#define SDRAM_PHY_DQ_DQS_RATIO {phy.databits // phy.strobes}
int main(void) {{
    unsigned int seeds[] = {{{", ".join(map(str, SEEDS))}}};
    for (int s = 0; s < {len(SEEDS)}; s++) {{
        int p, i, bit; unsigned int seed = seeds[s], prv; unsigned char value;
        unsigned char prs[SDRAM_PHY_PHASES][DFII_PIX_DATA_BYTES];
        {generate}
        for (p = 0; p < SDRAM_PHY_PHASES; p++) for (i = 0; i < DFII_PIX_DATA_BYTES; i++) printf("%02x", prs[p][i]);
        printf("\\n");
    }}
    for (int module = 0; module < {phy.strobes}; module++) {{
        int nebo, pebo;
        {offsets}
        printf("%d %d\\n", pebo, nebo);
    }}
    return 0;
}}
""")
    subprocess.run([compiler, "-O1", "-I", software, "-o", str(tmp_path / "bios"), str(program)], check=True)
    lines = subprocess.run([str(tmp_path / "bios")], check=True, capture_output=True, text=True).stdout.split()
    patterns, lanes = lines[:len(SEEDS)], lines[len(SEEDS):]
    assert patterns == [b"".join(pattern_burst(seed, phy)).hex() for seed in SEEDS]
    assert [tuple(map(int, pair)) for pair in zip(lanes[::2], lanes[1::2])] == \
        [checked_bytes(lane, phy) for lane in range(phy.strobes)]


def test_the_link_control_bus_fits_the_cores_wb_ctrl(built):
    """hw.link_csr.ControlBusSignature is the generated core's wb_ctrl, member for member (width and direction, seen
    from the master), bar the burst signals a board top ties to 0; and every board has its host.protocol.ControlBus."""
    from host.protocol import ControlBus
    from amaranth import Shape

    from hw.link_csr import ControlBusSignature
    board, config, _, out = built
    verilog = (out / "gateware" / f"{config.name}.v").read_text()
    ports = {name: (direction, int(high) + 1 if high else 1) for direction, high, name in
             re.findall(r"(input|output)\s+wire\s+(?:\[(\d+):0\])?\s*wb_ctrl_(\w+)", verilog)}
    assert set(ports) - set(ControlBusSignature().members) == {"cti", "bte"}
    for name, member in ControlBusSignature().members.items():
        master_drives = member.flow.name == "Out"
        assert ports[name] == ("input" if master_drives else "output", Shape.cast(member.shape).width), name
    assert ControlBus[f"LITEDRAM_{board.upper()}"].board == board
