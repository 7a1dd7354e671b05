"""`ButterStickVccio`: the ButterStick's I/O bank supplies (VCCIO A, B, C: the SYZYGY ports 0 and 1, the USB PHY's
bank) are buck regulators whose feedback node takes a current from an FPGA pin filtered by an RC (68 kOhm, 100 nF):
a pulse-density output sets each voltage, and one enable pin turns them on. Nothing on those banks is powered until
gateware does this (amaranth-boards' ButterStickPlatform says so and gives the circuit's values, used here).

    counter (10 bits, sync) ─► pdm[i] = counter < duty(volts[i]) ─► RC ─► regulator i's feedback
    after 4 RC time constants ─► en ─► after 1 ms more ─► power_good
"""

from __future__ import annotations

import math

from amaranth import Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import Out

FEEDBACK_V = 0.6                    # the regulators' feedback reference
INJECT_OHM, FEEDBACK_OHM, SET_OHM = 68_000, 53_600, 13_000
FILTER_HZ = 1 / (2 * math.pi * 68_000 * 0.1e-6)    # the RC between the pin and the injection resistor
PIN_V = 3.3
COUNTER_BITS = 10


def control_volts(vccio: float) -> float:
    """The filtered pin voltage that holds a regulator at `vccio`: the feedback node stays at FEEDBACK_V, so the
    current through the set resistor is fixed and the injected current sets what flows through the feedback one."""
    through_set = FEEDBACK_V / SET_OHM
    return (FEEDBACK_V * (1 + INJECT_OHM / FEEDBACK_OHM) + INJECT_OHM * through_set
            - INJECT_OHM / FEEDBACK_OHM * vccio)


class ButterStickVccio(wiring.Component):
    """volts: VCCIO A, B, C in volts (A, B: 1.0..3.3; C, the USB PHY's bank: 1.8..3.3); clock_hz: the sync clock.
    Port power_good: Out(1), high from 1 ms after the regulators are enabled. Drives the "vccio_ctrl" resource."""

    def __init__(self, volts: tuple[float, float, float], *, clock_hz: float):
        lowest = (1.0, 1.0, 1.8)
        if len(volts) != 3 or any(not low <= v <= 3.3 for low, v in zip(lowest, volts)):
            raise ValueError(f"volts must be (A, B, C) with A, B in 1.0..3.3 V and C in 1.8..3.3 V, got {volts!r}")
        if clock_hz / (1 << COUNTER_BITS) < 4 * FILTER_HZ:
            raise ValueError(f"clock_hz {clock_hz / 1e6} MHz is too slow for the RC filter")
        self.duty = [int(control_volts(v) / PIN_V * (1 << COUNTER_BITS)) for v in volts]
        self.boot_cycles = int(4 / FILTER_HZ * clock_hz)           # the filters settle
        self.soft_cycles = int(1e-3 * clock_hz)                     # the regulators' soft start
        super().__init__({"power_good": Out(1)})

    def elaborate(self, platform):
        m = Module()
        pins = platform.request("vccio_ctrl", 0, dir="-")
        m.submodules.pdm = pdm = io.Buffer("o", pins.pdm)
        m.submodules.en = en = io.Buffer("o", pins.en)
        counter = Signal(COUNTER_BITS)
        m.d.sync += counter.eq(counter + 1)
        for i, duty in enumerate(self.duty):
            m.d.sync += pdm.o[i].eq(counter < duty)
        boot = Signal(range(self.boot_cycles + self.soft_cycles + 1))
        enabled = Signal()
        with m.If(~self.power_good):
            m.d.sync += boot.eq(boot + 1)
        with m.If(boot == self.boot_cycles):
            m.d.sync += enabled.eq(1)
        with m.If(boot == self.boot_cycles + self.soft_cycles):
            m.d.sync += self.power_good.eq(1)
        m.d.comb += en.o.eq(enabled)
        return m
