"""Byte-level tokenisation: token id = byte value (vocabularies of at least 256 entries)."""

from __future__ import annotations

from .errors import MmfreeError


class ByteTokenizer:
    def __init__(self, vocab_size: int):
        if vocab_size < 256:
            raise MmfreeError(f"a byte-level tokenizer needs a vocabulary of at least 256 tokens, the model "
                              f"has {vocab_size}; give token ids instead")
        self.vocab_size = vocab_size

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, tokens: list[int]) -> str:
        """Bytes to text; ids >= 256 and invalid UTF-8 are shown escaped, never dropped."""
        raw = bytes(t if t < 256 else 0x3F for t in tokens)
        return raw.decode("utf-8", errors="backslashreplace")
