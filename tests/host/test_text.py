"""host.text: the tokenizer rule, streamed text equal to decode(all), progress lines for terminals and logs."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.errors import MmfreeError
from golden.tokenizer import ByteTokenizer
from host.text import FileTokenizer, LoadProgress, TextStream, continuation_text, tokenizer_for_vocab, tokenizer_path

WORDS = ["[UNK]", "the", "cat", "sat", "on", "mat", ",", ".", "hello", "world", "über", "☃"]
PIECES = ["▁the", "▁cat", "▁sat", "▁on", "▁mat", "▁hello", "▁world", "▁", ",", ".", "s", "at", "he"] + \
    list("abcdefghijklmnopqrstuvwxyz")
SENTENCES = ["the cat sat on the mat", "hello world , hello .", "the cats sat, the hats sat.",
             "hello über ☃ world", "naïve café — 日本語 ok", "  two  spaces", "end with é"]


def stream(tokenizer, tokens, context=()):
    """Each push's text, and finish()'s, in order."""
    text_stream = TextStream(tokenizer, context)
    return [text_stream.push(token) for token in tokens] + [text_stream.finish()]


def _word_level():
    from tokenizers import Tokenizer, models, pre_tokenizers
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tokenizer        # no decoder: the library joins the tokens' strings with spaces


def _sentencepiece(style):
    """A Unigram model with byte fallback (SentencePiece's), "▁" for spaces, decoded the Metaspace way or
    the LLaMA way (Replace, ByteFallback, Fuse, Strip)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    pieces = ["<unk>"] + [f"<0x{b:02X}>" for b in range(256)] + PIECES
    vocab = [(piece, 0.0 if piece == "<unk>" else -1.0 - (len(PIECES) - PIECES.index(piece)) / 10
              if piece in PIECES else -20.0) for piece in pieces]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=True))
    if style == "metaspace":
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()])
    else:
        tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                               decoders.Strip(" ", 1, 0)])
    return tokenizer


