"""The link protocol's framing (host/protocol.py) and its generated documentation."""

import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from host import protocol as p


@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=p.MAX_PAYLOAD)), max_size=6),
       st.integers(1, 50))
def test_frames_round_trip_in_any_pieces(frames, piece):
    stream = b"\x00\x13" + b"".join(p.encode(kind, payload) for kind, payload in frames)   # leading junk
    decoder, decoded = p.Decoder(), []
    for at in range(0, len(stream), piece):
        decoded += decoder.feed(stream[at:at + piece])
    assert decoded == frames


def test_frame_layout_is_the_documented_one():
    frame = p.encode(p.Command.START, b"\x01\x02")
    assert frame[:4] == bytes([0x5A, p.Command.START, 2, 0]) and frame[4:6] == b"\x01\x02"
    assert struct.unpack("<I", frame[6:])[0] == zlib.crc32(frame[1:6])


def test_damaged_and_oversized_frames_are_reported_and_skipped():
    good = p.encode(p.Reply.WORD, b"\x07\x00\x00\x00")
    damaged = bytearray(good)
    damaged[5] ^= 0x40
    decoder = p.Decoder()
    with pytest.raises(p.ProtocolError, match="CRC"):
        decoder.feed(bytes(damaged))
    assert decoder.feed(good) == [(p.Reply.WORD, b"\x07\x00\x00\x00")]
    with pytest.raises(p.ProtocolError, match="announces"):
        decoder.feed(bytes([p.SYNC, 1]) + struct.pack("<H", p.MAX_PAYLOAD + 1))
    with pytest.raises(p.ProtocolError):
        p.encode(p.Command.WRITE_IMAGE, bytes(p.MAX_PAYLOAD + 1))


def test_build_info_round_trips():
    info = p.BuildInfo(p.PROTOCOL_VERSION, 26, 64, 2, 16, 1024, 65536, 2048, 2048, 32000, 1 << 30, 1, 1,
                       p.MemoryKind.DDR, 1 << 20)
    assert p.BuildInfo.unpack(info.pack()) == info
    with pytest.raises(p.ProtocolError):
        p.BuildInfo.unpack(info.pack()[:-1])


def test_other_versions_are_refused_by_version_not_by_size():
    # What a version-2 device answers a version-1 host's empty HELLO: the v1 size, only the version set.
    legacy = bytes([p.PROTOCOL_VERSION]) + bytes(p.LEGACY_HELLO_BYTES - 1)
    v1_format = struct.Struct("<BBHBBIIHHHI")                   # version 1's BuildInfo, as old hosts read it
    assert v1_format.size == p.LEGACY_HELLO_BYTES and v1_format.unpack(legacy)[0] == p.PROTOCOL_VERSION
    # A version-1 device's reply (its own size) to this host: a version message, not a size complaint.
    old = v1_format.pack(1, 26, 64, 2, 16, 1024, 65536, 2048, 2048, 32000, 1 << 30)
    with pytest.raises(p.VersionError, match=f"version 1, this host {p.PROTOCOL_VERSION}.*rebuild"):
        p.BuildInfo.unpack(old)
    with pytest.raises(p.VersionError, match="update mmfree"):
        p.BuildInfo.unpack(bytes([p.PROTOCOL_VERSION + 1]) + bytes(40))


def test_protocol_doc_is_current():
    doc = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
    assert doc.read_text(encoding="utf-8") == p.markdown(), "run: python -m host.protocol"


def test_good_frames_before_a_damaged_one_are_not_lost():
    word = p.encode(p.Reply.WORD, b"\x07\x00\x00\x00")
    damaged = bytearray(p.encode(p.Reply.ACK, b"\x05"))
    damaged[-1] ^= 0x10
    decoder = p.Decoder()
    with pytest.raises(p.ProtocolError, match="CRC"):
        decoder.feed(word + bytes(damaged) + word)
    assert decoder.feed(b"") == [(p.Reply.WORD, b"\x07\x00\x00\x00")] * 2


def test_a_version_2_device_is_refused_by_version():
    v2_format = struct.Struct("<BBHBBIIHHHIBBBI")               # version 2's BuildInfo: no control_bus
    old = v2_format.pack(2, 26, 64, 2, 16, 1024, 65536, 2048, 2048, 32000, 1 << 30, 1, 1, 2, 1 << 20)
    with pytest.raises(p.VersionError, match=f"version 2, this host {p.PROTOCOL_VERSION}.*rebuild"):
        p.BuildInfo.unpack(old)


def test_csr_operations_are_the_documented_bytes():
    assert p.csr_op(p.CsrOp.WRITE, 0x1004, 0xDEADBEEF) == bytes([1, 0x04, 0x10, 0, 0, 0xEF, 0xBE, 0xAD, 0xDE])
    assert p.csr_op(p.CsrOp.READ, 0x818) == bytes([2, 0x18, 0x08, 0, 0])
    assert p.csr_op(p.CsrOp.WAIT, 50_000) == bytes([3]) + (50_000).to_bytes(4, "little")
    assert p.ControlBus.LITEDRAM_ECPIX5.board == "ecpix5" and p.ControlBus.LITEDRAM_BUTTERSTICK.board == "butterstick"
