"""`mmfree run` on the simulated accelerator prints exactly the golden model's continuation."""

from golden.hwexact import HardwareExactModel
from golden.quantize import quantize_model
from golden.tokenizer import ByteTokenizer
from golden.zoo import load_model
from mmfree.cli import main


def test_mmfree_run_prints_the_golden_tokens(capsys):
    prompt, tokens = "ab", 5
    code = main(["run", "--model", "random:tiny:8", "--prompt", prompt, "--max-tokens", str(tokens),
                 "--lanes", "16", "--memory", "sdram", "--format", "2bit", "--timeout-cycles", "256"])   # the link tests' build
    captured = capsys.readouterr()
    assert code == 0, captured.err
    model = quantize_model(load_model("random:tiny:8"))
    tokenizer = ByteTokenizer(model.config.vocab_size)
    expected = HardwareExactModel(model).generate(tokenizer.encode(prompt), tokens)
    assert captured.out == prompt + tokenizer.decode(expected) + "\n"
    assert "cycles/token (measured" in captured.err and "tokens/s" in captured.err
