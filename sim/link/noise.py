"""A host transport that damages frames on their way to the device: noise on the line, for the link's retry tests."""


class CorruptingTransport:
    """Flips `mask` in byte `at` (negative: from the end) of the first `count` frames written through `inner`;
    reads pass through. A header byte makes the device see a bad frame; the last byte (the CRC) lets the frame
    arrive whole, damaged."""

    def __init__(self, inner, count: int, *, at: int = -1, mask: int = 0x08):
        self.inner, self.count, self.at, self.mask = inner, count, at, mask

    def write(self, data):
        if self.count:
            self.count -= 1
            data = bytearray(data)
            data[self.at] ^= self.mask
        self.inner.write(bytes(data))

    def read(self, timeout):
        return self.inner.read(timeout)
