"""The ISS's cost model: cycles of each instruction on the accelerator, and the prefetch stream.

Every figure the ISS prints is *derived* from these coefficients. The defaults are hw.accelerator's RTL,
calibrated against its cocotb cycle counts (the end-to-end test checks the agreement);
`hw.accelerator.Accelerator.cost_model` fills in a build's parameters.

Memory is one in-order channel. A MATVEC with nothing prefetched streams its matrix itself (latency,
then the slower of memory and engine). A PREFETCHed matrix streams while the instructions before its
MATVEC run, into a buffer of `prefetch_bytes`, with the time those instructions' own image reads
(norm weights, VLOAD, EMBED) take out of the stream; its MATVEC then waits only for what is still missing.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque


@dataclasses.dataclass(frozen=True)
class CostModel:
    """Cycle costs of the accelerator (one clock).

    lanes: trits the ternary engine consumes per cycle (hw.ternary_engine.TernaryMatVec LANES).
    slot_trees: the engine's adder trees, slots served side by side (1: a beat applied to the slots in turn; B:
    a parallel build, whose MATVEC unit then writes each block of V rows a slot a cycle, `slots` cycles at the end).
    bytes_per_cycle: sustained external-memory bandwidth in bytes per clock (refresh included).
    memory_latency: cycles from a burst request to its first byte (paid once per stream started).
    read_latency: cycles from a unit's image read to its request leaving the accelerator (the request's
    register on the way to the word reader, the reader's command stages
    hw.image_reader.ImageReader.COMMAND_STAGES: hw.accelerator).
    response_latency: cycles from a beat leaving memory to its bytes reaching the unit (the beats'
    register on the way in, the reader's output FIFO), after the beats queued before it.
    issue_cycles: fetch, decode, operands, prepare and execute of every instruction (scalar and control
    instructions: all); the RTL's is hw.controller.Controller.ISSUE_CYCLES.
    engine_latency: cycles from the last weight beat to MATVEC's done (engine pipeline, rescale, handshakes).
    vector_lanes: V, elements the vector, norm and data-mover units process per cycle.
    vector_latency: pipeline fill and handshakes of one vector instruction; pass_gap: between its passes.
    norm_lead: QUANT / RMSNORM's cycles before pass 2 beyond pass 1's rows (the command and pass 1's drain),
    which overlap the norm weights' wait.
    norm_cycles: QUANT / RMSNORM beyond their passes and the lead: the 1/sqrt (43 cycles) and the drains.
    mover_latency: VLOAD / EMBED beyond the image stream.
    sendv_row_cycles: SENDV's cycles per VMEM row beyond its words (the row's read).
    send_latency: SENDV's / VSTORE's cycles beyond the issue, the rows and their words (the dispatch and done
    handshakes: the data mover's send path has no pipeline to fill).
    embed_cycles: EMBED beyond a VLOAD of its row (its second read, the exponent byte's).
    prefetch_bytes: the buffer a PREFETCHed matrix streams into ahead of its MATVEC (0: none).
    stream_backlog: bytes of a running prefetch stream already asked of memory, which a unit's own
    image read (norm weights, VLOAD, EMBED) waits behind: the reader's credits, asked a burst every
    other cycle after the stream starts, a burst fewer once it runs (a burst goes out as its room frees).
    burst_bytes: the bytes of one request.
    write_cycles: cycles per write the memory's write channel takes at most (VSTORE; 1: a write a cycle).
    write_bytes: bytes a VSTORE write carries: 1, or 4 (hw.data_mover's word writes: an aligned word a write, a word
    at an unaligned address two).
    """
    lanes: int = 64
    slot_trees: int = 1
    bytes_per_cycle: float = 4.0
    memory_latency: int = 20
    read_latency: int = 0
    response_latency: int = 0
    issue_cycles: int = 5
    engine_latency: int = 16
    vector_lanes: int = 1
    vector_latency: int = 7
    pass_gap: int = 2
    norm_lead: int = 9
    norm_cycles: int = 63
    mover_latency: int = 6
    sendv_row_cycles: int = 4
    send_latency: int = 2
    embed_cycles: int = 16
    prefetch_bytes: int = 0
    stream_backlog: int = 0
    burst_bytes: int = 0
    write_cycles: int = 1
    write_bytes: int = 1

    def __post_init__(self):
        for name in ("lanes", "vector_lanes", "slot_trees"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.bytes_per_cycle <= 0:
            raise ValueError("bytes_per_cycle must be positive")
        if self.write_bytes not in (1, 4):
            raise ValueError(f"write_bytes must be 1 or 4, got {self.write_bytes!r}")
        if self.prefetch_bytes < 0:
            raise ValueError("prefetch_bytes must not be negative")

    def transfer(self, nbytes: int) -> int:
        """Cycles for `nbytes` of the image at the memory's bandwidth (no latency)."""
        return math.ceil(nbytes / self.bytes_per_cycle)

    def elements(self, length: int) -> int:
        """Cycles of one pass over `length` elements, V a cycle."""
        return math.ceil(length / self.vector_lanes)

    def vector(self, length: int, passes: int = 1) -> int:
        return self.issue_cycles + self.vector_latency + passes * self.elements(length) + (passes - 1) * self.pass_gap

    def norm(self, length: int, wait: float = 0) -> int:
        """Pass 1 (max|x|) while the norm weights stream in, pass 2 as they arrive, 1/sqrt, pass 3.
        `wait`: cycles of a prefetch stream's beats the weights' request queues behind."""
        first_two = max(self.norm_lead + 2 * self.elements(length),
                        self.first_byte(wait) + self.transfer(4 * length))
        return self.issue_cycles + first_two + self.elements(length) + self.norm_cycles

    def move(self, nbytes: int, elements: int, wait: float = 0) -> int:
        """VLOAD / EMBED: the image bytes stream into VMEM, at most V elements per cycle."""
        return (self.issue_cycles + self.first_byte(wait) + max(self.transfer(nbytes), self.elements(elements))
                + self.mover_latency)

    def first_byte(self, wait: float = 0) -> int:
        """Cycles from an image read's request to its first byte: the request reaches memory read_latency
        cycles later, behind what is left of `wait` cycles of a stream's beats asked for (the stream asks for
        no more from the cycle the read is offered: hw.accelerator's word_turn, so its backlog drains while
        the read travels), its own latency running meanwhile."""
        return self.read_latency + max(self.memory_latency, math.ceil(wait) - self.read_latency) + self.response_latency

    def sendv(self, length: int) -> int:
        """SENDV with the host always ready: a word a cycle, and each row's read."""
        return self.issue_cycles + self.send_latency + length + self.elements(length) * self.sendv_row_cycles

    def store(self, length: int, aligned: bool = True) -> int:
        """VSTORE: each row's read, then its words a write_bytes a write (a word write_bytes 4 at an unaligned
        address: two), as fast as the write channel takes them (a slow channel also hides the row reads between
        its writes)."""
        writes = 4 * length if self.write_bytes == 1 else length * (1 if aligned else 2)
        return self.issue_cycles + self.send_latency + max(writes + self.elements(length) * self.sendv_row_cycles,
                                                             self.write_cycles * writes)

    def compute(self, rows: int, cols: int, slots: int = 1) -> int:
        """Engine cycles of a rows x cols product for `slots` vectors (a row takes ceil(cols / lanes) cycles for
        each turn of slot_trees slots: the engine applies each weight beat to the slots a turn at a time)."""
        return math.ceil(max(slots, 1) / self.slot_trees) * rows * math.ceil(cols / self.lanes)

    def drain(self, slots: int = 1) -> int:
        """A parallel build's last block of rows, written a slot a cycle after its last row (none in turn)."""
        return max(slots, 1) + 1 if self.slot_trees > 1 else 0

    def matvec(self, rows: int, cols: int, nbytes: int, slots: int = 1) -> int:
        """A MATVEC reading its own matrix: the slower of engine and memory, after the first byte's latency."""
        return self.issue_cycles + self.first_byte() + max(self.compute(rows, cols, slots), self.transfer(nbytes)) \
            + self.engine_latency + self.drain(slots)


@dataclasses.dataclass
class _Prefetch:
    nbytes: int
    fetched: float = 0.0            # bytes in the buffer (or consumed)
    delay: float = 0.0              # latency still to pay before its first byte (a stream started from idle)


class PrefetchStream:
    """The queued PREFETCHes of a run, advanced instruction by instruction (cycles as floats: a fluid model)."""

    def __init__(self, cost: CostModel):
        self.cost = cost
        self.queue: deque[_Prefetch] = deque()
        self.since_idle = 0.0           # bytes streamed since the stream last stopped (done or buffer full)
        self.age = 0.0                  # cycles since the stream last started from idle

    def __len__(self) -> int:
        return len(self.queue)

    def push(self, nbytes: int) -> None:
        idle = all(entry.fetched >= entry.nbytes for entry in self.queue)
        if idle:
            self.age = 0.0
        self.queue.append(_Prefetch(nbytes, delay=self.cost.first_byte() if idle else 0))

    def backlog(self) -> float:
        """Cycles an image read asked now waits behind the stream's requests already out (none when the
        stream is done or its buffer full)."""
        fetched = sum(entry.fetched for entry in self.queue)
        missing = sum(entry.nbytes for entry in self.queue) - fetched
        room = self.cost.prefetch_bytes - fetched
        if missing <= 0 or room <= 0:
            return 0.0
        cost = self.cost
        running = self.since_idle >= cost.stream_backlog
        asked = cost.stream_backlog - (cost.burst_bytes if running else 0)
        # A stream started from idle asks a burst every other cycle (hw.image_reader), its first about
        # read_latency cycles after its PREFETCH began; the read holds it back from about as many cycles
        # after its own instruction began.
        ramp = cost.burst_bytes * max(0, math.ceil((self.age + 1 - cost.read_latency) / 2))
        return min(asked, ramp, missing, room) / cost.bytes_per_cycle

    def advance(self, cycles: float, read_bytes: int = 0) -> None:
        """`cycles` pass while an instruction that reads `read_bytes` of its own runs: the rest of the
        memory's time streams the queue, each entry up to the buffer's room."""
        self.age += cycles
        available = cycles - (self.cost.transfer(read_bytes) if read_bytes else 0)
        room = self.cost.prefetch_bytes - sum(entry.fetched for entry in self.queue)
        for entry in self.queue:
            if available <= 0 or room <= 0:
                break
            wait = min(entry.delay, available)
            entry.delay -= wait
            available -= wait
            take = min(entry.nbytes - entry.fetched, room, available * self.cost.bytes_per_cycle)
            if take > 0:
                entry.fetched += take
                room -= take
                available -= take / self.cost.bytes_per_cycle
                self.since_idle += take
        if room <= 0 or all(entry.fetched >= entry.nbytes for entry in self.queue):
            self.since_idle = 0.0

    def matvec(self, rows: int, cols: int, slots: int = 1) -> int:
        """Cycles of the MATVEC (over `slots` vectors) that takes the oldest entry; the stream goes on to the
        next during it."""
        cost, entry = self.cost, self.queue.popleft()
        missing = entry.nbytes - entry.fetched
        stream = entry.delay + missing / cost.bytes_per_cycle if missing > 0 else 0.0
        cycles = (cost.issue_cycles + math.ceil(max(cost.compute(rows, cols, slots), stream)) + cost.engine_latency
                  + cost.drain(slots))
        if self.queue and self.queue[0].delay and missing > 0:
            self.queue[0].delay = 0                 # requested back to back with this matrix's last burst
        self.advance(cycles - stream)
        return cycles
