"""The stream contract of `TernaryMatVec`, as assertions for SymbiYosys.

The engine's inputs (cmd, weights, act_write, result.ready) are left free: the solver drives them with
any valid/ready/payload pattern, cycle by cycle, and no rule is assumed of them. Against that, the
harness keeps its own account of the protocol, written from the engine's documented contract and not
from its implementation, and asserts:

- no beat taken outside a command, and none beyond rows · ceil(cols / LANES) of it (no extra beat is
  swallowed from the next product); a command is taken exactly when the previous one has all its beats;
- never a result that is not owed (no duplicate): a result is owed once the last beat of its row is taken;
- the result stream keeps amaranth.lib.stream's rule: valid, once up, stays up with a steady payload
  until ready;
- no drop and no deadlock: while anything is owed (beats or results) and the environment cooperates
  (result.ready, and weights.valid while beats are due), a transfer happens within `response_bound`
  cycles. A dropped row would leave its result owed forever and trip this bound.

A cover shows the depth reaches meaningful states: two commands fully answered, with the result FIFO's
credits exhausted on the way.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Mux, ResetSignal, Signal
from amaranth.hdl import Assert, Assume, Cover

from hw.ternary_engine import TernaryMatVec


class EngineStreamContract(Elaboratable):
    def __init__(self, engine: TernaryMatVec, *, check_payload: bool = True, response_bound: int | None = None):
        self.engine = engine
        # The payload rule pulls the whole datapath into the solver's cone; the control properties
        # alone reach much deeper, so the two are checked as separate tasks.
        self.check_payload = check_payload
        # A cooperative environment never waits response_bound cycles for a transfer: a beat is taken
        # each cycle while credits last, and a row's result is offered at most pipeline_depth + 1 silent
        # cycles after its last beat (FIFO write, buffered read). The test shows one less is refuted.
        self.response_bound = engine.pipeline_depth + 2 if response_bound is None else response_bound

    def ports(self) -> list[Signal]:
        e = self.engine
        return [e.cmd.valid, e.cmd.ready, e.cmd.payload.as_value(), e.weights.valid, e.weights.ready, e.weights.payload,
                e.act_write.addr, e.act_write.data, e.act_write.en,
                e.result.valid, e.result.ready, e.busy] + ([e.result.payload] if self.check_payload else [])

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = e = self.engine
        lanes = e.lanes
        # The contract starts from reset; the engine's registers start in their reset values.
        m.d.comb += Assume(~ResetSignal())

        cmd_taken = e.cmd.valid & e.cmd.ready
        beat_taken = e.weights.valid & e.weights.ready
        result_taken = e.result.valid & e.result.ready

        # --- Beats owed by the command in flight ------------------------------------------------
        rows_due = Signal(range(e.max_rows + 1))            # rows whose beats are not all taken
        row_cols = Signal(range(e.max_cols + 1))
        cols_left = Signal(range(e.max_cols + 1))           # columns of the current row not yet taken
        with m.If(cmd_taken):
            m.d.sync += [rows_due.eq(Mux(e.cmd.payload.cols == 0, 0, e.cmd.payload.rows)),
                         row_cols.eq(e.cmd.payload.cols), cols_left.eq(e.cmd.payload.cols)]
        row_fed = Signal()                                  # ceil(cols / LANES) beats make a row
        m.d.comb += row_fed.eq(beat_taken & (cols_left <= lanes))
        with m.If(beat_taken):
            with m.If(row_fed):
                m.d.sync += [rows_due.eq(rows_due - 1), cols_left.eq(row_cols)]
            with m.Else():
                m.d.sync += cols_left.eq(cols_left - lanes)

        m.d.comb += [
            Assert(~e.weights.ready | (rows_due != 0), "beat taken outside a command, or beyond its rows"),
            Assert(e.cmd.ready == (rows_due == 0), "command taken while beats were due, or refused when none"),
        ]

        # --- Results owed -------------------------------------------------------------------------
        owed = Signal(range(e.max_rows + e.result_fifo_depth + 2))
        m.d.comb += Assert(~e.result.valid | (owed != 0), "result offered that no row owes (duplicate)")
        with m.If(row_fed & ~result_taken):
            m.d.sync += owed.eq(owed + 1)
        with m.Elif(result_taken & ~row_fed):
            m.d.sync += owed.eq(owed - 1)

        # --- Result stream rule ---------------------------------------------------------------------
        was_waiting = Signal()
        last_payload = Signal.like(e.result.payload)
        m.d.sync += [was_waiting.eq(e.result.valid & ~e.result.ready), last_payload.eq(e.result.payload)]
        with m.If(was_waiting):
            m.d.comb += Assert(e.result.valid, "result withdrawn before it was taken")
            if self.check_payload:
                m.d.comb += Assert(e.result.payload == last_payload, "result changed before it was taken")

        # --- Bounded response: no drop, no deadlock -----------------------------------------------------
        pending = (rows_due != 0) | (owed != 0)
        cooperative = e.result.ready & (e.weights.valid | (rows_due == 0))
        silent = Signal(range(self.response_bound + 1))
        with m.If(pending & cooperative & ~beat_taken & ~result_taken):
            m.d.sync += silent.eq(silent + 1)
        with m.Else():
            m.d.sync += silent.eq(0)
        m.d.comb += Assert(silent < self.response_bound, "no transfer while work is owed and the environment cooperates")

        # --- Reachability -------------------------------------------------------------------------
        commands = Signal(range(3))                         # non-empty commands taken (saturating)
        credits_exhausted = Signal()
        with m.If(cmd_taken & (e.cmd.payload.cols != 0) & (e.cmd.payload.rows != 0) & (commands != 2)):
            m.d.sync += commands.eq(commands + 1)
        with m.If(e.busy & e.weights.valid & ~e.weights.ready):
            m.d.sync += credits_exhausted.eq(1)
        m.d.comb += Cover((commands == 2) & ~pending & credits_exhausted)
        return m
