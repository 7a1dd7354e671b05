"""Text on the host side: which tokenizer a model takes, token ids to text as they arrive, load progress.

    tokenizer_for(info, model)    the one rule of every command: the model's tokenizer.json, else bytes
    TextStream(tokenizer, context) token ids in, one at a time; text out, exactly decode(all) in the end
    LoadProgress(total)           bytes sent of an image: a carriage-return line on a terminal, a few lines
                                  in a log

Why a stream and not `decode([token])` per token: a token's text depends on its neighbours. SentencePiece
(Metaspace, "▁") decoders drop the leading space of the first token they see, so "▁world" alone is
"world"; word-level tokenizers join tokens with spaces; a character of several UTF-8 bytes arrives as
several byte tokens, each of which alone is invalid. Decoding token by token runs words together and
prints broken characters; TextStream decodes in context and holds text back until it can no longer change.
"""

from __future__ import annotations

import codecs
import re
import sys
from pathlib import Path
from typing import Iterable, TextIO

from golden.errors import MmfreeError
from golden.image import ImageInfo
from golden.tokenizer import ByteTokenizer

TOKENIZER_FILE = "tokenizer.json"
REPLACEMENT = "\ufffd"                          # what decoders write for an incomplete UTF-8 sequence
_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")  # SentencePiece byte-fallback pieces


class FileTokenizer:
    """A Hugging Face tokenizer.json (local file only; nothing is downloaded)."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer
        self.path = Path(path)
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:      # the Rust library raises a bare Exception for a malformed file
            raise MmfreeError(f"{path}: not a readable Hugging Face tokenizer.json ({error}); replace it or "
                              "remove it to use byte-level text") from None
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = self.tokenizer.get_vocab_size(with_added_tokens=True)
        # Ids whose text depends on the byte tokens next to them (a run of them is one UTF-8 string, and
        # the whole run becomes U+FFFD when invalid), so TextStream holds them until the run ends.
        self.byte_fallback_ids = frozenset(i for piece, i in vocab.items() if _BYTE_PIECE.fullmatch(piece))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens)


def tokenizer_path(model: str | None) -> Path | None:
    """The tokenizer.json of a model spec, or None: in a shipped model's folder (e.g. `stdlib-256`), a
    checkpoint directory, or beside an .mmfi image. `random:` specs and `layout:` presets have none."""
    from golden.zoo import shipped_model_dir

    if not model or model.startswith(("random:", "layout:")):
        return None
    path = Path(model)
    directory = shipped_model_dir(model) or (path.parent if path.suffix == ".mmfi" else path)
    candidate = directory / TOKENIZER_FILE
    return candidate if candidate.is_file() else None


def tokenizer_for_vocab(vocab_size: int, model: str | None = None):
    """The tokenizer of a model with `vocab_size` tokens, named by spec `model` (see tokenizer_path).

    Its tokenizer.json when there is one; else byte-level text (token id = byte). Bytes cover a vocabulary
    of up to 256 entries; a larger one needs its tokenizer.json, except for random-weight models
    (`random:` specs), whose output is noise whatever the tokenizer and whose ids need only be in range.
    """
    path = tokenizer_path(model)
    if path is not None:
        tokenizer = FileTokenizer(path)
        if tokenizer.vocab_size > vocab_size:
            raise MmfreeError(f"{path} holds {tokenizer.vocab_size} tokens, the model's vocabulary "
                              f"{vocab_size}: it belongs to another model; put the model's own tokenizer.json there")
        return tokenizer
    if vocab_size > 256 and not (model or "").startswith("random:"):
        raise MmfreeError(f"a vocabulary of {vocab_size} needs a tokenizer: put its {TOKENIZER_FILE} in the model "
                          "directory (byte-level text covers vocabularies of at most 256)")
    return ByteTokenizer(vocab_size)


def tokenizer_for(info: ImageInfo, model: str | None = None):
    """The tokenizer of the model an image describes (tokenizer_for_vocab with the image's vocabulary)."""
    return tokenizer_for_vocab(info.config.vocab_size, model)


class TextStream:
    """Incremental detokenization: token ids in, one at a time; the text they add out.

    `push(token)` returns the new text (often "", while text is held back); `finish()` returns what was held.
    The concatenation of everything returned is `tokenizer.decode(context + tokens)` minus the text of
    `context` (e.g. the prompt, whose text the caller has already shown): with no context, exactly
    `tokenizer.decode(tokens)`.

    How: the whole sequence is decoded after every token (O(n) per token, n at most the model's positions)
    and the part beyond what was already returned is returned. Text is held back while it ends with U+FFFD
    (an incomplete UTF-8 character) or while the last token is a byte-fallback piece (<0xNN>: the run of
    byte pieces is one UTF-8 string and turns wholly into U+FFFD if invalid). Byte-level tokenizers
    (ByteTokenizer) go through Python's incremental UTF-8 decoder with the same error handling as their
    `decode`. This assumes what byte-level, SentencePiece (Metaspace, byte fallback), byte-level BPE and
    word-level decoders do: once held-back characters are complete, the text of the first k tokens is a
    prefix of the text of more. A decoder that rewrites earlier text (WordPiece's cleanup, " 's" to "'s")
    cannot be streamed exactly: text already returned is never taken back.
    """

    def __init__(self, tokenizer, context: Iterable[int] = ()):
        self.tokenizer = tokenizer
        self.tokens: list[int] = list(context)    # context, then every token pushed
        if isinstance(tokenizer, ByteTokenizer):
            self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="backslashreplace")
            self._utf8.decode(self._bytes(self.tokens))   # the context's text is not ours to return
        else:
            self._utf8 = None
            self._holds = getattr(tokenizer, "byte_fallback_ids", frozenset())
            # An incomplete character at the end of the context is completed by the tokens to come, and
            # is returned with them.
            self._shown = len(tokenizer.decode(self.tokens).rstrip(REPLACEMENT)) if self.tokens else 0

    @staticmethod
    def _bytes(tokens: list[int]) -> bytes:
        return bytes(t if t < 256 else 0x3F for t in tokens)   # as ByteTokenizer.decode: ids >= 256 are "?"

    def push(self, token: int) -> str:
        """Add one token id; the text that is now certain (possibly "")."""
        self.tokens.append(token)
        if self._utf8 is not None:
            return self._utf8.decode(self._bytes([token]))
        if token in self._holds:
            return ""
        return self._advance(self.tokenizer.decode(self.tokens), hold_incomplete=True)

    def finish(self) -> str:
        """The text held back; call once after the last token."""
        if self._utf8 is not None:
            return self._utf8.decode(b"", final=True)
        return self._advance(self.tokenizer.decode(self.tokens), hold_incomplete=False)

    def _advance(self, text: str, *, hold_incomplete: bool) -> str:
        if hold_incomplete and text.endswith(REPLACEMENT):
            return ""
        new = text[self._shown:]
        self._shown = max(self._shown, len(text))
        return new


