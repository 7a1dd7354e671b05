"""`Device`: the accelerator behind the host link — what a board (or the simulation) holds.

    rx/tx bytes ─► LinkFrontEnd (host/protocol.py) ─┬► program memory, start, RECV FIFO, stop ─► Accelerator
                                                    └► image loading ─┬► mem_write ─► external memory
    Accelerator ─► VSTORE's work-area writes ─────────────────────────┘
    Accelerator ◄─ mem_req / mem_resp ─► external memory (reads)
    LinkFrontEnd ─ control (Wishbone, hw.link_csr) ─► the memory controller's CSRs (a LiteDRAM core's wb_ctrl)

The external memory's read channel is hw.image_reader's; its write channel takes one byte a transfer
(hw.image_reader.ByteWriteLayout: the link's rate; a board's memory controller packs them). The link
writes while no program runs and VSTORE only while one does; should both offer at once, VSTORE goes first.

`quiet` is high while nothing can change until a byte arrives on rx: no frame under way, nothing to
send, the controller not running. The fast simulation (sim/fast) stops the clock then; a board ignores it.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from assembler import isa
from host.protocol import FRAME_TIMEOUT_CYCLES, PROTOCOL_VERSION, BuildInfo, ControlBus, MemoryKind

from .accelerator import Accelerator
from .controller import State
from .link import LinkFrontEnd
from .link_csr import ControlBusSignature


class Device(wiring.Component):
    """Parameters: an Accelerator (its build), memory_bytes (external memory size for the image),
    memory_kind (host.protocol.MemoryKind of that memory), timeout_cycles (the link's inter-byte frame
    timeout, in cycles), control_bus (host.protocol.ControlBus: what the `control` port reaches; NONE: no port,
    and the link answers CSR with NAK NO_CONTROL_BUS).

    Ports: rx / tx byte streams; mem_req / mem_resp / mem_write (external memory); quiet (see above);
    control (ControlBusSignature, with a control bus only): to the memory controller's CSR bus, in this
    device's clock domain, which must be the controller's (host.protocol, "Control bus")."""

    def __init__(self, accelerator: Accelerator, *, memory_bytes: int, memory_kind: MemoryKind,
                 timeout_cycles: int = FRAME_TIMEOUT_CYCLES, control_bus: ControlBus = ControlBus.NONE):
        if not isinstance(memory_bytes, int) or not 1 <= memory_bytes <= 1 << 32:
            raise ValueError(f"memory_bytes must be in 1..2**32, got {memory_bytes!r}")
        if not isinstance(memory_kind, MemoryKind):
            raise TypeError(f"memory_kind must be a host.protocol.MemoryKind, not {memory_kind!r}")
        if not isinstance(timeout_cycles, int) or not 2 <= timeout_cycles < 1 << 32:
            raise ValueError(f"timeout_cycles must be in 2..2**32-1, got {timeout_cycles!r}")
        if not isinstance(control_bus, ControlBus):
            raise TypeError(f"control_bus must be a host.protocol.ControlBus, not {control_bus!r}")
        self.accelerator = accelerator
        self.build = build_info(accelerator, memory_bytes, memory_kind, timeout_cycles, control_bus)
        self.link = LinkFrontEnd(build=self.build)
        super().__init__({
            "rx": In(self.link.rx.signature.flip()), "tx": Out(self.link.tx.signature),
            "mem_req": Out(accelerator.mem_req.signature), "mem_resp": In(accelerator.mem_resp.signature.flip()),
            "mem_write": Out(self.link.mem_write.signature), "quiet": Out(1),
            **({"control": Out(ControlBusSignature())} if self.link.has_control_bus else {}),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.accelerator = acc = self.accelerator
        m.submodules.link = link = self.link
        wiring.connect(m, wiring.flipped(self.rx), link.rx)
        wiring.connect(m, link.tx, wiring.flipped(self.tx))
        if self.link.has_control_bus:
            wiring.connect(m, link.control, wiring.flipped(self.control))
        writer = self.mem_write
        m.d.comb += [writer.valid.eq(acc.mem_write.valid | link.mem_write.valid),
                     writer.payload.eq(Mux(acc.mem_write.valid, acc.mem_write.payload, link.mem_write.payload)),
                     acc.mem_write.ready.eq(writer.ready), link.mem_write.ready.eq(writer.ready & ~acc.mem_write.valid)]
        wiring.connect(m, acc.mem_req, wiring.flipped(self.mem_req))
        wiring.connect(m, wiring.flipped(self.mem_resp), acc.mem_resp)
        # The link's commands to the accelerator cross the chip through registers: the link's frame logic
        # stays off the controller's register enables (START and RECV words are rare: half rate is plenty).
        start_waiting = _registered(m, link.start, acc.start, "start")
        word_waiting = _registered(m, link.host_in, acc.host_in, "host_in")
        stop = Signal()
        m.d.sync += stop.eq(link.stop)
        wiring.connect(m, acc.host_out, link.host_out)
        m.d.comb += [acc.program_write.addr.eq(link.program_write.addr), acc.program_write.data.eq(link.program_write.data),
                     acc.program_write.en.eq(link.program_write.en), acc.stop.eq(stop),
                     link.status.eq(acc.status), link.counters.eq(acc.counters),
                     acc.vmem_write.en.eq(0), acc.vmem_read.en.eq(0),
                     self.quiet.eq(link.idle & (acc.status.state != State.RUNNING) & ~start_waiting & ~stop
                                   & ~((acc.status.state == State.WAITING) & (link.host_in.valid | word_waiting)))]
        return m


def _registered(m, source, sink, name: str):
    """`source` to `sink` (streams) through one register, a transfer every other cycle at most; returns
    whether the register holds a transfer."""
    valid, payload = Signal(name=f"{name}_valid"), Signal.like(source.payload, name=f"{name}_payload")
    m.d.comb += [source.ready.eq(~valid), sink.valid.eq(valid), sink.payload.eq(payload)]
    with m.If(source.valid & ~valid):
        m.d.sync += [valid.eq(1), payload.eq(source.payload)]
    with m.If(valid & sink.ready):
        m.d.sync += valid.eq(0)
    return valid


def build_info(accelerator: Accelerator, memory_bytes: int, memory_kind: MemoryKind, timeout_cycles: int,
               control_bus: ControlBus = ControlBus.NONE) -> BuildInfo:
    engine = accelerator.matvec.engine
    return BuildInfo(protocol=PROTOCOL_VERSION, isa_opcodes=len(isa.OPS), lanes=engine.lanes,
                     trit_format=engine.trit_format.value, mem_bytes=accelerator.mem_bytes,
                     program_words=accelerator.program_words, vmem_words=accelerator.vmem_words,
                     max_length=accelerator.norm.max_length, max_cols=engine.max_cols,
                     max_rows=accelerator.matvec.max_rows, memory_bytes=memory_bytes,
                     vector_width=accelerator.vector_width, batch=accelerator.batch, memory_kind=memory_kind.value, frame_timeout_cycles=timeout_cycles,
                     control_bus=control_bus.value)
