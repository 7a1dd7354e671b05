"""`LfsrHarness`: any wiring.Component alone on an FPGA, for place-and-route checks of timing and size.

    64-bit LFSR ─► per input bit, the XOR of three LFSR bits ─► registered ─► every input of the unit
    every output of the unit ─► registered (the unit's paths end here) ─► XOR of all ─► registered ─► out

Every input bit takes a different three LFSR bits, so no input is constant and no two input registers are
equal (synthesis would merge them, and with them the parts of the unit they feed); `out` depends on every
output bit, so nothing of the unit is optimised away. Each run of 64 input bits uses every LFSR bit three
times, so the LFSR's fan-out stays even however wide the unit's ports are.

Used by the engine-check board top (hw/board.py), bench/engine_synth.py and bench/unit_timing.py.
"""

from __future__ import annotations

import re

from amaranth import Cat, ClockDomain, Module, Signal, Value
from amaranth.back import verilog
from amaranth.hdl import DriverConflict, Elaboratable
from amaranth.lib import wiring

LFSR_BITS = 64


def _tap_patterns(width: int) -> list[tuple[int, int, int]]:
    """Gaps (g1, g2, g3), g1 + g2 + g3 == width, between three taps on a ring of `width` bits: one per class of
    rotations, so the 64 rotations of every pattern are 64 different tap sets, none of another pattern's."""
    patterns = []
    for g1 in range(1, width - 1):
        for g2 in range(1, width - g1):
            gaps = (g1, g2, width - g1 - g2)
            if gaps == min(gaps, gaps[1:] + gaps[:1], gaps[2:] + gaps[:2]):
                patterns.append(gaps)
    return patterns


_PATTERNS = _tap_patterns(LFSR_BITS)
MAX_INPUT_BITS = LFSR_BITS * len(_PATTERNS)      # C(64, 3) = 41,664 different tap sets


def input_taps(bit: int) -> tuple[int, int, int]:
    """The three LFSR bits whose XOR drives input bit `bit` (counted over all the unit's inputs)."""
    if not 0 <= bit < MAX_INPUT_BITS:
        raise ValueError(f"an LFSR harness drives at most {MAX_INPUT_BITS} input bits, asked for bit {bit}")
    g1, g2, _ = _PATTERNS[bit // LFSR_BITS]
    start = bit % LFSR_BITS
    return start, (start + g1) % LFSR_BITS, (start + g1 + g2) % LFSR_BITS


class LfsrHarness(Elaboratable):
    """Parameters
    unit: the wiring.Component to drive; it is the harness's submodule `unit`.
    driven_inputs: members declared In that the unit drives after all, by name (the path joined by "__",
        e.g. "cmd__payload"); they are sampled like outputs instead of driven.
    clock: a ClockDomain the harness defines as its `sync` (for a harness that is the top of a design);
        None: the harness runs in the `sync` domain of the design it is part of.

    Attributes
    out: one bit, registered: the XOR of every output bit of the unit (each registered first).
    """

    def __init__(self, unit: wiring.Component, *, driven_inputs=frozenset(), clock: ClockDomain | None = None):
        if not isinstance(unit, wiring.Component):
            raise TypeError(f"unit must be a wiring.Component, got {unit!r}")
        if clock is not None and (not isinstance(clock, ClockDomain) or clock.name != "sync"):
            raise TypeError(f"clock must be a ClockDomain named 'sync' or None, got {clock!r}")
        self.unit, self.driven_inputs, self.clock = unit, frozenset(driven_inputs), clock
        self.out = Signal()

    def elaborate(self, platform):
        m = Module()
        if self.clock is not None:
            m.domains.sync = self.clock
        m.submodules.unit = unit = self.unit
        # x^64 + x^4 + x^3 + x + 1, a primitive polynomial: the state runs through all 2^64 - 1 non-zero values.
        lfsr = Signal(LFSR_BITS, init=1)
        m.d.sync += lfsr.eq(Cat(lfsr[1:], lfsr[0] ^ lfsr[1] ^ lfsr[3] ^ lfsr[4]))
        bit, sampled = 0, []
        for path, member, value in unit.signature.flatten(unit):
            port = Value.cast(value)
            name = "__".join(str(part) for part in path)
            if member.flow == wiring.In and name not in self.driven_inputs:
                taps = [input_taps(bit + i) for i in range(len(port))]
                m.d.sync += port.eq(Cat(lfsr[a] ^ lfsr[b] ^ lfsr[c] for a, b, c in taps))
                bit += len(port)
            else:
                registered = Signal(len(port), name=f"sampled_{name}")      # the unit's path ends here
                m.d.sync += registered.eq(port)
                sampled.append(registered)
        m.d.sync += self.out.eq(Cat(*sampled).xor())
        return m


def harness_verilog(unit: wiring.Component, *, reset: bool = False, name: str = "top") -> str:
    """Verilog of `unit` in an LfsrHarness that is the top `name`, with ports clk, out and, when `reset`, rst.
    Without a reset the state is the power-on state, and no reset net competes for the critical path.
    Members declared In that the unit drives after all show up as driver conflicts; they are sampled instead."""
    driven: set[str] = set()
    while True:
        clock = ClockDomain("sync", reset_less=not reset)
        harness = LfsrHarness(unit, driven_inputs=driven, clock=clock)
        try:
            return verilog.convert(harness, name=name, ports=[clock.clk, *([clock.rst] if reset else []), harness.out])
        except DriverConflict as conflict:
            found = re.search(r"\(sig (\S+)\)", str(conflict))
            if found is None or found.group(1) in driven:
                raise
            driven.add(found.group(1))
