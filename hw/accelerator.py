"""`Accelerator`: the controller and its units around one VMEM and one external-memory read port.

    host words ─► controller ─┬► vector unit ──────────┐
                              ├► norm unit (RMSNORM, QUANT) ─┼─ VMEM (one write port, read ports per unit)
                              ├► MATVEC unit (engine) ───┤
                              └► data mover (VLOAD, EMBED, SENDV)
    external memory ◄─ mem_req / mem_resp ─► image reader (engine beats) + image reader (4-byte words)

One instruction executes at a time, so the units share VMEM's write port and the memory port without
arbitration: the active unit's write enable (or requests) select it. The two readers take turns on
the memory port: a request goes to memory from whichever reader offers one (the 4-byte reader first),
and the beats come back to the reader whose requests are outstanding (never both: the unit behind
one reader finishes, having consumed all its data, before another instruction starts).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from assembler.iss import CostModel
from golden.packing import TritFormat

from .controller import Activity, Controller, State, StatusLayout
from .data_mover import DataMover
from .image_check import ImageCheck
from .image_reader import ImageReader
from .matvec_unit import MatVecUnit
from .norm_unit import NormUnit
from .vector_unit import ACT, VectorUnit


COUNTER_BITS = 48
# MATVEC's cycles after the engine's pipeline has emptied: aligner, result FIFO, the two rescale stages,
# the done handshake and the controller's dispatch (measured in cocotb; see CostModel.engine_latency).
ENGINE_DONE_CYCLES = 10


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
    host_wait: cycles waiting for the host (RECV with nothing sent, a word to the host not taken).
    check, control, host, vector, norm, matvec, move: cycles by controller activity
    (hw.controller.Activity); they add up to `cycles`."""

    def __init__(self):
        names = ["cycles", "instructions", "bytes_requested", "bytes_received", "engine_busy", "memory_wait",
                 "host_wait", *ACTIVITY_COUNTERS.values()]
        super().__init__({name: COUNTER_BITS for name in names})


