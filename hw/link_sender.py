"""The host link's frame sender (hw.link): replies and the program's words framed as bytes
(host/protocol.py: SYNC, kind, length, body, CRC-32)."""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib.fifo import SyncFIFOBuffered

from host import protocol as p

from .crc32 import CRC32_INIT, crc32_byte


def frame_sender(m: Module, *, tx, host_out, reply_kind, reply_length, reply_payload, reply_pending):
    """The frame sender, built into `m`: a pending reply (reply_kind, reply_length bytes of reply_payload,
    little-endian at the bottom; reply_pending cleared once its body is taken) first, else a WORD frame
    for each of the program's words on `host_out`, as bytes on `tx`. Returns the FSM and whether
    accelerator words wait (its IDLE state and no word waiting tell that nothing is being sent)."""
    reply_bytes = len(reply_payload) // 8
    kind, length = Signal(8), Signal(8)         # replies are shorter than 256 bytes
    assert reply_bytes < 256
    body = Signal(8 * reply_bytes)
    crc = Signal(32)
    sent = Signal(range(reply_bytes + 1))
    # The accelerator's words wait in a small FIFO: its `valid` (a unit's state, across the chip) then
    # reaches a register, not the enable of the whole reply body.
    m.submodules.host_words = words = SyncFIFOBuffered(width=32, depth=2)
    m.d.comb += [words.w_data.eq(host_out.payload), words.w_en.eq(host_out.valid),
                 host_out.ready.eq(words.w_rdy)]
    # The body (shifted out a byte at a time) loads or shifts a cycle after the decision, from two flags.
    loading, shifting, from_words = Signal(), Signal(), Signal()
    with m.If(loading | shifting):
        m.d.sync += body.eq(Mux(loading, Mux(from_words, words.r_data, reply_payload), body >> 8))
    m.d.comb += words.r_en.eq(loading & from_words)
    with m.If(loading & ~from_words):
        m.d.sync += reply_pending.eq(0)             # the reply's source held until its body is taken
    m.d.sync += [loading.eq(0), shifting.eq(0)]
    with m.FSM() as sender:
        with m.State("IDLE"):
            with m.If(reply_pending):
                m.d.sync += [kind.eq(reply_kind), length.eq(reply_length), loading.eq(1), from_words.eq(0)]
                m.next = "SYNC"
            with m.Elif(words.r_rdy):
                m.d.sync += [kind.eq(p.Reply.WORD), length.eq(4), loading.eq(1), from_words.eq(1)]
                m.next = "SYNC"
        steps = [("SYNC", Const(p.SYNC, 8), "KIND", False), ("KIND", kind, "LENGTH0", True),
                 ("LENGTH0", length, "LENGTH1", True), ("LENGTH1", Const(0, 8), "BODY", True)]
        for state, value, next_state, counted in steps:
            with m.State(state):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(value)]
                with m.If(tx.ready):
                    if state == "SYNC":
                        m.d.sync += [crc.eq(CRC32_INIT), sent.eq(0)]
                    if counted:
                        m.d.sync += crc.eq(crc32_byte(m, crc, value, f"tx_crc_{state.lower()}"))
                    m.next = next_state
        with m.State("BODY"):
            with m.If(sent == length):
                m.d.sync += sent.eq(0)
                m.next = "CRC"
            with m.Else():
                m.d.comb += [tx.valid.eq(~shifting), tx.payload.eq(body[:8])]
                with m.If(tx.ready & ~shifting):
                    m.d.sync += [shifting.eq(1), sent.eq(sent + 1),
                                 crc.eq(crc32_byte(m, crc, body[:8], "tx_crc_body"))]
        with m.State("CRC"):
            final = crc ^ CRC32_INIT
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(final.word_select(sent[:2], 8))]
            with m.If(tx.ready):
                m.d.sync += sent.eq(sent + 1)
                with m.If(sent == 3):
                    m.next = "IDLE"
    return sender, words.level != 0
