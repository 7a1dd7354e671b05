"""`ImageCheck`: validates the model image's header in external memory before a program runs.

    cmd {image_bytes} ─► read header words [0, 32) ─► fields: magic, version, flags, lengths, format, total
                     ─► read [0, H) ─► CRC-32 (zlib's) ─► read the stored CRC at H ─► compare ─► done {code}

The checks and their order are golden.image.parse_header's, on the header it covers (the section
payloads carry their own CRCs, checked by the host when it loads them): the image holds at least a
header; magic; format version; flags 0; header length H = 32 + config length + 108 x sections; the
image holds H + 4 bytes; CRC-32 of bytes [0, H) equals the stored one; the header's total length equals
the image's; the trit format is the one this build's engine decodes. A failure of the CRC reports
IMAGE_CRC, any other IMAGE_FORMAT (assembler.isa.ErrorCode).

Protocol. `cmd` {image_bytes: unsigned 32}; the unit then asks the image reader (`read`) for three
ranges in turn, each as rows of 4 bytes (so that a reader of any word width hands it one 4-byte word
per row, in the low bits of `words`), and answers one `done` {code: ErrorCode} per command.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from assembler.isa import ErrorCode
from golden.image import FORMAT_VERSION, HEADER, MAGIC, SECTION_ENTRY
from golden.packing import TritFormat

from .component import CheckedComponent
from .crc32 import CRC32_INIT, crc32_bytes
from .image_reader import ADDRESS_BITS, ReadLayout
from .sequencing import offer

def check_read_bytes(header_length: int) -> int:
    """Image bytes the check asks for: the fixed header, [0, H) in whole 4-byte rows, the stored CRC."""
    return HEADER.size + 4 * -(-header_length // 4) + 4


# The header's little-endian fields as 32-bit words (golden.image.HEADER).
assert HEADER.format == "<4sHHIIIIQ" and HEADER.size == 32, "image header changed: update ImageCheck"
MAGIC_WORD = int.from_bytes(MAGIC, "little")
class ImageCheck(CheckedComponent):
    """Parameters
    trit_format: the weight packing this build's engine decodes (golden.packing.TritFormat).

    Ports
    cmd: stream of {image_bytes: unsigned 32}, the length of the image in memory.
    read: stream of image reads (hw.image_reader.ReadLayout) to a 4-byte-word reader.
    words: stream of unsigned 32-bit image words.
    done: stream of {code: ErrorCode}, one per command.
    """

    @classmethod
    def check_parameters(cls, *, trit_format, **_):
        if not isinstance(trit_format, TritFormat):
            raise TypeError(f"trit_format must be a TritFormat, not {trit_format!r}")

    def __init__(self, *, trit_format: TritFormat):
        self.trit_format = trit_format
        super().__init__({
            "cmd": In(stream.Signature(data.StructLayout({"image_bytes": ADDRESS_BITS}))),
            "read": Out(stream.Signature(ReadLayout())),
            "words": In(stream.Signature(32)),
            "done": Out(stream.Signature(data.StructLayout({"code": ErrorCode}))),
        })

    def elaborate(self, platform):
        m = Module()
        image_bytes = Signal(ADDRESS_BITS)
        last_crc_address = Signal(ADDRESS_BITS)          # image_bytes - 4: where the stored CRC may start, at most
        header = Signal(8 * HEADER.size)
        index = Signal(range(HEADER.size // 4 + 1))
        header_length = Signal(ADDRESS_BITS)
        remaining = Signal(ADDRESS_BITS)                 # bytes of [0, H) not yet folded into the CRC
        last_word = Signal()                             # remaining <= 4: the word in COVERED is the last
        crc = Signal(32)
        code = Signal(ErrorCode)

        word = [header[32 * i:32 * i + 32] for i in range(HEADER.size // 4)]
        magic, version, flags = word[0], word[1][:16], word[1][16:]
        header_length_field, config_length, sections, trit_format = word[2], word[3], word[4], word[5]
        total = Cat(word[6], word[7])

        # The header's checks take registered steps (FIELDS, LENGTH_SUM, LENGTH_TOTAL, LENGTH_CHECK), one
        # adder or compare deep each, so that none limits the clock: H = 32 + config length + 108 x sections
        # with 108 x sections = (96 + 12) x sections as shifts and adds (no multiplier).
        assert SECTION_ENTRY.size == 96 + 12, "section entry size changed: update ImageCheck's shifts"
        most_sections = (1 << 32) - 1
        sections_x96 = Signal(range(96 * most_sections + 1))
        sections_x12 = Signal(range(12 * most_sections + 1))
        sections_x108 = Signal(range(108 * most_sections + 1))
        config_and_header = Signal(range(HEADER.size + (1 << 32)))
        expected_length = Signal(range(HEADER.size + (1 << 32) + 108 * most_sections))
        identity_ok = Signal()                           # magic, format version and flags
        image_holds_crc = Signal()                       # the image holds H + 4 bytes
        tail_fields_ok = Signal()                        # the total length and the trit format (checked last)

        def request(state, addr, length, next_state):
            with offer(m, state, command=self.read, next_state=next_state):
                m.d.comb += [self.read.payload.addr.eq(addr), self.read.payload.length.eq(4),
                             self.read.payload.rows.eq((length + 3) >> 2)]

        def fail(error):
            m.d.sync += code.eq(error)
            m.next = "DONE"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [image_bytes.eq(self.cmd.payload.image_bytes), index.eq(0), code.eq(ErrorCode.NONE),
                                 last_crc_address.eq(self.cmd.payload.image_bytes - 4)]   # used when >= 32: no wrap
                    with m.If(self.cmd.payload.image_bytes < HEADER.size):
                        fail(ErrorCode.IMAGE_FORMAT)
                    with m.Else():
                        m.next = "READ_HEADER"
            request("READ_HEADER", 0, HEADER.size, "HEADER")
            with m.State("HEADER"):
                m.d.comb += self.words.ready.eq(1)
                with m.If(self.words.valid):
                    m.d.sync += [header.eq(Cat(header[32:], self.words.payload)), index.eq(index + 1)]
                    with m.If(index == HEADER.size // 4 - 1):
                        m.next = "FIELDS"
            with m.State("FIELDS"):
                m.d.sync += [identity_ok.eq((magic == MAGIC_WORD) & (version == FORMAT_VERSION) & (flags == 0)),
                             sections_x96.eq((sections << 6) + (sections << 5)),
                             sections_x12.eq((sections << 3) + (sections << 2)),
                             config_and_header.eq(config_length + HEADER.size),
                             tail_fields_ok.eq((total == image_bytes) & (trit_format == self.trit_format.value))]
                m.next = "LENGTH_SUM"
            with m.State("LENGTH_SUM"):
                m.d.sync += [sections_x108.eq(sections_x96 + sections_x12),
                             image_holds_crc.eq(header_length_field <= last_crc_address)]
                m.next = "LENGTH_TOTAL"
            with m.State("LENGTH_TOTAL"):
                m.d.sync += expected_length.eq(config_and_header + sections_x108)
                m.next = "LENGTH_CHECK"
            with m.State("LENGTH_CHECK"):
                # All IMAGE_FORMAT: golden.image.parse_header's order among these does not show.
                m.d.sync += [header_length.eq(header_length_field), remaining.eq(header_length_field),
                             last_word.eq(header_length_field <= 4), crc.eq(CRC32_INIT)]
                with m.If(identity_ok & (expected_length == header_length_field) & image_holds_crc):
                    m.next = "READ_COVERED"
                with m.Else():
                    fail(ErrorCode.IMAGE_FORMAT)
            request("READ_COVERED", 0, header_length, "COVERED")
            with m.State("COVERED"):                      # CRC-32 over [0, H), 4 bytes a word
                m.d.comb += self.words.ready.eq(1)
                # The last word folds only its bytes below H (remaining, 1 to 4), the rest is padding.
                folded = Signal(32)
                with m.Switch(Mux(last_word, remaining[:2], 0)):
                    for count in (1, 2, 3):
                        with m.Case(count):
                            m.d.comb += folded.eq(crc32_bytes(m, crc, self.words.payload, count, f"crc_{count}_bytes"))
                    with m.Default():
                        m.d.comb += folded.eq(crc32_bytes(m, crc, self.words.payload, 4, "crc_4_bytes"))
                with m.If(self.words.valid):
                    m.d.sync += [crc.eq(folded), remaining.eq(remaining - 4), last_word.eq(remaining <= 8)]
                    with m.If(last_word):
                        m.next = "READ_STORED"
            request("READ_STORED", header_length, 4, "STORED")
            with m.State("STORED"):
                m.d.comb += self.words.ready.eq(1)
                with m.If(self.words.valid):
                    with m.If(self.words.payload != (crc ^ CRC32_INIT)):
                        fail(ErrorCode.IMAGE_CRC)
                    with m.Elif(~tail_fields_ok):
                        fail(ErrorCode.IMAGE_FORMAT)
                    with m.Else():
                        m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += [self.done.valid.eq(1), self.done.payload.code.eq(code)]
                with m.If(self.done.ready):
                    m.next = "IDLE"
        return m