class Accelerator(wiring.Component):
    """Parameters: program_words, vmem_words, lanes, trit_format, max_length (RMSNORM/QUANT vector),
    max_cols / max_rows (MATVEC), mem_bytes (external data width), burst_beats, fifo_beats.

    Ports: program_write, start, host_in, host_out, stop, status (see hw.controller); counters
    (CountersLayout); mem_req / mem_resp (see hw.image_reader); vmem_write / vmem_read for the host
    (only while no program runs).
    """

    def __init__(self, *, program_words: int, vmem_words: int, lanes: int, trit_format: TritFormat,
                 max_length: int, max_cols: int, max_rows: int, mem_bytes: int, burst_beats: int = 16,
                 fifo_beats: int = 64):
        self._MustUse__silence = True        # a refused parameter set is not an unused design
        parts = []
        try:
            self.controller = Controller(program_words=program_words, vmem_words=vmem_words, max_length=max_length,
                                         max_cols=max_cols, max_rows=max_rows, trit_format=trit_format)
            parts.append(self.controller)
            self.vector = VectorUnit(vmem_words=vmem_words)
            parts.append(self.vector)
            self.norm = NormUnit(vmem_words=vmem_words, max_length=max_length)
            parts.append(self.norm)
            self.matvec = MatVecUnit(lanes=lanes, trit_format=trit_format, max_cols=max_cols, max_rows=max_rows,
                                     vmem_words=vmem_words)
            parts += [self.matvec, self.matvec.engine]
            self.mover = DataMover(vmem_words=vmem_words)
            parts.append(self.mover)
            self.image_check = ImageCheck(trit_format=trit_format)
            parts.append(self.image_check)
            self.beat_reader = ImageReader(mem_bytes=mem_bytes, out_bytes=self.matvec.engine.beat_bytes,
                                           burst_beats=burst_beats, fifo_beats=fifo_beats)
            parts.append(self.beat_reader)
            self.word_reader = ImageReader(mem_bytes=mem_bytes, out_bytes=4, burst_beats=burst_beats,
                                           fifo_beats=fifo_beats)
        except (TypeError, ValueError):
            for part in parts:
                part._MustUse__silence = True
            raise
        self._MustUse__silence = False
        self.vmem_words, self.program_words, self.mem_bytes = vmem_words, program_words, mem_bytes
        width = (vmem_words - 1).bit_length()
        c, r = self.controller, self.beat_reader
        super().__init__({
            "program_write": Out(c.program_write.signature), "start": In(c.start.signature.flip()),
            "host_in": In(c.host_in.signature.flip()), "host_out": Out(c.host_out.signature),
            "stop": In(1), "status": Out(StatusLayout(program_words)), "counters": Out(CountersLayout()),
            "mem_req": Out(r.mem_req.signature), "mem_resp": In(r.mem_resp.signature.flip()),
            "vmem_write": Out(memory.WritePort.Signature(addr_width=width, shape=ACT)),
            "vmem_read": Out(memory.ReadPort.Signature(addr_width=width, shape=ACT)),
        })

    @classmethod
    def for_model(cls, config, *, program_instructions: int, vmem_words: int, lanes: int,
                  trit_format: TritFormat, mem_bytes: int, **kwargs) -> "Accelerator":
        """An accelerator just large enough for `config` (golden.config.HGRNBitConfig) and its program:
        memories rounded up to powers of two, vector and matrix limits from the model's sizes."""
        longest = max(config.hidden_size, config.inner_size, config.mlp_size)
        return cls(program_words=max(2, 1 << (program_instructions - 1).bit_length()),
                   vmem_words=max(16, 1 << (vmem_words - 1).bit_length()), lanes=lanes, trit_format=trit_format,
                   max_length=longest, max_cols=longest,
                   max_rows=max(config.vocab_size, config.mlp_size, config.hidden_size, config.inner_size),
                   mem_bytes=mem_bytes, **kwargs)

    def cost_model(self, *, bytes_per_cycle: float, memory_latency: int) -> CostModel:
        """The ISS cost model of this build behind a memory of the given sustained bandwidth (bytes per
        clock) and latency (cycles to the first beat): the engine's width and pipeline from the RTL, the
        other constants as calibrated against cocotb (assembler.iss.CostModel)."""
        engine = self.matvec.engine
        return CostModel(lanes=engine.lanes, bytes_per_cycle=bytes_per_cycle, memory_latency=memory_latency,
                         engine_latency=engine.pipeline_depth + ENGINE_DONE_CYCLES)

    def elaborate(self, platform):
        m = Module()
        c, vector, norm, matvec, mover = self.controller, self.vector, self.norm, self.matvec, self.mover
        beat_reader, word_reader = self.beat_reader, self.word_reader
        for name, sub in [("controller", c), ("vector", vector), ("norm", norm), ("matvec", matvec),
                          ("mover", mover), ("image_check", self.image_check), ("beat_reader", beat_reader),
                          ("word_reader", word_reader)]:
            m.submodules[name] = sub

        # --- Host ports and the controller's dispatch ----------------------------------------------
        m.d.comb += [c.program_write.addr.eq(self.program_write.addr), c.program_write.data.eq(self.program_write.data),
                     c.program_write.en.eq(self.program_write.en), self.status.eq(c.status), c.stop.eq(self.stop)]
        wiring.connect(m, wiring.flipped(self.start), c.start)
        wiring.connect(m, wiring.flipped(self.host_in), c.host_in)
        wiring.connect(m, c.vector, vector.cmd)
        wiring.connect(m, vector.done, c.vector_done)
        wiring.connect(m, c.norm, norm.cmd)
        wiring.connect(m, norm.done, c.norm_done)
        wiring.connect(m, c.matvec, matvec.cmd)
        wiring.connect(m, matvec.done, c.matvec_done)
        wiring.connect(m, c.mover, mover.cmd)
        wiring.connect(m, mover.done, c.mover_done)
        wiring.connect(m, c.check, self.image_check.cmd)
        wiring.connect(m, self.image_check.done, c.check_done)
        m.d.comb += [c.quant.eq(norm.quant), c.matvec_error.eq(matvec.error),
                     norm.scale.eq(c.scale), matvec.scale.eq(c.scale), matvec.quant.eq(norm.quant)]
        m.d.comb += [matvec.q_write.addr.eq(norm.q_write.addr), matvec.q_write.data.eq(norm.q_write.data),
                     matvec.q_write.en.eq(norm.q_write.en)]

        # Host words: SEND from the controller, SENDV from the data mover (never at once).
        m.d.comb += [self.host_out.valid.eq(c.host_out.valid | mover.host_out.valid),
                     self.host_out.payload.eq(Mux(mover.host_out.valid, mover.host_out.payload, c.host_out.payload)),
                     c.host_out.ready.eq(self.host_out.ready), mover.host_out.ready.eq(self.host_out.ready)]

        # --- Image readers: the 4-byte one serves the norm weights, the data mover and the image check ------
        wiring.connect(m, matvec.read, beat_reader.cmd)
        wiring.connect(m, beat_reader.data, matvec.weights)
        word_cmd, check = word_reader.cmd, self.image_check
        requesters = [c.norm_read, mover.read, check.read]        # one at a time: one instruction runs
        payload = requesters[-1].payload
        for requester in reversed(requesters[:-1]):
            payload = Mux(requester.valid, requester.payload, payload)
        m.d.comb += [word_cmd.valid.eq(Cat(r.valid for r in requesters).any()), word_cmd.payload.eq(payload)]
        m.d.comb += [requester.ready.eq(word_cmd.ready) for requester in requesters]
        consumers = [norm.weights, mover.words, check.words]
        m.d.comb += [consumer.valid.eq(word_reader.data.valid) for consumer in consumers]
        m.d.comb += [consumer.payload.eq(word_reader.data.payload) for consumer in consumers]
        m.d.comb += word_reader.data.ready.eq(Cat(consumer.ready for consumer in consumers).any())

        # One memory port: requests from either reader; beats to the reader that asked.
        beats_owed_word = Signal(32)
        word_turn = word_reader.mem_req.valid
        m.d.comb += [self.mem_req.valid.eq(word_reader.mem_req.valid | beat_reader.mem_req.valid),
                     self.mem_req.payload.eq(Mux(word_turn, word_reader.mem_req.payload, beat_reader.mem_req.payload)),
                     word_reader.mem_req.ready.eq(self.mem_req.ready),
                     beat_reader.mem_req.ready.eq(self.mem_req.ready & ~word_turn)]
        word_asked = word_reader.mem_req.valid & word_reader.mem_req.ready
        word_got = self.mem_resp.valid & (beats_owed_word != 0)
        m.d.sync += beats_owed_word.eq(beats_owed_word + Mux(word_asked, word_reader.mem_req.payload.beats, 0)
                                       - word_got)
        to_word = beats_owed_word != 0
        m.d.comb += [word_reader.mem_resp.valid.eq(self.mem_resp.valid & to_word),
                     beat_reader.mem_resp.valid.eq(self.mem_resp.valid & ~to_word),
                     word_reader.mem_resp.payload.eq(self.mem_resp.payload),
                     beat_reader.mem_resp.payload.eq(self.mem_resp.payload),
                     self.mem_resp.ready.eq(1)]

        # --- Performance counters ------------------------------------------------------------------------
        counters = Signal(CountersLayout())
        m.d.comb += self.counters.eq(counters)
        requested = word_reader.accepted + beat_reader.accepted
        active = (c.status.state == State.RUNNING) | (c.status.state == State.WAITING)
        memory_wait = (matvec.engine.busy & ~matvec.weights.valid) | norm.starved | \
            (mover.words.ready & ~word_reader.data.valid)
        host_wait = (c.status.state == State.WAITING) | (self.host_out.valid & ~self.host_out.ready)
        with m.If(self.start.valid & self.start.ready):
            m.d.sync += counters.eq(0)
        with m.Else():
            m.d.sync += [counters.cycles.eq(counters.cycles + active),
                         counters.instructions.eq(counters.instructions + c.executing),
                         counters.bytes_requested.eq(counters.bytes_requested + requested),
                         counters.bytes_received.eq(counters.bytes_received + Mux(self.mem_resp.valid, self.mem_bytes, 0)),
                         counters.engine_busy.eq(counters.engine_busy + matvec.engine.busy),
                         counters.memory_wait.eq(counters.memory_wait + memory_wait),
                         counters.host_wait.eq(counters.host_wait + host_wait)]
            for activity, name in ACTIVITY_COUNTERS.items():
                m.d.sync += counters[name].eq(counters[name] + (c.activity == activity))

        # --- VMEM: the active unit's writes, or the host's; read ports per unit ------------------------------
        m.submodules.vmem = vmem = memory.Memory(shape=ACT, depth=self.vmem_words, init=[])
        write = vmem.write_port()
        writers = [vector.write, norm.write, matvec.write, mover.write]
        address, value = self.vmem_write.addr, self.vmem_write.data
        for writer in writers:
            address = Mux(writer.en, writer.addr, address)
            value = Mux(writer.en, writer.data, value)
        # Registered on the way in: the units' result arithmetic and this mux stay off the block RAM's setup
        # path. A write lands one cycle later; the next instruction's reads come several cycles after.
        m.d.sync += [write.addr.eq(address), write.data.eq(value),
                     write.en.eq(self.vmem_write.en | vector.write.en | norm.write.en | matvec.write.en | mover.write.en)]
        for port in (vector.read_x, vector.read_y, vector.read_z, norm.read_x, mover.read_x):
            wiring.connect(m, vmem.read_port(domain="sync"), port)
        host_read = vmem.read_port(domain="sync")
        m.d.comb += [host_read.addr.eq(self.vmem_read.addr), self.vmem_read.data.eq(host_read.data)]
        return m
