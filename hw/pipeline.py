"""Register stages that count their own latency.

A `Pipeline` carries its depth: every stage it registers adds one, and registers built elsewhere (a
pipelined tree, a helper that states its own latency) are counted where they are used. The units read
their latencies (drains, write delays, settle counts) off the pipelines they built, so adding or removing
a register needs no hand-edited constant elsewhere. A `DelayLine` gives a signal as it was any number
of cycles earlier, so what travels beside a pipeline (row index, lane enables, valid flags) is taken at
the pipeline's depth.
"""

from __future__ import annotations

from amaranth import Module, Signal, Value

from .arith import pipelined_tree


class Pipeline:
    """Register stages, counted. `depth`: the cycle, counted from the pipeline's origin (`depth` given,
    e.g. hw.vmem.READ_LATENCY for a read's data), in which the values of its latest stage are valid.
    Logic between two stages is the later stage's."""

    def __init__(self, m: Module, name: str, depth: int = 0):
        self.m, self.name, self.depth = m, name, depth

    def fork(self, name: str) -> Pipeline:
        """A branch from this pipeline's latest stage (same depth, counted on its own from here)."""
        return Pipeline(self.m, name, self.depth)

    def register(self, values: dict) -> dict:
        """One stage: each value registered; a dict of the registers by the same keys. A value is a Value,
        or (value, shape) to set the register's shape; a list of them (lanes) gives a list of registers."""
        self.depth += 1
        out = {}
        for key, spec in values.items():
            value, shape = spec if isinstance(spec, tuple) else (spec, None)
            if isinstance(value, list):
                out[key] = [self._register(f"{key}{k}", lane, shape) for k, lane in enumerate(value)]
            else:
                out[key] = self._register(key, value, shape)
        return out

    def _register(self, key: str, value, shape):
        reg = Signal(Value.cast(value).shape() if shape is None else shape, name=f"{self.name}_{key}_d{self.depth}")
        self.m.d.sync += reg.eq(value)
        return reg

    def built(self, result, stages: int):
        """Count `stages` registers built outside `register` (a helper's own, e.g. arith's
        SF_NORMALIZE_STAGES or ShiftControl.STAGES); returns `result` as it is."""
        self.depth += stages
        return result

    def tree(self, key: str, leaves, combine, *, levels_per_stage: int = 1):
        """`leaves` reduced to one value by hw.arith.pipelined_tree, its registers counted."""
        return self.built(*pipelined_tree(self.m, leaves, combine, name=f"{self.name}_{key}",
                                          levels_per_stage=levels_per_stage))


class DelayLine:
    """`signal` delayed by any number of cycles: `at(n)` is its value n cycles earlier, from one shared
    shift register grown as needed (at(0) is the signal itself)."""

    def __init__(self, m: Module, signal, name: str):
        self.m, self.name, self.taps = m, name, [signal]

    def at(self, cycles: int):
        while len(self.taps) <= cycles:
            tap = Signal.like(self.taps[-1], name=f"{self.name}_d{len(self.taps)}")
            self.m.d.sync += tap.eq(self.taps[-1])
            self.taps.append(tap)
        return self.taps[cycles]
