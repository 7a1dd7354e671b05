"""cocotb testbench of ImageCheck: the image header validated from external memory.

Protocol checked: one command {image_bytes} per image; the unit reads the header through the reader
(memory latency, refresh gaps) and answers one `done` {code}, taken with random delays. Reference:
golden.image.parse_header on the same bytes (the first image_bytes of memory): a header CRC mismatch
is IMAGE_CRC, any other ImageError IMAGE_FORMAT; an image parse_header accepts is NONE when its trit
format is the build's, else IMAGE_FORMAT. Images: a real model image, one packed for the other format,
each header field broken (with the CRC recomputed where the field is covered by it, so the field's own
check is reached), truncated and extended lengths, and random byte flips anywhere in the header.
"""

import os
import random
import struct
import zlib

import cocotb

from assembler.isa import ErrorCode
from golden.config import preset
from golden.errors import ImageError
from golden.image import HEADER, image_bytes, parse_header
from golden.packing import TritFormat
from golden.quantize import quantize_model
from golden.zoo import random_model
from sim.clocking import command_until_done, start_and_reset
from sim.coverage import Coverage
from sim.memory_model import MEMORIES, ExternalMemory

FORMAT = TritFormat[os.environ["FORMAT"]]
MEMORY = MEMORIES[os.environ["MEMORY"]]


def expected_code(data: bytes) -> ErrorCode:
    try:
        info = parse_header(data)
    except ImageError as error:
        return ErrorCode.IMAGE_CRC if "header CRC mismatch" in str(error) else ErrorCode.IMAGE_FORMAT
    return ErrorCode.NONE if info.trit_format is FORMAT else ErrorCode.IMAGE_FORMAT


def with_field(image: bytes, offset: int, fmt: str, value: int, recompute_crc: bool) -> bytes:
    data = bytearray(image)
    struct.pack_into(fmt, data, offset, value)
    if recompute_crc:
        header_length = struct.unpack_from("<I", data, 8)[0]
        struct.pack_into("<I", data, header_length, zlib.crc32(bytes(data[:header_length])))
    return bytes(data)


@cocotb.test()
async def header_checks_match_parse_header(dut):
    await start_and_reset(dut, low=("cmd__valid", "done__ready"))
    rng = random.Random(int(os.environ.get("SEED", "9")))
    model = quantize_model(random_model(preset("tiny-odd"), seed=4))
    image = image_bytes(model, FORMAT)
    other = image_bytes(model, TritFormat.TRITS_BASE3 if FORMAT is TritFormat.TRITS_2BIT else TritFormat.TRITS_2BIT)
    header_length = struct.unpack_from("<I", image, 8)[0]
    cases = [("valid", image, len(image)), ("other format", other, len(other)),
             ("magic", with_field(image, 0, "<B", image[0] ^ 1, False), len(image)),
             ("version", with_field(image, 4, "<H", 2, False), len(image)),
             ("flags", with_field(image, 6, "<H", 1, False), len(image)),
             ("header length", with_field(image, 8, "<I", header_length + 4, False), len(image)),
             ("config length", with_field(image, 12, "<I", struct.unpack_from("<I", image, 12)[0] - 1, False), len(image)),
             ("trit format 7", with_field(image, 20, "<I", 7, True), len(image)),
             ("total length", with_field(image, 24, "<Q", len(image) + 64, True), len(image)),
             ("total length 2^32", with_field(image, 24, "<Q", len(image) + (1 << 32), True), len(image)),
             ("stored CRC", with_field(image, header_length, "<I", struct.unpack_from("<I", image, header_length)[0] ^ 0x100, False), len(image)),
             ("truncated by one", image, len(image) - 1), ("extended", image + bytes(64), len(image) + 64),
             ("shorter than its header", image, header_length + 2), ("shorter than 32", image, 20)]
    directed = [name for name, _, _ in cases]
    for index in range(int(os.environ.get("FLIPS", "24"))):
        data = bytearray(image)
        at = rng.randrange(header_length + 4) if index % 3 else rng.randrange(HEADER.size)
        data[at] ^= 1 << rng.randrange(8)
        cases.append((f"flip at {at}", bytes(data), len(data)))

    coverage = Coverage(f"image check {FORMAT.name} {MEMORY.mem_bytes}-byte beats", {
        **{f"code {code.name}": f"an image the check answers {code.name}"
           for code in (ErrorCode.NONE, ErrorCode.IMAGE_FORMAT, ErrorCode.IMAGE_CRC)},
        **{f"broken: {name}": "this directed image answered as parse_header does" for name in directed[1:]},
        "flip in the fixed header": f"a random bit flipped in the first {HEADER.size} bytes",
        "flip in the config": "a random bit flipped between the fixed header and the CRC",
    })
    memory = ExternalMemory(dut, max((c[1] for c in cases), key=len), MEMORY)
    memory.start()
    for name, data, length in cases:
        memory.load(data, size=len(data) + MEMORY.mem_bytes)
        codes = []

        def sample(ready):
            if ready and dut.done__valid.value == 1:
                codes.append(int(dut.done__payload.value))

        await command_until_done(dut, length, rng, max_cycles=20_000, sample=sample)
        expected = expected_code(data[:length])
        assert codes == [expected], f"{name}: the check answered {codes}, parse_header says {expected.name}"
        coverage.hit(f"code {expected.name}")
        if name.startswith("flip at "):
            at = int(name.split()[-1])
            coverage.hit("flip in the fixed header" if at < HEADER.size else "flip in the config",
                         at < header_length)      # a flip in the CRC itself: "stored CRC", directed
        elif name != "valid":
            coverage.hit(f"broken: {name}")
    coverage.finish()