def continuation_text(tokenizer, context: list[int], tokens: list[int]) -> str:
    """The text `tokens` add after `context` (a prompt): what a TextStream returns for them, all at once."""
    stream = TextStream(tokenizer, context)
    return "".join(stream.push(token) for token in tokens) + stream.finish()


class LoadProgress:
    """Progress of a transfer of `total` bytes (the model image), on `stream` (default: stderr).

    Called with the number of bytes just sent (a chunk). On a terminal (stream.isatty()) one line is
    rewritten in place with a carriage return, at most once per whole percent, and ended with a newline
    when all bytes are sent. Elsewhere (a log file, a pipe, CI) a plain line is written each time a quarter
    is reached, at 0, 25, 50, 75 and 100 %: five lines at most, whatever the number of chunks.
    """

    QUARTERS = (0, 25, 50, 75, 100)

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "load"):
        if total < 0:
            raise ValueError(f"total must be a byte count >= 0, not {total}")
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):       # no isatty, or a closed file
            self.tty = False
        self._last_percent: int | None = None       # last percent written (terminal) or quarter reached
        self._ended = False

    def percent(self) -> int:
        """Whole percent of the bytes sent (100 for an empty transfer)."""
        return 100 if self.total == 0 else min(100, 100 * self.done // self.total)

    def line(self) -> str:
        return f"[{self.label}] {self.done:,} / {self.total:,} bytes ({self.percent()} %)"

    def __call__(self, nbytes: int) -> None:
        if nbytes < 0:
            raise ValueError(f"nbytes must be >= 0, not {nbytes}")
        if self._ended:
            return
        self.done += nbytes
        percent = self.percent()
        complete = self.done >= self.total
        if self.tty:
            if percent != self._last_percent or complete:
                self.stream.write("\r" + self.line() + ("\n" if complete else ""))
                self.stream.flush()
        else:
            reached = max(q for q in self.QUARTERS if q <= percent)
            if reached != self._last_percent:
                self.stream.write(self.line() + "\n")
                self.stream.flush()
            percent = reached
        self._last_percent = percent
        self._ended = complete


def print_progress(total: int, stream: TextIO | None = None) -> LoadProgress:
    """The image load's progress on stderr (LoadProgress); a callable taking each chunk's byte count."""
    return LoadProgress(total, stream)
