"""`TernaryMatVec`: the ternary matrix-vector engine, y = q_W · q_x, with no multiplier.

Block diagram (one beat = one packed weight word = LANES trits per cycle):

    weights ─► decode (2-bit: logic; base-3: byte ROM) ─► mask columns ≥ cols ─┐
    act memory (int8 × LANES per word, read at the beat's column) ─────────────┴─► select
      x_l = a_l, ~a_l or 0 and +1 per negative lane (−a = ~a + 1) ─► pipelined adder tree ─► row accumulator
      ─► result FIFO ─► result

Protocol. `cmd` (rows, cols) starts a product; the engine then takes ceil(cols / LANES) beats per row on
`weights` (each row starts on a fresh beat: the weight streamer pads rows to beats, see golden.packing
for the byte formats) and emits one signed accumulator per row on `result`. The int8 activation vector
is written beforehand through `act_write` (word w holds columns w·LANES .. w·LANES+LANES−1, lane l in
bits [8l+7 : 8l]), only while no command is in flight: a write during a product is undefined in the block
RAM (it is declared so to the synthesiser, which saves a bypass per bit). All streams follow amaranth.lib.stream rules; any valid/ready pattern is allowed on
both sides. Results queue in a small FIFO; a beat is taken only while the FIFO has room for every row
already in flight (credits), so the pipeline itself never stalls and nothing is lost or duplicated;
with a ready consumer one beat is consumed per cycle. An illegal packed code (2-bit `10`, base-3 byte ≥ 243) sets
the sticky `error` until the next command; the row is still computed (the code counts as 0).

Batch (MATVEC over Q slots, assembler.isa). Built with `batch` B, the activation memory holds B vectors
(slot s's word w at address s·2**word_bits + w, written with `act_write.addr` in that form) and `cmd.slots`
(1..B) says how many a product serves. Each weight beat is applied to slots 0..slots−1 on successive
cycles: the engine looks at the beat `slots` cycles and takes it (`ready`) in the last, so a row costs
slots · ceil(cols / LANES) cycles (assembler.cost.CostModel.compute). Where memory is slower than the
engine (every memory-bound build) this costs nothing, and it needs no second adder tree and no beat buffer:
one tree, one accumulator per slot (the slot travels beside the beat down the pipeline). Results come out
slot-interleaved: row 0 of slots 0..slots−1, then row 1, ... With B = 1 the slot logic vanishes (zero-width).

Parallel batch (`parallel=True`, B > 1): the B slots side by side, for builds where the engine, not memory,
bounds a batch (an HBM-class memory): B adder trees, one activation memory each, every beat taken in one
cycle whatever `slots` says, so a row costs ceil(cols / LANES) cycles for all slots (CostModel.compute with
slot_trees = B). `result` then carries the B row sums of a row at once (an ArrayLayout; the sums of slots
≥ `slots` are of whatever their memories hold, for the consumer to ignore).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .component import CheckedComponent
from .pipeline import DelayLine

from assembler import isa
from golden import formats as fmt
from golden.packing import BASE3_LIMIT, CODE_2BIT, ILLEGAL_2BIT_CODE, TritFormat

# The 2-bit decoder reads nonzero = bit 0, negative = bit 1 & bit 0: it relies on these codes.
assert CODE_2BIT == {0: 0b00, 1: 0b01, -1: 0b11}, "2-bit trit codes changed: update TernaryMatVec's decoder"

ADDER_LEVELS_PER_STAGE = 2      # a register every two adder levels: ~150 MHz on ECP5 (DESIGN.md baseline)
# The widest engine (golden.formats.MAX_ENGINE_LANES): a 2,560-lane engine elaborates in ~11 s, the cocotb bench
# runs one (slow marker).
MAX_LANES = fmt.MAX_ENGINE_LANES


def base3_decode_table() -> list[int]:
    """ROM contents for one byte lane: bit 10 = illegal, then per trit k (nz, neg) at bits [2k+1 : 2k]."""
    table = []
    for byte in range(256):
        if byte >= BASE3_LIMIT:
            table.append(1 << 10)
            continue
        word = 0
        for k in range(5):
            trit = (byte // 3 ** k) % 3 - 1
            word |= ((trit != 0) | ((trit < 0) << 1)) << (2 * k)
        table.append(word)
    return table


def check_batch(batch) -> None:
    """A build's Q slots: 1..isa.MAX_BATCH."""
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= isa.MAX_BATCH:
        raise ValueError(f"batch must be an integer in 1..{isa.MAX_BATCH}, got {batch!r}")


