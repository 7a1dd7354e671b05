"""The `mmfree` command line, run in-process."""

import re

import pytest

from golden.checkpoint import save_checkpoint
from golden.config import preset
from golden.zoo import random_model
from mmfree.cli import build_parser, main


def test_demo_runs_from_an_image_and_reports_agreement(capsys):
    """The agreement line is what the two models say, computed here independently: the hardware-exact model of
    the image's weights against the float model's greedy decode (random:tiny agrees on all 6: a demo whose
    hardware-exact path broke would not)."""
    from golden.hwexact import HardwareExactModel
    from golden.model import generate_greedy
    from golden.quantize import quantize_model
    from golden.tokenizer import ByteTokenizer
    from golden.zoo import load_model

    assert main(["demo", "--max-tokens", "6", "--model", "random:tiny"]) == 0
    out = capsys.readouterr().out
    assert "TRITS_BASE3" in out and "TRITS_2BIT" in out
    model = load_model("random:tiny")
    prompt = ByteTokenizer(model.config.vocab_size).encode(build_parser().parse_args(["demo"]).prompt)
    float_tokens = generate_greedy(model, prompt, 6)
    hw_tokens = HardwareExactModel(quantize_model(model)).generate(prompt, 6)
    assert float_tokens == hw_tokens, "random:tiny's two models agree on every token (the expectation of this test)"
    assert re.search(r"agreement\s+all 6 generated tokens identical", out)
    assert "random weights" in out



def test_demo_with_the_shipped_model_writes_text(capsys):
    assert main(["demo", "--max-tokens", "40", "--prompt", "import os\n\n\ndef "]) == 0
    out = capsys.readouterr().out
    generated = out.split("(prompt, then generated) ---\n")[1].split("\n---\n")[0]
    assert generated.startswith("import os\n\n\ndef ")
    assert sum(c.isalpha() or c in " _():\n" for c in generated) >= 0.8 * len(generated)


