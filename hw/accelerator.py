"""`Accelerator`: the controller and its units around one banked VMEM and one external-memory read port.

    host words ─► controller ─┬► vector unit ─────────────────────┐  VMEM (V words a row, hw.vmem): read ports
                              ├► norm unit (RMSNORM, QUANT) ───────┤  X, Y, Z and one write port, each shared
                              ├► MATVEC unit (engine) + PREFETCH ──┤  by its clients (an explicit mux; a client
                              └► data mover (VLOAD, EMBED, SENDV) ─┘  drives it only while it uses it)
    external memory ◄─ mem_req / mem_resp ─► beat reader (engine beats, the prefetch buffer)
                                           └► word reader (4·V-byte words: norm weights, data mover, image check)

One instruction executes at a time, but a PREFETCH's matrix streams in while later instructions run,
so both readers can have requests outstanding: a request goes to memory from the word reader first
(a unit is waiting for it) else from the beat reader, and a tag FIFO routes each burst's beats back to
the reader that asked, in order. A START flushes both readers and the prefetch queue (hw.image_reader).

The units are listed once, in UNITS: each is built from the accelerator's parameters and joined to the
controller (command and done), to the VMEM ports whose names its signature carries and, with `read` and
`words`, to the word reader. Clients never overlap on a VMEM port (one unit runs at a time, the host
only while none does); the `port_conflicts` counter counts cycles in which two did (the tests require 0).

Batch: `batch` B (1..isa.MAX_BATCH, default 1) is the build's Q slots (assembler.isa). The controller checks
QUANT's slot and MATVEC's slots against it (BAD_SLOT); the norm unit writes a QUANT's activations and state into
its slot; the MATVEC unit's engine holds B activation vectors and applies each weight beat to the slots a
MATVEC serves on successive cycles (B cycles a beat at most, hw.ternary_engine: the cheap choice where memory is
slower than the engine, one adder tree for all), each slot's results rescaled by its own sigma and written
`stride` words after the previous slot's. One pass over a matrix thus serves B tokens: assembler.batch_compiler's
program, assembler.cost's compute(rows, cols, slots). `parallel` builds the slots side by side instead (B adder
trees, every beat in one cycle: for memories faster than the engine, e.g. HBM; hw.matvec_unit's gather).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, memory, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from assembler import isa
from assembler.iss import CostModel
from golden.packing import TritFormat

from .component import CheckedComponent
from .controller import Activity, Controller, State, StatusLayout
from .data_mover import DataMover
from .image_check import ImageCheck
from .image_reader import ADDRESS_BITS, ImageReader
from .matvec_unit import MatVecUnit
from .norm_unit import NormUnit
from .ternary_engine import pipeline_depth as engine_pipeline_depth
from .vector_unit import VectorUnit
from .vmem import ACT, READ_LATENCY, Vmem, word_read, word_write


COUNTER_BITS = 48
# MATVEC's cycles after the engine's pipeline has emptied: aligner, result FIFO, the done handshake and the
# controller's dispatch (9, measured in cocotb; see CostModel.engine_latency), and the rescale's registers.
ENGINE_DONE_CYCLES = 9 + MatVecUnit.RESULT_STAGES


# Registers between a unit's image read and the word reader (the request mux's), between the readers'
# requests and memory (a 2-entry FIFO: its `ready` is its level, so memory's `ready` stays off the readers'
# credit arithmetic), and between memory's beats and the readers.
WORD_REQUEST_STAGES = 1
MEMORY_REQUEST_STAGES = 1
RESPONSE_STAGES = 1

# The word reader's output FIFO (aligned words): enough for a word a cycle. Both readers' output FIFOs
# (amaranth.lib.fifo.SyncFIFOBuffered) offer a word two cycles after it is written (measured in simulation).
WORD_BUFFER_WORDS = 4
OUTPUT_FIFO_LATENCY = 2

# VLOAD / EMBED beyond the image stream and the write registers: the request and the done handshakes
# (measured in cocotb; see CostModel.mover_latency).
MOVER_CYCLES = 6

# Cycles a unit's instruction spends beyond its own command-to-done span: the dispatch and the done
# handshake (hw.sequencing.dispatch).
DISPATCH_CYCLES = 2

# The units the controller dispatches to, one line each: (submodule name, the controller's command port,
# the unit's class). A unit is built from the accelerator's parameters (those its constructor names:
# CheckedComponent.from_parameters), takes its command on `cmd` and answers on `done` (the controller's
# `<port>_done`). Its VMEM clients are the members of its signature named like the VMEM's ports
# (VMEM_READ_PORTS and `write`: hw.vmem's client signatures), joined to each port's explicit mux; with `read` and
# `words` it reads the image through the word reader. The rest are the units' own side channels (the norm
# unit's quantiser state into the MATVEC unit, the engine's beats, SENDV's words): wired by name below.
UNITS = (("vector", "vector", VectorUnit), ("norm", "norm", NormUnit), ("matvec", "matvec", MatVecUnit),
         ("mover", "mover", DataMover), ("image_check", "check", ImageCheck))
VMEM_READ_PORTS = ("read_x", "read_y", "read_z")        # hw.vmem.Vmem's read ports, in order; the host's reads use X

ACTIVITY_COUNTERS = {Activity.CHECK: "check", Activity.CONTROL: "control", Activity.HOST: "host", Activity.VECTOR: "vector",
                     Activity.NORM: "norm", Activity.MATVEC: "matvec", Activity.MOVE: "move"}


class CountersLayout(data.StructLayout):
    """Performance counters (unsigned, COUNTER_BITS each), reset by `start`; all *measured* by the hardware.

    cycles: running or waiting for the host.  instructions: executed.
    bytes_requested: image bytes the units asked for (the ISS's bytes_read, and the start-time image
    check's header reads: 32 + H + 4 bytes, hw.image_check).
    bytes_received: bytes of the beats memory returned (whole beats).
    engine_busy: cycles the ternary engine has a product taking beats.
    memory_wait: cycles a unit wants image data that has not arrived (stalls on memory).
    memory_idle: cycles memory has nothing to do: no beat asked for and not yet arrived, no request
    taken (the time a faster datapath or a deeper prefetch could still use).
    port_conflicts: cycles two clients drove one VMEM port, or a memory request found no room for its tag
    (must stay 0).
    host_wait: cycles waiting for the host (RECV with nothing sent, a word to the host not taken).
    check, control, host, vector, norm, matvec, move: cycles by controller activity
    (hw.controller.Activity); they add up to `cycles`."""

    def __init__(self):
        names = ["cycles", "instructions", "bytes_requested", "bytes_received", "engine_busy", "memory_wait",
                 "memory_idle", "host_wait", "port_conflicts", *ACTIVITY_COUNTERS.values()]
        super().__init__({name: COUNTER_BITS for name in names})


class Accelerator(CheckedComponent):
    """Parameters: program_words, vmem_words, lanes (engine L), trit_format, max_length (RMSNORM/QUANT
    vector), max_cols / max_rows (MATVEC), mem_bytes (external data width), burst_beats, fifo_beats (the
    word reader's buffer), vector_width (V: elements a cycle of the vector, norm and data-mover units),
    prefetch_bytes (the beat reader's buffer: how far a PREFETCHed matrix streams ahead), batch (Q slots, see
    above), parallel (the slots side by side, see above), write_bytes (VSTORE's writes: 1, bytes, or 4, words with
    a byte mask: hw.data_mover; the memory behind must take them).

    Ports: program_write, start, host_in, host_out, stop, status (see hw.controller); counters
    (CountersLayout); mem_req / mem_resp (see hw.image_reader); mem_write (VSTORE's writes,
    hw.image_reader.write_layout(write_bytes)); vmem_write / vmem_read for the host
    (only while no program runs; one word at a time, read data READ_LATENCY cycles after the address).
    """

    @classmethod
    def check_parameters(cls, *, program_words, vmem_words, lanes, trit_format, max_length, max_cols, max_rows, mem_bytes,
              burst_beats=16, fifo_beats=64, vector_width=1, prefetch_bytes=4096, batch=1, parallel=False,
                         write_bytes=1, **_):
        Controller.check_parameters(program_words=program_words, vmem_words=vmem_words, vector_width=vector_width,
                                    batch=batch)
        params = dict(vmem_words=vmem_words, lanes=lanes, trit_format=trit_format, max_length=max_length,
                      max_cols=max_cols, max_rows=max_rows, vector_width=vector_width, batch=batch, parallel=parallel,
                      write_bytes=write_bytes)
        for _, _, unit in UNITS:
            unit.check_parameters(**unit.own_parameters(params))
        ImageReader.check_parameters(mem_bytes=mem_bytes, out_bytes=4 * vector_width, burst_beats=burst_beats,
                                     fifo_beats=fifo_beats, outstanding_beats=None, buffer_words=0)
        if not isinstance(prefetch_bytes, int) or prefetch_bytes < 1:
            raise ValueError(f"prefetch_bytes must be a positive integer, got {prefetch_bytes!r}")

    def __init__(self, *, program_words: int, vmem_words: int, lanes: int, trit_format: TritFormat,
                 max_length: int, max_cols: int, max_rows: int, mem_bytes: int, burst_beats: int = 16,
                 fifo_beats: int = 64, vector_width: int = 1, prefetch_bytes: int = 4096, batch: int = 1,
                 parallel: bool = False, write_bytes: int = 1):
        self.controller = Controller(program_words=program_words, vmem_words=vmem_words, max_length=max_length,
                                     max_cols=max_cols, max_rows=max_rows, trit_format=trit_format,
                                     vector_width=vector_width, batch=batch)
        self.batch, self.parallel = batch, parallel
        params = dict(vmem_words=vmem_words, lanes=lanes, trit_format=trit_format, max_length=max_length,
                      max_cols=max_cols, max_rows=max_rows, vector_width=vector_width, batch=batch, parallel=parallel,
                      write_bytes=write_bytes)
        self.units = {name: unit.from_parameters(params) for name, _, unit in UNITS}
        for name, unit in self.units.items():
            setattr(self, name, unit)                   # self.vector, self.norm, self.matvec, ...
        beat_bytes = self.matvec.engine.beat_bytes
        self.beat_reader = ImageReader(mem_bytes=mem_bytes, out_bytes=beat_bytes, burst_beats=burst_beats,
                                       fifo_beats=fifo_beats, buffer_words=-(-prefetch_bytes // beat_bytes))
        # Its words leave through a small FIFO: the consumers' `ready` stays off the aligner's arithmetic.
        self.word_reader = ImageReader(mem_bytes=mem_bytes, out_bytes=4 * vector_width, burst_beats=burst_beats,
                                       fifo_beats=fifo_beats, buffer_words=WORD_BUFFER_WORDS)
        self.vmem = Vmem(words=vmem_words, vector_width=vector_width, read_ports=len(VMEM_READ_PORTS))
        self.vmem_words, self.program_words, self.mem_bytes = vmem_words, program_words, mem_bytes
        self.vector_width, self.prefetch_bytes = vector_width, self.beat_reader.buffer_words * beat_bytes
        width = (vmem_words - 1).bit_length()
        c, r = self.controller, self.beat_reader
        super().__init__({
            "program_write": Out(c.program_write.signature), "start": In(c.start.signature.flip()),
            "host_in": In(c.host_in.signature.flip()), "host_out": Out(c.host_out.signature),
            "stop": In(1), "status": Out(StatusLayout(program_words)), "counters": Out(CountersLayout()),
            "mem_req": Out(r.mem_req.signature), "mem_resp": In(r.mem_resp.signature.flip()),
            "mem_write": Out(self.mover.mem_write.signature),
            "vmem_write": Out(memory.WritePort.Signature(addr_width=width, shape=ACT)),
            "vmem_read": Out(memory.ReadPort.Signature(addr_width=width, shape=ACT)),
        })

    @classmethod
    def for_model(cls, config, *, program_instructions: int, vmem_words: int, lanes: int,
                  trit_format: TritFormat, mem_bytes: int, **kwargs) -> "Accelerator":
        """An accelerator just large enough for `config` (golden.config.HGRNBitConfig) and its program: the
        program memory rounded up to a power of two, VMEM to whole VECTOR_ALIGN blocks (not a power of two:
        block RAM is what limits the models a part holds), vector and matrix limits from the model's sizes."""
        longest = max(config.hidden_size, config.inner_size, config.mlp_size)
        return cls(program_words=max(2, 1 << (program_instructions - 1).bit_length()),
                   vmem_words=max(64, -(-vmem_words // isa.VECTOR_ALIGN) * isa.VECTOR_ALIGN), lanes=lanes, trit_format=trit_format,
                   max_length=longest, max_cols=longest,
                   max_rows=max(config.vocab_size, config.mlp_size, config.hidden_size, config.inner_size),
                   mem_bytes=mem_bytes, **kwargs)

    def cost_model(self, *, bytes_per_cycle: float, memory_latency: int, write_cycles: int = 1) -> CostModel:
        """The ISS cost model of this build behind a memory of the given sustained bandwidth (bytes per
        clock), latency (cycles to the first beat) and write rate (cycles per byte): see cost_model_for."""
        return cost_model_for(lanes=self.matvec.engine.lanes, slot_trees=self.matvec.engine.trees,
                              write_bytes=self.mover.write_bytes,
                              vector_width=self.vector_width,
                              prefetch_bytes=self.prefetch_bytes, mem_bytes=self.mem_bytes,
                              fifo_beats=self.beat_reader.fifo_beats, burst_beats=self.beat_reader.burst_beats,
                              bytes_per_cycle=bytes_per_cycle, memory_latency=memory_latency, write_cycles=write_cycles)

    def elaborate(self, platform):
        m = Module()
        c, norm, matvec, mover = self.controller, self.norm, self.matvec, self.mover
        beat_reader, word_reader = self.beat_reader, self.word_reader
        for name, sub in [("controller", c), *self.units.items(), ("beat_reader", beat_reader),
                          ("word_reader", word_reader), ("vmem", self.vmem)]:
            m.submodules[name] = sub
        starting = self.start.valid & self.start.ready
        # The readers and the prefetch queue are flushed a cycle after the start (no unit reads before the
        # image check's first request, cycles later): the start handshake stays off their arithmetic.
        flush = Signal()
        m.d.sync += flush.eq(starting)

        # --- Host ports and the controller's dispatch ----------------------------------------------
        m.d.comb += [c.program_write.addr.eq(self.program_write.addr), c.program_write.data.eq(self.program_write.data),
                     c.program_write.en.eq(self.program_write.en), self.status.eq(c.status), c.stop.eq(self.stop)]
        wiring.connect(m, wiring.flipped(self.start), c.start)
        wiring.connect(m, wiring.flipped(self.host_in), c.host_in)
        for name, port, _ in UNITS:
            wiring.connect(m, getattr(c, port), self.units[name].cmd)
            wiring.connect(m, self.units[name].done, getattr(c, f"{port}_done"))
        wiring.connect(m, c.prefetch, matvec.prefetch)
        m.d.comb += [c.quant.eq(norm.quant), c.matvec_error.eq(matvec.error), c.matvec_mismatch.eq(matvec.mismatch),
                     c.prefetched.eq(matvec.prefetched), norm.scale.eq(c.scale), matvec.scale.eq(c.scale),
                     matvec.quant.eq(norm.quant), matvec.flush.eq(flush)]
        wiring.connect(m, norm.q_write, matvec.q_write)

        # Host words: SEND from the controller, SENDV from the data mover (never at once).
        wiring.connect(m, mover.mem_write, wiring.flipped(self.mem_write))       # VSTORE's bytes
        m.d.comb += [self.host_out.valid.eq(c.host_out.valid | mover.host_out.valid),
                     self.host_out.payload.eq(Mux(mover.host_out.valid, mover.host_out.payload, c.host_out.payload)),
                     c.host_out.ready.eq(self.host_out.ready), mover.host_out.ready.eq(self.host_out.ready)]

        # --- Image readers: the beat reader feeds the engine; the word reader the norm weights (asked by
        # the controller) and every unit with `read` and `words` (one at a time: one instruction runs) ---
        wiring.connect(m, matvec.read, beat_reader.cmd)
        wiring.connect(m, beat_reader.data, matvec.weights)
        word_cmd = word_reader.cmd
        word_clients = [unit for unit in self.units.values() if {"read", "words"} <= set(unit.signature.members)]
        requesters = [c.norm_read, *(unit.read for unit in word_clients)]
        payload = requesters[-1].payload
        for requester in reversed(requesters[:-1]):
            payload = Mux(requester.valid, requester.payload, payload)
        # Registered on the way to the reader: the units' request logic and this mux get a cycle of their own,
        # and the memory port sees a read coming a cycle before the reader does (see _memory_port).
        requesting = Cat(r.valid for r in requesters).any()
        taking = ~word_cmd.valid | word_cmd.ready
        with m.If(taking):
            m.d.sync += [word_cmd.valid.eq(requesting), word_cmd.payload.eq(payload)]
        with m.If(flush):
            m.d.sync += word_cmd.valid.eq(0)
        m.d.comb += [requester.ready.eq(taking) for requester in requesters]
        consumers = [norm.weights, *(unit.words for unit in word_clients)]
        m.d.comb += [consumer.valid.eq(word_reader.data.valid) for consumer in consumers]
        m.d.comb += [consumer.payload.eq(word_reader.data.payload) for consumer in consumers]   # its low bits: narrower
        m.d.comb += word_reader.data.ready.eq(Cat(consumer.ready for consumer in consumers).any())
        m.d.comb += [beat_reader.flush.eq(flush), word_reader.flush.eq(flush)]
        memory_idle, tag_overflow = self._memory_port(m, coming=requesting)

        # --- Performance counters ------------------------------------------------------------------------
        counters = Signal(CountersLayout())
        m.d.comb += self.counters.eq(counters)
        # The readers' accepted bytes, registered on the way in (the 48-bit sum stays off their launch logic).
        requested = Signal(ADDRESS_BITS + 1)
        m.d.sync += requested.eq(Mux(starting, 0, word_reader.accepted + beat_reader.accepted))
        active = (c.status.state == State.RUNNING) | (c.status.state == State.WAITING)
        memory_wait = (matvec.engine.busy & ~matvec.weights.valid) | norm.starved | \
            (mover.words.ready & ~word_reader.data.valid)
        host_wait = (c.status.state == State.WAITING) | (self.host_out.valid & ~self.host_out.ready)
        # Conflicts are counted a cycle late: the ports' enables come straight from the units' issue logic,
        # and the 48-bit counter's carry chain stays off it (the host reads the counters long after a stop).
        conflicts = Signal()
        m.d.sync += conflicts.eq(~starting & (self._vmem_ports(m) | tag_overflow))
        with m.If(starting):
            m.d.sync += counters.eq(0)
        with m.Else():
            m.d.sync += [counters.cycles.eq(counters.cycles + active),
                         counters.instructions.eq(counters.instructions + c.executing),
                         counters.bytes_requested.eq(counters.bytes_requested + requested),
                         counters.bytes_received.eq(counters.bytes_received + Mux(self.mem_resp.valid, self.mem_bytes, 0)),
                         counters.engine_busy.eq(counters.engine_busy + matvec.engine.busy),
                         counters.memory_wait.eq(counters.memory_wait + memory_wait),
                         counters.memory_idle.eq(counters.memory_idle + (active & memory_idle)),
                         counters.host_wait.eq(counters.host_wait + host_wait),
                         counters.port_conflicts.eq(counters.port_conflicts + conflicts)]
            for activity, name in ACTIVITY_COUNTERS.items():
                m.d.sync += counters[name].eq(counters[name] + (c.activity == activity))
        return m

    def _memory_port(self, m, *, coming):
        """One memory port for both readers: requests from the word reader first, beats routed back by a
        FIFO of (reader, beats) per request. `coming`: a unit offers the word reader a read (it reaches the
        reader next cycle). Returns `idle` (no beat outstanding and no request taken) and `overflow` (a request
        with no room for its tag: never, see below)."""
        word, beat = self.word_reader, self.beat_reader
        tag_layout = data.StructLayout({"word": 1, "beats": range(word.burst_beats + 1)})
        # A tag per request whose beats have not all arrived: each reader keeps at most `outstanding_beats`
        # beats asked for and not yet arrived (hw.image_reader), and a request asks at least one, so the tags
        # never outnumber the two readers' outstanding beats: the FIFO is that deep and its `w_rdy` (a compare
        # of its level) need not gate the requests.
        tags = SyncFIFOBuffered(width=tag_layout.size, depth=word.outstanding_beats + beat.outstanding_beats)
        m.submodules.tags = tags
        # The word reader's whole read goes first (a unit waits for it): the beat reader holds back while
        # the word reader has a command or bursts pending, not only in the cycles it offers a request. The
        # turn is registered (the units' request logic stays off the readers' credit arithmetic) from a read
        # coming, so it starts in the cycle the reader gets the command, as if it were not registered.
        word_turn = Signal()
        m.d.sync += word_turn.eq(word.pending | coming)
        chosen = Signal.like(word.mem_req.payload)
        m.d.comb += chosen.eq(Mux(word_turn, word.mem_req.payload, beat.mem_req.payload))
        # Requests leave through a 2-entry FIFO (MEMORY_REQUEST_STAGES): a request is tagged as it enters.
        requests = SyncFIFO(width=chosen.shape().size, depth=2)
        m.submodules.requests = requests
        room = requests.w_rdy
        m.d.comb += [word.mem_req.ready.eq(room & word_turn), beat.mem_req.ready.eq(room & ~word_turn),
                     requests.w_en.eq(Mux(word_turn, word.mem_req.valid, beat.mem_req.valid) & room),
                     requests.w_data.eq(chosen),
                     self.mem_req.valid.eq(requests.r_rdy), self.mem_req.payload.eq(requests.r_data),
                     requests.r_en.eq(self.mem_req.ready)]
        asked = requests.w_en
        m.d.comb += [tags.w_en.eq(asked), tags.w_data.eq(Cat(word_turn, chosen.beats))]   # word_turn: the reader

        head = data.View(tag_layout, tags.r_data)
        arrived = Signal(range(word.burst_beats + 1))       # beats of the head request already routed
        # Beats registered on the way in (RESPONSE_STAGES): the memory's output, or its clock crossing's, stays
        # off the tag routing and the readers' credit arithmetic.
        arrival, beat_data = Signal(), Signal.like(self.mem_resp.payload)
        m.d.sync += [arrival.eq(self.mem_resp.valid), beat_data.eq(self.mem_resp.payload)]
        last_of_burst = arrived + 1 == head.beats
        m.d.comb += tags.r_en.eq(arrival & last_of_burst)
        with m.If(arrival):
            m.d.sync += arrived.eq(Mux(last_of_burst, 0, arrived + 1))
        m.d.comb += [word.mem_resp.valid.eq(arrival & head.word), beat.mem_resp.valid.eq(arrival & ~head.word),
                     word.mem_resp.payload.eq(beat_data), beat.mem_resp.payload.eq(beat_data),
                     self.mem_resp.ready.eq(1)]
        overflow = Signal()                             # registered: the level compare stays off the counters
        m.d.sync += overflow.eq(asked & ~tags.w_rdy)
        return ~tags.r_rdy & ~asked, overflow

    def _vmem_ports(self, m):
        """The VMEM's ports, each an explicit mux over its clients (the units with a member of the port's
        name) by their enables; the host's read on port X and its write while no program runs. Returns the
        cycle's conflicts: two clients driving one port."""
        vmem, units = self.vmem, self.units.values()
        conflicts = []
        for port, name in zip(vmem.read, VMEM_READ_PORTS):
            clients = [getattr(unit, name) for unit in units if name in unit.signature.members]
            if port is vmem.read[0]:
                word_read(m, port, self.vmem_read, self.vector_width)   # the host's address, when no unit reads
                m.d.comb += port.en.eq(1)       # (its reads change nothing, so they are not counted as conflicts)
            else:
                m.d.comb += port.en.eq(Cat(client.en for client in clients).any())
            for client in reversed(clients):    # the first listed wins (never two: counted)
                with m.If(client.en):
                    m.d.comb += port.addr.eq(client.addr)
            m.d.comb += [client.data.eq(port.data) for client in clients]
            conflicts.append(several([client.en for client in clients]))

        # The write port: the unit writing, or the host's word. Registered on the way in: the units' result
        # arithmetic and this mux stay off the block RAM's setup path (a write lands a cycle later; the next
        # instruction's reads come several cycles after).
        writers = [unit.write for unit in units if "write" in unit.signature.members]
        host = self.vmem_write
        row, value, enables = word_write(m, host, self.vector_width)
        for writer in writers:
            writing = writer.en.any()
            row, value, enables = Mux(writing, writer.addr, row), Mux(writing, writer.data, value), \
                Mux(writing, writer.en, enables)
        m.d.sync += [vmem.write.addr.eq(row), vmem.write.data.eq(value), vmem.write.en.eq(enables)]
        conflicts.append(several([writer.en.any() for writer in writers] + [host.en]))
        return Cat(conflicts).any()


def several(enables) -> Value:
    """More than one of `enables` (1-bit values) high."""
    bits = Cat(enables).as_unsigned()
    return (bits & (bits - 1)) != 0


def cost_model_for(*, lanes: int, vector_width: int, prefetch_bytes: int, mem_bytes: int, bytes_per_cycle: float,
                   memory_latency: int, fifo_beats: int = 64, burst_beats: int = 16, write_cycles: int = 1,
                   slot_trees: int = 1, write_bytes: int = 1) -> CostModel:
    """The ISS cost model (assembler.cost.CostModel) of an accelerator with these parameters behind a
    memory of the given sustained bandwidth (bytes per clock) and latency (cycles to the first beat):
    the engine's width and pipeline, V, the units' pipeline latencies (each derived from the stages the
    unit builds) and the prefetch buffer; the remaining constants are calibrated against cocotb."""
    vector = VectorUnit(vmem_words=max(64, vector_width), vector_width=vector_width)
    norm = NormUnit(vmem_words=max(64, vector_width), max_length=1, vector_width=vector_width)
    return CostModel(lanes=lanes, slot_trees=slot_trees, bytes_per_cycle=bytes_per_cycle, memory_latency=memory_latency,
                     read_latency=WORD_REQUEST_STAGES + ImageReader.COMMAND_STAGES + MEMORY_REQUEST_STAGES,
                     response_latency=RESPONSE_STAGES + OUTPUT_FIFO_LATENCY, mover_latency=MOVER_CYCLES + DataMover.WRITE_STAGES,
                     issue_cycles=Controller.ISSUE_CYCLES,      # the states every instruction walks
                     engine_latency=engine_pipeline_depth(lanes) + ENGINE_DONE_CYCLES, vector_lanes=vector_width,
                     # the controller's dispatch and done handshakes around each unit's own span
                     vector_latency=vector.latency + DISPATCH_CYCLES, pass_gap=vector.peak_latency + 1,
                     norm_lead=norm.lead_cycles, norm_cycles=norm.command_cycles(0) - norm.lead_cycles + DISPATCH_CYCLES - 1,
                     sendv_row_cycles=READ_LATENCY + 2, send_latency=DISPATCH_CYCLES, prefetch_bytes=prefetch_bytes,
                     # the beat reader's credits: beats asked for and not yet taken by the aligner
                     stream_backlog=fifo_beats * mem_bytes, burst_bytes=burst_beats * mem_bytes, write_cycles=write_cycles,
                     write_bytes=write_bytes)