def check_parallel(parallel, batch) -> None:
    """Slots side by side need slots: a parallel build has B > 1."""
    if not isinstance(parallel, bool):
        raise TypeError(f"parallel must be a bool, not {parallel!r}")
    if parallel and batch == 1:
        raise ValueError("parallel needs batch > 1 (the slots side by side)")


def pipeline_depth(lanes: int) -> int:
    """The engine's cycles from a beat's acceptance to its row sum reaching the accumulator, for `lanes`."""
    levels = (2 * lanes - 1).bit_length()          # lanes selected terms + lanes one-bit terms
    return 3 + -(-levels // ADDER_LEVELS_PER_STAGE)


class TernaryMatVec(CheckedComponent):
    """Parameters
    lanes: trits consumed per cycle; a multiple of 4 (2-bit) or 5 (base-3), 4..MAX_LANES.
    trit_format: golden.packing.TritFormat of the weight stream.
    max_cols: longest row supported; sets the accumulator width (no supported shape overflows).
    max_rows: largest row count of one command.
    batch: activation vectors held (Q slots, 1..isa.MAX_BATCH).
    parallel: the slots side by side (B adder trees; needs B > 1), else one tree taking them in turn.

    Ports
    cmd: stream of {rows: unsigned, cols: unsigned, slots: 1..batch}; cols = 0 is refused with `error`.
    weights: stream of unsigned(8 * lanes / trits_per_byte) packed beats.
    act_write: {addr, data: unsigned(8 * lanes), en} synchronous write of one activation word (addr: slot
    in the bits above word_bits, the word below).
    result: stream of signed(accumulator_bits(max_cols)): sum_j trit[i, j] * q_s[j] for each row i and slot s
    (slot-interleaved); parallel: ArrayLayout(signed(accumulator_bits), B), row i of every slot at once.
    busy: a command is taking beats.  error: sticky illegal-code / bad-command flag.
    """

    @classmethod
    def check_parameters(cls, *, lanes, trit_format=TritFormat.TRITS_2BIT, max_cols=8192, max_rows=65535, batch=1,
                         parallel=False, **_):
        if not isinstance(trit_format, TritFormat):
            raise TypeError(f"trit_format must be a TritFormat, not {trit_format!r}")
        per_byte = trit_format.trits_per_byte
        if not isinstance(lanes, int) or not 4 <= lanes <= MAX_LANES or lanes % per_byte:
            raise ValueError(f"lanes must be a multiple of {per_byte} in 4..{MAX_LANES} for {trit_format.name}, "
                             f"got {lanes!r}")
        if not isinstance(max_cols, int) or not 1 <= max_cols <= fmt.MAX_ROW_LENGTH:
            raise ValueError(f"max_cols must be in 1..{fmt.MAX_ROW_LENGTH}, got {max_cols!r}")
        if not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
        check_batch(batch)
        check_parallel(parallel, batch)

    def __init__(self, *, lanes: int, trit_format: TritFormat = TritFormat.TRITS_2BIT,
                 max_cols: int = 8192, max_rows: int = 65535, batch: int = 1, parallel: bool = False):
        per_byte = trit_format.trits_per_byte
        self.lanes = lanes
        self.trit_format = trit_format
        self.max_cols = max_cols
        self.max_rows = max_rows
        self.beat_bytes = lanes // per_byte
        self.words = -(-max_cols // lanes)
        self.batch = batch
        self.parallel = parallel
        self.trees = batch if parallel else 1           # adder trees, each with its activation memory
        # A slot's words start on a power of two (no multiplier in the address); one slot: just the words.
        self.word_bits = (self.words - 1).bit_length()
        self.act_depth = self.words if batch == 1 else batch << self.word_bits
        self.acc_bits = fmt.accumulator_bits(max_cols)
        # Room for every row that can be in flight at once, so credits never throttle a free consumer.
        self.result_fifo_depth = self.pipeline_depth + 4
        super().__init__({
            "cmd": In(stream.Signature(data.StructLayout({"rows": range(max_rows + 1),
                                                          "cols": range(max_cols + 1),
                                                          "slots": range(1, batch + 1)}))),
            "weights": In(stream.Signature(unsigned(8 * self.beat_bytes))),
            "act_write": In(wiring.Signature({"addr": Out(range(self.act_depth)), "data": Out(8 * lanes),
                                              "en": Out(1)})),
            "result": Out(stream.Signature(signed(self.acc_bits) if self.trees == 1
                                           else data.ArrayLayout(signed(self.acc_bits), self.trees))),
            "busy": Out(1),
            "error": Out(1),
        })

    @property
    def pipeline_depth(self) -> int:
        """Cycles from a beat's acceptance to its row sum reaching the accumulator."""
        return pipeline_depth(self.lanes)

    def elaborate(self, platform):
        m = Module()
        lanes, trees = self.lanes, self.trees
        turns = 1 if self.parallel else self.batch          # cycles a beat is looked at (slots taken in turn)
        # The pipeline never holds: a beat is taken only when the result FIFO has room for every row
        # already in flight (credits), so no stall has to reach back into the pipeline (Fmax).
        outstanding = Signal(range(self.result_fifo_depth + 1))     # rows taken, not yet read out

        # --- Command and beat sequencing -------------------------------------------------------
        rows_left = Signal(range(self.max_rows + 1))
        cols = Signal(range(self.max_cols + 1))
        remaining = Signal(range(self.max_cols + 1))        # columns of this row not yet issued
        word = Signal(range(self.words))
        slot = Signal(range(turns))                         # the slot the held beat is applied to this cycle
        last_slot = Signal(range(turns))                    # slots - 1 (taken in turn)
        m.d.comb += self.busy.eq(rows_left != 0)
        m.d.comb += self.cmd.ready.eq(~self.busy)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [rows_left.eq(Mux(self.cmd.payload.cols == 0, 0, self.cmd.payload.rows)),
                         cols.eq(self.cmd.payload.cols), remaining.eq(self.cmd.payload.cols), word.eq(0),
                         self.error.eq(self.cmd.payload.cols == 0), slot.eq(0)]
            if turns > 1:
                m.d.sync += last_slot.eq(Mux(self.cmd.payload.slots == 0, 0, self.cmd.payload.slots - 1))

        # `issue`: the beat on `weights` enters the pipeline for `slot`; `take`: its last slot, the beat is taken.
        issue, take = Signal(), Signal()
        last_beat = Signal()
        credit = self.busy & (outstanding < self.result_fifo_depth)
        m.d.comb += [self.weights.ready.eq(credit & (slot == last_slot)),
                     issue.eq(self.weights.valid & credit), take.eq(self.weights.valid & self.weights.ready),
                     last_beat.eq(remaining <= lanes)]
        if turns > 1:
            with m.If(issue):
                m.d.sync += slot.eq(Mux(slot == last_slot, 0, slot + 1))
        with m.If(take):
            with m.If(last_beat):
                m.d.sync += [rows_left.eq(rows_left - 1), remaining.eq(cols), word.eq(0)]
            with m.Else():
                m.d.sync += [remaining.eq(remaining - lanes), word.eq(word + 1)]

        # --- Stage 1: decoded trits, activation words, column mask ----------------------------------
        # Block RAM even when shallow (as LUT RAM the wide word costs a read mux per bit), and no
        # read-during-write emulation (a bypass mux and register per bit): the protocol writes
        # activations only while no command is in flight. Taken in turn: one memory, slot s's words at
        # s·2**word_bits; side by side: one memory a tree, the write's slot bits choosing it.
        act_words = []
        for t in range(trees):
            act = Memory(shape=unsigned(8 * lanes), depth=self.words if trees > 1 else self.act_depth, init=[],
                         attrs={"ram_style": "block", "no_rw_check": 1})
            m.submodules[f"act{t}" if trees > 1 else "act"] = act
            act_wr, act_rd = act.write_port(), act.read_port(domain="sync")
            write_here = self.act_write.en if trees == 1 else self.act_write.en & (self.act_write.addr[self.word_bits:] == t)
            m.d.comb += [act_wr.addr.eq(self.act_write.addr if trees == 1 else self.act_write.addr[:self.word_bits]),
                         act_wr.data.eq(self.act_write.data), act_wr.en.eq(write_here),
                         act_rd.addr.eq(word if turns == 1 else Cat(word, slot))]
            act_words.append(act_rd.data)

        nonzero = Signal(lanes)
        negative = Signal(lanes)
        illegal = Signal()
        if self.trit_format is TritFormat.TRITS_2BIT:
            beat = Signal.like(self.weights.payload)
            m.d.sync += beat.eq(self.weights.payload)
            codes = [beat[2 * l:2 * l + 2] for l in range(lanes)]
            m.d.comb += [nonzero.eq(Cat(c[0] for c in codes)), negative.eq(Cat(c[1] & c[0] for c in codes)),
                         illegal.eq(Cat(c == ILLEGAL_2BIT_CODE for c in codes).any())]
        else:
            table = base3_decode_table()
            flags = []
            for pair in range(0, self.beat_bytes, 2):
                rom = Memory(shape=unsigned(11), depth=256, init=table)
                m.submodules[f"base3_rom{pair // 2}"] = rom
                for byte in range(pair, min(pair + 2, self.beat_bytes)):
                    port = rom.read_port(domain="sync")
                    m.d.comb += port.addr.eq(self.weights.payload[8 * byte:8 * byte + 8])
                    flags.append(port.data)
            m.d.comb += [nonzero.eq(Cat(Cat(f[2 * k] for k in range(5)) for f in flags)),
                         negative.eq(Cat(Cat(f[2 * k + 1] for k in range(5)) for f in flags)),
                         illegal.eq(Cat(f[10] for f in flags).any())]

        s1_valid = Signal()
        s1_row_end = Signal()
        live = Signal(lanes)                        # lanes holding real columns in this beat
        # On the last beat of a row 1 <= remaining <= lanes, so its low bits suffice; the mask is made a
        # stage early so that no comparator sits in front of the lane select (Fmax).
        tail = remaining[:lanes.bit_length()]
        s1_slot = Signal.like(slot)
        m.d.sync += [s1_valid.eq(issue), s1_row_end.eq(last_beat), s1_slot.eq(slot),
                     live.eq(Mux(last_beat, Cat(tail > l for l in range(lanes)), (1 << lanes) - 1))]
        with m.If(s1_valid & illegal):
            m.d.sync += self.error.eq(1)

        # --- Stage 1b: register the block-RAM outputs (ECP5 DP16KD clock-to-out is ~6 ns: Fmax) --------
        act_regs = [Signal(8 * lanes, name=f"act_word{t}" if trees > 1 else "act_word") for t in range(trees)]
        nonzero_r, negative_r, live_r = Signal(lanes), Signal(lanes), Signal(lanes)
        s1b_valid, s1b_row_end, s1b_slot = Signal(), Signal(), Signal.like(slot)
        m.d.sync += [r.eq(d) for r, d in zip(act_regs, act_words)]
        m.d.sync += [nonzero_r.eq(nonzero), negative_r.eq(negative),
                     live_r.eq(live), s1b_valid.eq(s1_valid), s1b_row_end.eq(s1_row_end), s1b_slot.eq(s1_slot)]
        nonzero, negative, live = nonzero_r, negative_r, live_r

        # --- Stage 2: select a, ~a or 0 per lane; flag the +1 of each negated lane (-a = ~a + 1) -------
        # The +1s depend on the weights alone: one set for every tree.
        plus_one = Signal(lanes)                    # the +1 of each negated lane, summed in the tree
        s2_valid, s2_row_end, s2_slot = Signal(), Signal(), Signal.like(slot)
        m.d.sync += [plus_one.eq(negative & nonzero & live), s2_valid.eq(s1b_valid), s2_row_end.eq(s1b_row_end),
                     s2_slot.eq(s1b_slot)]
        beat_sums = []
        for t, act_word in enumerate(act_regs):
            prefix = f"t{t}_" if trees > 1 else ""
            selected = [Signal(signed(8), name=f"{prefix}sel{l}") for l in range(lanes)]
            for l in range(lanes):
                a = act_word[8 * l:8 * l + 8]
                m.d.sync += selected[l].eq(Mux(nonzero[l] & live[l], a ^ negative[l].replicate(8), 0))
            # The +1 bits enter as 1-bit terms beside the lanes, so their count is pipelined like the rest.
            terms = list(selected) + [Cat(bit, Const(0, 1)).as_signed() for bit in plus_one]
            beat_sums.append(self._adder_tree(m, terms, prefix))
        # The tree's control travels beside it (one copy, every tree has the same registers).
        tree_stages = self.pipeline_depth - 3
        valid, row_end, tag = (DelayLine(m, signal, f"tree_{name}").at(tree_stages) for signal, name in
                               ((s2_valid, "valid"), (s2_row_end, "row_end"), (s2_slot, "slot")))

        # --- Row accumulators (one a slot) and result FIFO -------------------------------------------------
        accs = [Signal(signed(self.acc_bits), name=f"acc{k}") for k in range(self.batch)]
        totals = [Signal(signed(self.acc_bits), name=f"total{t}" if trees > 1 else "total") for t in range(trees)]
        if trees > 1:                                       # side by side: tree t adds into slot t's row
            m.d.comb += [total.eq(acc + beat_sum) for total, acc, beat_sum in zip(totals, accs, beat_sums)]
            with m.If(valid):
                m.d.sync += [acc.eq(Mux(row_end, 0, total)) for acc, total in zip(accs, totals)]
        else:                                               # in turn: the slot tag picks the accumulator
            acc = Signal(signed(self.acc_bits))
            if self.batch == 1:
                m.d.comb += acc.eq(accs[0])
            else:
                with m.Switch(tag):
                    for k, register in enumerate(accs):
                        with m.Case(k):
                            m.d.comb += acc.eq(register)
            m.d.comb += totals[0].eq(acc + beat_sums[0])
            for k, register in enumerate(accs):
                with m.If(valid & (tag == k)):
                    m.d.sync += register.eq(Mux(row_end, 0, totals[0]))
        m.submodules.results = results = SyncFIFOBuffered(width=trees * self.acc_bits, depth=self.result_fifo_depth)
        m.d.comb += [results.w_data.eq(Cat(totals)), results.w_en.eq(valid & row_end),
                     self.result.payload.eq(results.r_data), self.result.valid.eq(results.r_rdy),
                     results.r_en.eq(self.result.ready)]
        row_taken = issue & last_beat                       # a slot's row enters: one result to come
        row_read = self.result.valid & self.result.ready
        with m.If(row_taken & ~row_read):
            m.d.sync += outstanding.eq(outstanding + 1)
        with m.Elif(row_read & ~row_taken):
            m.d.sync += outstanding.eq(outstanding - 1)
        return m

    @staticmethod
    def _adder_tree(m, terms, prefix):
        """The sum of `terms`, a register every ADDER_LEVELS_PER_STAGE levels and after the last."""
        level = 0
        while len(terms) > 1:
            terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
            level += 1
            if level % ADDER_LEVELS_PER_STAGE == 0 or len(terms) == 1:
                registered = [Signal(signed(len(t)), name=f"{prefix}tree{level}_{i}") for i, t in enumerate(terms)]
                m.d.sync += [r.eq(t) for r, t in zip(registered, terms)]
                terms = registered
        return terms[0]
