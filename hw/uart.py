"""`UART`: 8N1 serial line <-> byte streams, the physical side of the host link on a board.

    rx pin ─► synchroniser ─► start-bit detect, sample mid-bit, 8 data bits (LSB first), stop bit ─► rx stream
    tx stream ─► start bit, 8 data bits (LSB first), stop bit ─► tx pin (idle high)

`divisor` is clock cycles per bit (e.g. 100 MHz / 3 Mbaud ≈ 33). A received byte waits in a one-byte
buffer until taken; one arriving while the buffer is full is dropped and counted (`overruns`): the
link protocol's CRC and retries recover it. A frame without its stop bit is dropped (`framing_errors`).
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


class UART(wiring.Component):
    """Parameters
    divisor: clock cycles per bit, >= 4.

    Ports
    rx_pin: In(1), the line from the host (idle high).  tx_pin: Out(1), to the host.
    rx: stream of received bytes.  tx: stream of bytes to send.
    overruns, framing_errors: 16-bit saturating counts.
    """

    def __init__(self, *, divisor: int):
        if not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"divisor must be an integer >= 4 (cycles per bit), got {divisor!r}")
        self.divisor = divisor
        super().__init__({
            "rx_pin": In(1, init=1), "tx_pin": Out(1, init=1),
            "rx": Out(stream.Signature(8)), "tx": In(stream.Signature(8)),
            "overruns": Out(16), "framing_errors": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self.divisor

        # --- Receiver ------------------------------------------------------------------------------
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx_pin, line, init=1)
        rx_timer = Signal(range(divisor * 3 // 2 + 1))
        rx_bits = Signal(range(10))
        rx_shift = Signal(8)
        with m.If(self.rx.ready):
            m.d.sync += self.rx.valid.eq(0)

        def saturating_increment(counter):
            with m.If(counter != 0xFFFF):
                m.d.sync += counter.eq(counter + 1)

        with m.FSM(name="rx_fsm"):
            with m.State("IDLE"):
                with m.If(~line):                            # start bit: sample the first data bit 1.5 bits on
                    m.d.sync += [rx_timer.eq(divisor * 3 // 2 - 1), rx_bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += rx_timer.eq(rx_timer - 1)
                with m.If(rx_timer == 0):
                    m.d.sync += [rx_shift.eq(Cat(rx_shift[1:], line)), rx_bits.eq(rx_bits + 1),
                                 rx_timer.eq(divisor - 1)]
                    with m.If(rx_bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += rx_timer.eq(rx_timer - 1)
                with m.If(rx_timer == 0):
                    with m.If(~line):
                        saturating_increment(self.framing_errors)
                        m.next = "BREAK"
                    with m.Elif(self.rx.valid & ~self.rx.ready):
                        saturating_increment(self.overruns)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [self.rx.payload.eq(rx_shift), self.rx.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):                            # wait for the line to return high
                with m.If(line):
                    m.next = "IDLE"

        # --- Transmitter ---------------------------------------------------------------------------
        tx_timer = Signal(range(divisor))
        tx_shift = Signal(10)
        tx_bits = Signal(range(11))
        with m.If(tx_bits == 0):
            m.d.comb += self.tx.ready.eq(1)
            with m.If(self.tx.valid):
                m.d.sync += [tx_shift.eq(Cat(0, self.tx.payload, 1)), tx_bits.eq(10), tx_timer.eq(divisor - 1),
                             self.tx_pin.eq(0)]
        with m.Else():
            m.d.sync += tx_timer.eq(tx_timer - 1)
            with m.If(tx_timer == 0):
                m.d.sync += [tx_shift.eq(tx_shift >> 1), tx_bits.eq(tx_bits - 1), tx_timer.eq(divisor - 1),
                             self.tx_pin.eq(tx_shift[1] | (tx_bits == 1))]
        return m
