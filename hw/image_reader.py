"""`ImageReader`: streams byte ranges of the model image from external memory, prefetching ahead.

    cmd {addr, length} ─► burst requests (credit-limited) ─► mem_req
    mem_resp beats ─► response FIFO ─► aligner (drop the bytes before addr, pack) ─► data words

External memory is a read channel of `mem_bytes`-wide beats addressed in beats: a request asks for
up to `burst_beats` consecutive beats, which come back in order on `mem_resp`, any number of cycles
later, at any rate. The reader issues a request only when its response FIFO has room for every beat
already asked for (credits), so it never pushes back on `mem_resp` (a DRAM controller cannot wait),
and it keeps up to `outstanding_beats` beats asked for and not yet arrived (at most `fifo_beats`),
which hides the latency whenever outstanding_beats >= latency x beats per cycle. A reader serving as a
prefetch buffer (`buffer_words`) keeps its data in a FIFO of aligned output words after the aligner,
so that the consumer drains it at a word a cycle (faster than memory, whose beats the aligner takes
one a cycle), and keeps `outstanding_beats` small, so that another reader's request on the same memory
waits behind few of its beats.

`cmd` takes {addr: byte address, length: bytes per row >= 1, rows >= 1}: the image bytes
addr .. addr + rows * length - 1 are read once, as one range (long bursts, no beat fetched twice),
and `data` carries each row as ceil(length / out_bytes) words of `out_bytes` little-endian bytes, in
order, the row's last word zero-padded: every row starts on a fresh word (the engine's row format).
Length or rows 0 reads nothing. Commands queue: the requests of the next command go out while the
aligner still emits the previous one, so back-to-back reads (MATVEC after MATVEC) keep memory busy.

`flush` (a cycle high) forgets every command and buffered byte; the beats already asked for are
dropped as they arrive (memory cannot take a request back), and new requests may go out meanwhile.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from golden import formats as fmt

from .component import CheckedComponent

ADDRESS_BITS = 32           # byte addresses and lengths: images up to 4 GiB (the ISA's w0 field)
ROWS_BITS = 16              # rows of one read: the ISA's MATVEC row count (c field)


class ReadLayout(data.StructLayout):
    """One image read: `rows` rows of `length` bytes from byte address `addr` (all unsigned)."""

    def __init__(self):
        super().__init__({"addr": ADDRESS_BITS, "length": ADDRESS_BITS, "rows": ROWS_BITS})


MAX_OUT_BYTES = fmt.MAX_ENGINE_LANES // 4      # the widest word: the widest engine's 2-bit beat


class ByteWriteLayout(data.StructLayout):
    """One external-memory write: the byte `data` at byte address `addr` (the write channel of hw.link's
    image load and of VSTORE; a memory controller packs them)."""

    def __init__(self):
        super().__init__({"addr": ADDRESS_BITS, "data": 8})


class WordWriteLayout(data.StructLayout):
    """One external-memory write of up to four bytes: byte k of `data` to `addr` + k where `mask`[k] is set;
    `addr` a multiple of 4 (VSTORE's words on a build with write_bytes = 4; a memory controller packs them)."""

    def __init__(self):
        super().__init__({"addr": ADDRESS_BITS, "data": 32, "mask": 4})


def write_layout(write_bytes: int) -> data.StructLayout:
    """The memory write channel's payload for `write_bytes` (1: ByteWriteLayout, 4: WordWriteLayout)."""
    if write_bytes not in (1, 4):
        raise ValueError(f"write_bytes must be 1 (byte writes) or 4 (word writes), got {write_bytes!r}")
    return ByteWriteLayout() if write_bytes == 1 else WordWriteLayout()


class ImageReader(CheckedComponent):
    """Parameters
    mem_bytes: external data width in bytes (a power of two).
    out_bytes: bytes per `data` word (the consumer's width, e.g. the engine's beat).
    burst_beats: most beats one request asks for (a power of two).
    fifo_beats: response FIFO depth in beats (the prefetch distance), a multiple of burst_beats.
    outstanding_beats: most beats asked for and not yet arrived (None: fifo_beats), a multiple of burst_beats.
    buffer_words: depth of the output FIFO of aligned words (0: none, the aligner offers `data` itself).

    Ports
    cmd: stream of ReadLayout {addr, length, rows}.
    data: stream of unsigned(8 * out_bytes) words.
    mem_req: stream of {addr: beat address, beats: 1..burst_beats}.
    mem_resp: stream of unsigned(8 * mem_bytes) beats (ready is always high).
    accepted: bytes of the command taken this cycle (length * rows), else 0 (performance counters).
    flush: forget all commands and data (see above).
    pending: a command is offered or has bursts not yet asked for (a memory arbiter favouring this reader
    holds the others back meanwhile).
    """

    # Cycles from a command taken to its first request: the command registered, its byte count registered,
    # the bursts set up, the request's decision registered.
    COMMAND_STAGES = 3

    @classmethod
    def check_parameters(cls, *, mem_bytes, out_bytes, burst_beats, fifo_beats, outstanding_beats, buffer_words, **_):
        if not isinstance(buffer_words, int) or buffer_words < 0:
            raise ValueError(f"buffer_words must be a non-negative integer, got {buffer_words!r}")
        if not isinstance(mem_bytes, int) or mem_bytes < 1 or mem_bytes & (mem_bytes - 1) or mem_bytes > 64:
            raise ValueError(f"mem_bytes must be a power of two in 1..64, got {mem_bytes!r}")
        if not isinstance(out_bytes, int) or not 1 <= out_bytes <= MAX_OUT_BYTES:
            raise ValueError(f"out_bytes must be in 1..{MAX_OUT_BYTES}, got {out_bytes!r}")
        if not isinstance(burst_beats, int) or not 1 <= burst_beats <= 256 or burst_beats & (burst_beats - 1):
            raise ValueError(f"burst_beats must be a power of two in 1..256, got {burst_beats!r}")
        if not isinstance(fifo_beats, int) or fifo_beats < burst_beats or fifo_beats % burst_beats:
            raise ValueError(f"fifo_beats must be a positive multiple of burst_beats, got {fifo_beats!r}")
        if outstanding_beats is not None and (not isinstance(outstanding_beats, int) or outstanding_beats < burst_beats
                                              or outstanding_beats % burst_beats or outstanding_beats > fifo_beats):
            raise ValueError(f"outstanding_beats must be a multiple of burst_beats up to fifo_beats, "
                             f"got {outstanding_beats!r}")

    def __init__(self, *, mem_bytes: int, out_bytes: int, burst_beats: int = 16, fifo_beats: int = 64,
                 outstanding_beats: int | None = None, buffer_words: int = 0):
        self.mem_bytes, self.out_bytes = mem_bytes, out_bytes
        self.burst_beats, self.fifo_beats = burst_beats, fifo_beats
        self.outstanding_beats = fifo_beats if outstanding_beats is None else outstanding_beats
        self.buffer_words = buffer_words
        self.offset_bits = (mem_bytes - 1).bit_length()
        super().__init__({
            "cmd": In(stream.Signature(ReadLayout())),
            "data": Out(stream.Signature(8 * out_bytes)),
            "mem_req": Out(stream.Signature(data.StructLayout({
                "addr": ADDRESS_BITS - self.offset_bits, "beats": range(burst_beats + 1)}))),
            "mem_resp": In(stream.Signature(8 * mem_bytes)),
            "accepted": Out(ADDRESS_BITS),
            "flush": In(1),
            "pending": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        mem_bytes, out_bytes = self.mem_bytes, self.out_bytes

        # --- Commands: registered, then their byte count (a multiply) registered: the requesters' muxes,
        # the multiply and the burst arithmetic each get a cycle (see COMMAND_STAGES) -------------------------
        flush = self.flush
        beats = SyncFIFOBuffered(width=8 * mem_bytes, depth=self.fifo_beats)
        m.submodules.beats = ResetInserter(flush)(beats)
        job_layout = data.StructLayout({"read": ReadLayout(), "total": ADDRESS_BITS})  # total = length * rows
        jobs = SyncFIFOBuffered(width=job_layout.size, depth=2)                       # for the aligner
        m.submodules.jobs = ResetInserter(flush)(jobs)
        held, held_valid = Signal(ReadLayout()), Signal()              # stage 1: the command
        counted, counted_valid = Signal(job_layout), Signal()          # stage 2: ... and its bytes
        next_beat = Signal(ADDRESS_BITS - self.offset_bits)
        # The beats of the command still to ask for: full bursts and a tail (burst_beats is a power of two);
        # `has_full` is registered beside the count, so the burst size is a mux of registers.
        tail_bits = (self.burst_beats - 1).bit_length()
        full_bursts = Signal(ADDRESS_BITS + 1 - tail_bits)
        has_full = Signal()
        tail = Signal(tail_bits) if tail_bits else Const(0, 1)
        beats_left = Signal()                                          # any burst left to ask for
        m.d.comb += beats_left.eq(has_full | (tail != 0))
        launch = Signal()                                              # stage 2's command becomes bursts
        m.d.comb += [self.cmd.ready.eq(~held_valid & ~flush),
                     launch.eq(counted_valid & ~beats_left & jobs.w_rdy & ~flush)]
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [held.eq(self.cmd.payload), held_valid.eq(1)]
        with m.If(held_valid & (~counted_valid | launch)):
            m.d.sync += [counted.read.eq(held), counted.total.eq(held.length * held.rows), counted_valid.eq(1),
                         held_valid.eq(0)]
        with m.Elif(launch):
            m.d.sync += counted_valid.eq(0)
        with m.If(flush):
            m.d.sync += [held_valid.eq(0), counted_valid.eq(0)]
        nbytes = counted.total
        with m.If(launch):
            offset = counted.read.addr[:self.offset_bits] if self.offset_bits else Const(0, 1)
            total = (offset + nbytes + mem_bytes - 1) >> self.offset_bits
            m.d.sync += next_beat.eq(counted.read.addr >> self.offset_bits)
        m.d.comb += [self.accepted.eq(Mux(launch, nbytes, 0)), jobs.w_en.eq(launch), jobs.w_data.eq(counted)]
        m.d.comb += self.pending.eq(self.cmd.valid | held_valid | counted_valid | beats_left)

        # --- Requests: each command split into bursts; credits keep the FIFO from overflowing. `valid` is a
        # register (`ask`), decided a cycle ahead from the counts as they will be if no burst goes out now; a
        # cycle that sends a burst (or launches a command) sends none the next, so the decision never waits
        # on the handshake. A burst every other cycle still asks faster than memory answers (one beat a
        # cycle, up to burst_beats a request).
        in_flight = Signal(range(self.fifo_beats + 1))      # beats requested, not yet read from the FIFO
        unarrived = Signal(range(self.fifo_beats + 1))     # beats asked for, not yet arrived
        burst = Signal(range(self.burst_beats + 1))        # the next request's beats
        m.d.comb += burst.eq(Mux(has_full, self.burst_beats, tail))
        ask = Signal()
        # `valid` is the register alone: a burst asked for in a flush's cycle is counted among the stale ones.
        m.d.comb += [self.mem_req.valid.eq(ask),
                     self.mem_req.payload.addr.eq(next_beat), self.mem_req.payload.beats.eq(burst)]
        asked = self.mem_req.valid & self.mem_req.ready
        with m.If(asked):
            m.d.sync += next_beat.eq(next_beat + burst)
            with m.If(has_full):
                m.d.sync += [full_bursts.eq(full_bursts - 1), has_full.eq(full_bursts != 1)]
            with m.Elif(tail_bits):
                m.d.sync += tail.eq(0)
        with m.If(launch):
            beats_total = Mux(nbytes == 0, 0, total)                                   # nothing to read
            m.d.sync += [full_bursts.eq(beats_total >> tail_bits), has_full.eq((beats_total >> tail_bits) != 0)]
            if tail_bits:
                m.d.sync += tail.eq(beats_total[:tail_bits])
        with m.If(flush):
            m.d.sync += [full_bursts.eq(0), has_full.eq(0)]
            if tail_bits:
                m.d.sync += tail.eq(0)
        stale = Signal(range(self.fifo_beats + 1))         # ... of which a flush dropped the command
        arrival = self.mem_resp.valid
        dropped = arrival & (stale != 0)
        m.d.comb += [beats.w_data.eq(self.mem_resp.payload), beats.w_en.eq(arrival & ~dropped),
                     self.mem_resp.ready.eq(1)]
        # A beat leaving the FIFO frees its credit a cycle later: the aligner's decision to take it stays off
        # the credit arithmetic's path (conservative: the room is one beat smaller for that cycle).
        freed = Signal()
        m.d.sync += freed.eq(beats.r_en & beats.r_rdy & ~flush)
        # Next cycle's counts, each computed with and without this cycle's burst from registers and arrivals,
        # so that the handshake (`asked`) and the flush only choose between finished sums.
        unarrived_kept = Signal.like(unarrived)            # without this cycle's burst
        in_flight_kept = Signal.like(in_flight)
        m.d.comb += [unarrived_kept.eq(unarrived - arrival), in_flight_kept.eq(in_flight - freed - dropped)]

        def with_burst(count):
            return Mux(asked, count + burst, count)

        unarrived_next, in_flight_next = with_burst(unarrived_kept), with_burst(in_flight_kept)
        with m.If(flush):
            m.d.sync += stale.eq(unarrived_next)
        with m.Else():
            m.d.sync += stale.eq(stale - dropped)
        m.d.sync += [unarrived.eq(unarrived_next), in_flight.eq(Mux(flush, unarrived_next, in_flight_next))]
        # The room for a burst, as registers beside the counts: the decision sees this cycle's counts, not the
        # beats that arrive or leave in it (conservative by a cycle), so it is two compares of registers.
        fifo_room = Signal(range(self.fifo_beats + 1), init=self.fifo_beats)               # fifo - in_flight
        flight_room = Signal(range(self.fifo_beats + 1), init=self.outstanding_beats)      # outstanding - unarrived

        def room_after(capacity, count):
            return Mux(asked, capacity - count - burst, capacity - count)

        m.d.sync += [fifo_room.eq(Mux(flush, room_after(self.fifo_beats, unarrived_kept),
                                      room_after(self.fifo_beats, in_flight_kept))),
                     flight_room.eq(room_after(self.outstanding_beats, unarrived_kept))]
        m.d.sync += ask.eq(~asked & ~launch & ~flush & beats_left & (fifo_room >= burst) & (flight_room >= burst))

        # --- Aligner: each row's bytes packed into out_bytes words ---------------------------------------
        capacity = out_bytes + mem_bytes
        buffer = Signal(8 * capacity)
        have = Signal(range(capacity + 1))                   # valid bytes at the bottom of `buffer`
        to_take = Signal(ADDRESS_BITS)                       # bytes of the job not yet in the buffer
        to_emit = Signal(ADDRESS_BITS)                       # bytes of the row not yet sent
        rows_left = Signal(ROWS_BITS)                        # rows of the job after this one
        skip = Signal(range(mem_bytes))                      # bytes to drop from the next beat
        active = Signal()
        queued = data.View(job_layout, jobs.r_data)
        job = queued.read
        row_length = Signal(ADDRESS_BITS)

        # min(to_emit, out_bytes) and to_emit <= out_bytes, kept in registers beside to_emit: `data.valid`
        # then depends on a few narrow registers, not on 32-bit compares (it fans out into the consumer).
        word_bytes = Signal(range(out_bytes + 1))            # bytes of the word on offer (0: row done)
        last_word = Signal()                                 # the word on offer ends the row

        def emit(value):                                     # to_emit <- value, with its companions
            m.d.sync += [to_emit.eq(value), word_bytes.eq(Mux(value < out_bytes, value, out_bytes)),
                         last_word.eq(value <= out_bytes)]

        out = stream.Signature(8 * out_bytes).create(path=("aligned",))
        if self.buffer_words:
            # One entry beyond buffer_words: the aligner's `ready` is a register (room for a word next cycle,
            # from this cycle's level), so the level's compare stays off the aligner's arithmetic.
            words = ResetInserter(flush)(SyncFIFOBuffered(width=8 * out_bytes, depth=self.buffer_words + 1))
            m.submodules.words = words
            room = Signal(init=1)
            m.d.sync += room.eq(words.level < words.depth - 1)
            m.d.comb += [words.w_data.eq(out.payload), words.w_en.eq(out.valid & room), out.ready.eq(room),
                         self.data.valid.eq(words.r_rdy), self.data.payload.eq(words.r_data),
                         words.r_en.eq(self.data.ready)]
        else:
            wiring.connect(m, out, wiring.flipped(self.data))
        m.d.comb += out.valid.eq(active & (word_bytes != 0) & (have >= word_bytes))
        keep_mask = Signal(8 * out_bytes)
        for byte in range(out_bytes):
            m.d.comb += keep_mask[8 * byte:8 * byte + 8].eq(Mux(byte < word_bytes, 0xFF, 0))
        m.d.comb += out.payload.eq(buffer[:8 * out_bytes] & keep_mask)
        transfer = out.valid & out.ready
        after_word = Signal(ADDRESS_BITS)                    # to_emit once the word on offer is taken
        m.d.comb += after_word.eq(to_emit - word_bytes)

        # Everything that depends on whether the word on offer leaves this cycle is computed both ways, from
        # registers, and the handshake (`transfer`, from the consumer) only picks a finished result: it stays
        # off the shifters' select lines, the longest path of the reader otherwise.
        staying_sent = Signal(range(capacity + 1))           # bytes of the buffer left if the word leaves
        m.d.comb += staying_sent.eq(have - word_bytes)
        # Take a beat when it fits beside what stays after this cycle's word; the bytes before addr
        # (first beat) and past the job's end (last beat) are not counted, and the latter are masked on
        # output. A row's end inside a beat leaves the next row's bytes in the buffer.
        useful = Mux(to_take < mem_bytes - skip, to_take, mem_bytes - skip)
        to_take_after = Signal(ADDRESS_BITS)                 # if this cycle takes a beat: the subtraction runs
        m.d.comb += to_take_after.eq(to_take - useful)       # beside the decision, not after it
        take = Signal()
        fits = Mux(transfer, staying_sent + mem_bytes <= capacity, have + mem_bytes <= capacity)
        m.d.comb += [take.eq(active & (to_take != 0) & beats.r_rdy & fits), beats.r_en.eq(take)]
        incoming = Signal(8 * mem_bytes)
        m.d.comb += incoming.eq(beats.r_data >> (skip * 8))
        kept_sent, kept = Signal.like(buffer), Signal.like(buffer)          # the buffer after this cycle
        m.d.comb += [kept_sent.eq((buffer >> (word_bytes * 8)) | Mux(take, incoming << (staying_sent * 8), 0)),
                     kept.eq(buffer | Mux(take, incoming << (have * 8), 0))]
        have_sent = Signal.like(have)
        m.d.comb += have_sent.eq(staying_sent + Mux(take, useful, 0))

        with m.If(flush):
            m.d.sync += [active.eq(0), have.eq(0), buffer.eq(0)]
        with m.Elif(active):
            m.d.sync += [buffer.eq(Mux(transfer, kept_sent, kept)),
                         have.eq(Mux(transfer, have_sent, have + Mux(take, useful, 0))),
                         to_take.eq(Mux(take, to_take_after, to_take))]
            with m.If(take):
                m.d.sync += skip.eq(0)
            with m.If(transfer):
                emit(after_word)
            with m.If(Mux(transfer, last_word, word_bytes == 0)):     # the row's last word leaves this cycle
                with m.If(rows_left == 0):                  # ... and the job's
                    m.d.sync += [active.eq(0), have.eq(0), buffer.eq(0)]
                with m.Else():
                    emit(row_length)
                    m.d.sync += rows_left.eq(rows_left - 1)
        with m.Elif(jobs.r_rdy):
            m.d.comb += jobs.r_en.eq(1)
            empty = queued.total == 0
            emit(Mux(empty, 0, job.length))
            m.d.sync += [active.eq(1), to_take.eq(queued.total), row_length.eq(job.length),
                         rows_left.eq(Mux(empty, 0, job.rows - 1)),
                         skip.eq(job.addr[:self.offset_bits] if self.offset_bits else 0)]
        return m