def _byte_level_bpe():
    """GPT-2's way: every byte a character of its own alphabet, " " as "Ġ"; a split character decodes to U+FFFD."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {piece: i for i, piece in enumerate(alphabet + ["th", "the", "Ġthe", "at", "Ġc", "Ġcat"])}
    merges = [("t", "h"), ("th", "e"), ("Ġ", "the"), ("a", "t"), ("Ġ", "c"), ("Ġc", "at")]
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


BUILDERS = {"word-level": _word_level, "metaspace": lambda: _sentencepiece("metaspace"),
            "llama": lambda: _sentencepiece("llama"), "byte-level-bpe": _byte_level_bpe}


@pytest.fixture(scope="module", params=list(BUILDERS))
def file_tokenizer(request, tmp_path_factory):
    build = BUILDERS[request.param]
    path = tmp_path_factory.mktemp(request.param) / "tokenizer.json"
    build().save(str(path))
    return FileTokenizer(path)


def test_streamed_text_is_decode_of_all_where_token_by_token_is_not(file_tokenizer):
    naive_differs = 0
    for sentence in SENTENCES:
        tokens = file_tokenizer.encode(sentence)
        whole = file_tokenizer.decode(tokens)
        assert "".join(stream(file_tokenizer, tokens)) == whole, sentence
        naive_differs += "".join(file_tokenizer.decode([t]) for t in tokens) != whole
    assert naive_differs >= 2          # per-token decoding runs words together or breaks characters


def test_sentencepiece_spaces_and_split_characters_arrive_in_order(tmp_path):
    _sentencepiece("metaspace").save(str(tmp_path / "tokenizer.json"))
    tokenizer = FileTokenizer(tmp_path / "tokenizer.json")
    tokens = tokenizer.encode("hello world ☃")
    assert [tokenizer.tokenizer.id_to_token(t) for t in tokens][:2] == ["▁hello", "▁world"]
    parts = stream(tokenizer, tokens)
    assert parts[:2] == ["hello", " world"]            # decode(["▁world"]) alone is "world"
    assert "".join(parts) == "hello world ☃"
    assert all("\ufffd" not in part for part in parts)   # ☃'s three byte pieces come out as one character


def test_context_text_is_not_returned_and_gives_the_first_token_its_space(file_tokenizer):
    prompt = file_tokenizer.encode("the cat")
    more = file_tokenizer.encode("the cat sat on the mat")[len(prompt):]
    assert continuation_text(file_tokenizer, prompt, more) == " sat on the mat"


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_token_sequence_streams_to_decode_of_all(file_tokenizer, data):
    # Random ids include byte pieces in any order: invalid UTF-8 that turns a whole run into U+FFFD.
    tokens = data.draw(st.lists(st.integers(0, file_tokenizer.vocab_size - 1), max_size=24))
    assert "".join(stream(file_tokenizer, tokens)) == file_tokenizer.decode(tokens)


def test_byte_tokens_of_one_character_wait_for_the_last_byte():
    tokenizer = ByteTokenizer(256)
    tokens = tokenizer.encode("a€b")                    # € is e2 82 ac
    assert stream(tokenizer, tokens) == ["a", "", "", "€", "b", ""]
    assert "".join(tokenizer.decode([t]) for t in tokens) != "a€b"


@given(st.lists(st.integers(0, 299), max_size=40), st.lists(st.integers(0, 255), max_size=8))
def test_byte_level_streams_to_decode_of_all(tokens, context):
    tokenizer = ByteTokenizer(300)
    assert "".join(stream(tokenizer, tokens)) == tokenizer.decode(tokens)
    if bytes(context).isascii():                                # a context of whole characters
        assert "".join(stream(tokenizer, tokens, context)) == \
            tokenizer.decode(context + tokens)[len(tokenizer.decode(context)):]


@given(st.text(max_size=40), st.integers(0, 60))
def test_byte_level_prompt_cut_inside_a_character(text, cut):
    # A context that ends inside a character: the character comes out with the tokens that complete it.
    tokenizer = ByteTokenizer(256)
    tokens = tokenizer.encode(text)
    head = bytes(tokens[:cut]).decode("utf-8", errors="ignore")     # the context's whole characters
    assert continuation_text(tokenizer, tokens[:cut], tokens[cut:]) == text[len(head):]


def test_tokenizer_rule(tmp_path):
    assert tokenizer_path(None) is None and tokenizer_path("random:tiny") is None
    assert isinstance(tokenizer_for_vocab(256, "stdlib-256"), ByteTokenizer)     # the shipped model is byte-level
    _word_level().save(str(tmp_path / "tokenizer.json"))
    assert tokenizer_path(str(tmp_path)) == tmp_path / "tokenizer.json"
    assert tokenizer_path(str(tmp_path / "model.mmfi")) == tmp_path / "tokenizer.json"   # beside an image
    assert isinstance(tokenizer_for_vocab(300, str(tmp_path)), FileTokenizer)
    with pytest.raises(MmfreeError, match="belongs to another model"):
        tokenizer_for_vocab(len(WORDS) - 1, str(tmp_path))
    with pytest.raises(MmfreeError, match="needs a tokenizer"):
        tokenizer_for_vocab(32000, str(tmp_path / "elsewhere"))
    assert isinstance(tokenizer_for_vocab(32000, "random:370M"), ByteTokenizer)   # noise text, ids in range
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "tokenizer.json").write_text("{not json")
    with pytest.raises(MmfreeError, match="not a readable"):
        tokenizer_for_vocab(300, str(tmp_path / "bad"))


def test_iss_decodes_with_the_tokenizer_json_beside_the_image(tmp_path, capsys):
    from golden.config import preset
    from golden.hwexact import HardwareExactModel
    from golden.image import write_image
    from golden.packing import TritFormat
    from golden.quantize import quantize_model
    from golden.zoo import random_model
    from mmfree.cli import main

    qmodel = quantize_model(random_model(preset("tiny"), seed=4))
    write_image(qmodel, tmp_path / "model.mmfi", TritFormat.TRITS_2BIT)
    words = {f"w{i}": i for i in range(256)}
    from tokenizers import Tokenizer, models, pre_tokenizers
    tokenizer = Tokenizer(models.WordLevel(words, unk_token="w0"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    assert main(["iss", "--model", str(tmp_path / "model.mmfi"), "--format", "2bit", "--prompt", "w97 w98",
                 "--max-tokens", "4"]) == 0
    expected = HardwareExactModel(qmodel).generate([97, 98], 4)
    assert capsys.readouterr().out == "w97 w98" + "".join(f" w{t}" for t in expected) + "\n"


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_in_a_log_is_a_few_plain_lines():
    out = io.StringIO()
    progress = LoadProgress(1_000_000, out)
    for _ in range(1000):
        progress(1000)
    lines = out.getvalue().splitlines()
    assert [line.split("(")[1] for line in lines] == ["0 %)", "25 %)", "50 %)", "75 %)", "100 %)"]
    assert lines[-1] == "[load] 1,000,000 / 1,000,000 bytes (100 %)"
    assert "\r" not in out.getvalue()
    progress(5)                                          # nothing after the end
    assert len(out.getvalue().splitlines()) == 5


def test_progress_on_a_terminal_is_one_line_rewritten():
    out = FakeTerminal()
    progress = LoadProgress(10_000, out)
    for _ in range(2000):
        progress(5)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("[load] 10,000 / 10,000 bytes (100 %)\n")
    assert text.count("\r") == 101                       # once per whole percent, not per chunk
    assert "\r[load] 5,000 / 10,000 bytes (50 %)" in text


def test_progress_of_nothing_and_of_a_stream_without_isatty():
    out = io.StringIO()
    LoadProgress(0, out)(0)
    assert out.getvalue() == "[load] 0 / 0 bytes (100 %)\n"
    with pytest.raises(ValueError, match="total"):
        LoadProgress(-1, out)


def test_run_module_reexports_the_text_helpers():
    import host.run
    import host.text
    for name in ("FileTokenizer", "tokenizer_for", "print_progress"):
        assert getattr(host.run, name) is getattr(host.text, name)
    assert isinstance(host.run.print_progress(10, io.StringIO()), LoadProgress)