def test_fidelity_report(capsys, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("hello hardware " * 10)
    assert main(["fidelity", "--model", "random:tiny", "--text", str(text), "--windows", "2",
                 "--window", "64"]) == 0
    out = capsys.readouterr().out
    for field in ("max |logit error|", "mean |logit error|", "top-1 agreement", "perplexity float",
                  "perplexity hw-exact"):
        assert field in out
    assert "windows x tokens        2 x 64" in out


def test_perplexity(capsys, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("def f(x):\n    return x\n" * 20)
    assert main(["perplexity", "--text", str(text), "--window", "128"]) == 0
    assert "perplexity float" in capsys.readouterr().out


def test_image_and_image_info_from_a_checkpoint(capsys, tmp_path):
    save_checkpoint(random_model(preset("tiny"), seed=4), tmp_path / "ckpt")
    assert main(["image", "--model", str(tmp_path / "ckpt"), "--out", str(tmp_path / "m.mmfi"),
                 "--format", "2bit"]) == 0
    assert main(["image-info", str(tmp_path / "m.mmfi")]) == 0
    out = capsys.readouterr().out
    assert "TRITS_2BIT" in out and "all CRCs ok" in out and "lm_head.weight" in out


@pytest.mark.parametrize("argv, message", [
    (["demo", "--model", "/no/such/dir"], "no such checkpoint directory"),
    (["demo", "--model", "random:huge"], "unknown model preset"),
    (["demo", "--model", "random:tiny-odd"], "byte-level tokenizer needs a vocabulary of at least 256"),
    (["build", "--board", "butterstick", "--top", "engine-check"], "names no LED"),
])
def test_user_errors_are_clean(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_asm_disasm_round_trip_and_located_error(tmp_path, capsys):
    source = tmp_path / "p.s"
    source.write_text(".vector v 8\nloop: SETLEN 8\n VZERO v\n BNZ r1, loop\n HALT\n")
    assert main(["asm", str(source), "-o", str(tmp_path / "p.bin")]) == 0
    assert main(["disasm", str(tmp_path / "p.bin"), "-o", str(tmp_path / "q.s")]) == 0
    assert main(["asm", str(tmp_path / "q.s"), "-o", str(tmp_path / "q.bin")]) == 0
    assert (tmp_path / "p.bin").read_bytes() == (tmp_path / "q.bin").read_bytes()
    source.write_text("SETLEN 8\n VZERO r1\n")
    capsys.readouterr()
    assert main(["asm", str(source), "-o", str(tmp_path / "p.bin")]) == 2
    assert f"{source}:2:8: error:" in capsys.readouterr().err
    (tmp_path / "bad.bin").write_bytes(bytes(16) + b"\xee" + bytes(15))
    assert main(["disasm", str(tmp_path / "bad.bin")]) == 2
    assert "byte offset 16: illegal opcode 0xee" in capsys.readouterr().err


def test_compile_layout_reports_program_size_and_cycles(tmp_path, capsys):
    assert main(["compile", "--model", "layout:370M", "-o", str(tmp_path / "p.bin"), "--asm", str(tmp_path / "p.s"),
                 "--lanes", "256", "--bytes-per-cycle", "16"]) == 0
    out = capsys.readouterr().out
    size = (tmp_path / "p.bin").stat().st_size
    assert f"{size // 16} instructions, {size} bytes" in out
    assert re.search(r"derived \(ISS cost model, 256 lanes, 16 B/cycle\): \d+ cycles per token", out)
    assert "RMSNORM" in (tmp_path / "p.s").read_text()
    assert main(["compile", "--model", "layout:nope", "-o", str(tmp_path / "p.bin")]) == 2


def test_iss_generates_the_hardware_exact_models_text(capsys):
    from golden.hwexact import HardwareExactModel
    from golden.quantize import quantize_model
    from golden.tokenizer import ByteTokenizer

    assert main(["iss", "--model", "random:tiny:4", "--prompt", "abc", "--max-tokens", "5"]) == 0
    captured = capsys.readouterr()
    tokenizer = ByteTokenizer(256)
    expected = HardwareExactModel(quantize_model(random_model(preset("tiny"), seed=4))).generate(tokenizer.encode("abc"), 5)
    assert captured.out == "abc" + tokenizer.decode(expected) + "\n"
    assert "7 decode steps" in captured.err and "cycles" in captured.err


def test_rtl_accelerator_is_sized_for_the_model(tmp_path, capsys):
    out = tmp_path / "acc.v"
    assert main(["rtl", "accelerator", "--model", "layout:tiny", "--lanes", "16", "--format", "2bit",
                 "--out", str(out)]) == 0
    assert "module accelerator" in out.read_text()
    # tiny (hidden = inner 64, mlp 128, 2 layers): h, r, x 64 words each, the shared scratch max(5 x 64, 2 x 128),
    # two on-chip states of 64: 3 x 64 + 320 + 2 x 64 = 640 words (assembler.compiler.vmem_layout).
    assert "16 lanes, TRITS_2BIT, program memory 128 instructions, VMEM 640 words" in capsys.readouterr().out
    assert main(["rtl", "accelerator", "--model", "layout:tiny", "--lanes", "7", "--out", str(out)]) == 2


def test_report_projects_a_preset_on_a_board_with_tags(capsys):
    assert main(["report", "--model", "1.3B", "--target", "ulx3s-85f"]) == 0
    out = capsys.readouterr().out
    assert "(measured)" in out and "(derived)" in out and "(projected)" in out
    assert re.search(r"decode\s+[\d.,]+ tokens/s \(derived\), [\d.]+ % of the memory roofline", out)
    assert "does NOT fit" in out                      # a 1.3B image is larger than the ULX3S's 32 MB


def test_report_reads_a_model_directory(capsys, tmp_path):
    save_checkpoint(random_model(preset("tiny"), seed=1), tmp_path / "tiny")
    assert main(["report", "--model", str(tmp_path / "tiny"), "--target", "hbm-u280"]) == 0
    assert "tokens/s (projected)" in capsys.readouterr().out
    assert main(["report", "--model", str(tmp_path / "nothing")]) == 2
    assert "neither a preset" in capsys.readouterr().err


def test_build_the_engine_for_the_icebreaker_with_its_report(capsys, tmp_path):
    assert main(["build", "--board", "icebreaker", "--top", "engine-check", "--out", str(tmp_path / "build"),
                 "--report-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"top\.bin: Fmax [\d.]+ MHz \(timing met at 12 MHz\), .*ICESTORM_LC \d+/5,280", out)
    report = (tmp_path / "icebreaker-engine-check.md").read_text()
    assert report.startswith("# Build report: icebreaker, engine-check") and "| lanes | 4 |" in report
    assert main(["build", "--board", "icebreaker", "--top", "engine-check", "--lanes", "3",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "lanes must be a multiple of 4" in capsys.readouterr().err


def test_run_device_errors_are_one_line(capsys, tmp_path):
    """A --device that passes the checks (tests/test_cli_bad_input.py has those that do not) but cannot be
    reached answers with one error line naming it and what to check: no traceback, no pyserial to install."""
    not_a_port = tmp_path / "ttyFILE"
    not_a_port.write_text("")
    cases = [(["--device", str(not_a_port)], f"cannot open the serial port {not_a_port} ("),
             (["--device", str(not_a_port)], "your permissions (e.g. the dialout group) and that the board is plugged in"),
             (["--device", "tcp:127.0.0.1:1"], "cannot connect to 127.0.0.1:1")]
    for extra, message in cases:
        assert main(["run", "--model", "random:tiny:1", "--format", "2bit", "--max-tokens", "1", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, err


def test_the_board_path_is_in_the_base_install():
    """`make demo` installs the base dependencies alone: a board's serial link must need nothing more."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    assert any(dependency.startswith("pyserial") for dependency in project["dependencies"])
