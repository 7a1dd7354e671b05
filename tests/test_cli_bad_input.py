"""Every subcommand, fed what a user might wrongly type: one `error:` line, exit status 2, no traceback, and the
failure found by the arguments' checks (mmfree.checks), before any model load, build or simulation starts."""

import os

import pytest

from mmfree.cli import build_parser, main

# (argv, a fragment of the error), {name} filled from the bad_inputs fixture (tests/conftest.py).
CASES = [
    ([], "the following arguments are required: command"),
    (["nosuch"], "invalid choice: 'nosuch'"),
    # demo, fidelity, perplexity, image: a model with weights
    (["demo", "--model", "/no/such/dir"], "no such checkpoint directory"),
    (["demo", "--model", ""], "no such checkpoint directory"),
    (["demo", "--model", "{text}"], "not a checkpoint directory"),
    (["demo", "--model", "random:huge"], "unknown model preset 'huge'"),
    (["demo", "--model", "random:tiny:x"], "bad model spec"),
    (["demo", "--max-tokens", "-1"], "--max-tokens -1: out of range"),
    (["demo", "--max-tokens", "ten"], "invalid int value: 'ten'"),
    (["fidelity", "--text", "/no/such/text"], "--text /no/such/text: no such file"),
    (["fidelity", "--text", "{tmp}"], "not a file"),
    (["fidelity", "--windows", "0"], "--windows 0: out of range"),
    (["fidelity", "--window", "1"], "--window 1: out of range"),
    (["fidelity", "--model", "{no_config}"], "config.json: missing"),
    (["perplexity", "--text", ""], "--text: an empty path"),
    (["perplexity", "--window", "1.5"], "invalid int value: '1.5'"),
    (["perplexity", "--model", "{bad_config}"], "invalid JSON"),
    (["image", "--out", "{tmp}"], "is a directory; give a file name"),
    (["image", "--out", "{text}/m.mmfi"], "is a file, not a directory"),
    (["image", "--out", "{tmp}/m.mmfi", "--format", "3bit"], "invalid choice: '3bit'"),
    (["image", "--out", "a\0b"], "a path cannot hold a NUL byte"),
    (["image"], "the following arguments are required: --out"),
    (["image", "--model", "layout:tiny", "--out", "{tmp}/m.mmfi"], "needs weights"),
    # rtl
    (["rtl"], "the following arguments are required: core"),
    (["rtl", "engine", "--lanes", "3", "--out", "{tmp}/e.v"], "lanes must be a multiple of 4"),
    (["rtl", "engine", "--lanes", "0", "--out", "{tmp}/e.v"], "--lanes 0: out of range"),
    (["rtl", "engine", "--max-cols", "0", "--out", "{tmp}/e.v"], "--max-cols 0: out of range"),
    (["rtl", "engine", "--name", "", "--out", "{tmp}/e.v"], "--name: empty"),
    (["rtl", "engine", "--out", ""], "--out: an empty path"),
    (["rtl", "accelerator", "--model", "layout:nope", "--out", "{tmp}/a.v"], "unknown preset in 'layout:nope'"),
    (["rtl", "accelerator", "--mem-bytes", "0", "--out", "{tmp}/a.v"], "--mem-bytes 0: out of range"),
    (["rtl", "accelerator", "--model", "{truncated}", "--out", "{tmp}/a.v"], "truncated"),
    # image-info, asm, disasm
    (["image-info", "/no/such/file.mmfi"], "no such file"),
    (["image-info", "{tmp}"], "not a file"),
    (["image-info", "{truncated}"], "truncated"),
    (["image-info", "{other_version}"], "format version 2 at offset 4"),
    (["image-info", "{text}"], "bad magic"),
    (["image-info", "{empty}"], "truncated: 0 bytes"),
    (["asm", "/no/such.s", "-o", "{tmp}/p.bin"], "source /no/such.s: no such file"),
    (["asm", "{source}"], "the following arguments are required: -o/--out"),
    (["asm", "{source}", "-o", "{tmp}"], "is a directory"),
    (["disasm", "{tmp}"], "binary {tmp}: not a file"),
    (["disasm", "{binary}", "-o", "{text}/p.s"], "is a file, not a directory"),
    # compile, iss
    (["compile", "--model", "{other_version}", "-o", "{tmp}/p.bin"], "format version"),
    (["compile", "--model", "layout:370M", "-o", "{tmp}/p.bin", "--bytes-per-cycle", "0"], "--bytes-per-cycle 0.0"),
    (["compile", "--model", "layout:370M", "-o", "{tmp}/p.bin", "--bytes-per-cycle", "inf"], "not a finite number"),
    (["compile", "--model", "layout:370M", "-o", "{tmp}/p.bin", "--asm", "{tmp}"], "--asm {tmp}: is a directory"),
    (["compile", "--model", "layout:370M", "-o", "{tmp}/p.bin", "--vector-lanes", "-2"], "--vector-lanes -2"),
    (["iss", "--prompt", ""], "--prompt: empty"),
    (["iss", "--model", "layout:tiny"], "needs weights"),
    (["iss", "--model", "{trailing}"], "trailing bytes"),
    (["iss", "--memory-latency", "-1"], "--memory-latency -1: out of range"),
    # build, report
    (["build", "--board", "nosuch"], "invalid choice: 'nosuch'"),
    (["build", "--board", "butterstick", "--top", "engine-check"], "names no LED"),
    (["build", "--board", "icebreaker", "--lanes", "3"], "lanes must be a multiple of 4"),
    (["build", "--out", "{text}"], "--out {text}: exists and is not a directory"),
    (["build", "--report-dir", "{text}/reports"], "is a file, not a directory"),
    (["build", "--model", "layout:9B"], "unknown preset in 'layout:9B'"),
    (["build", "--seed", "-1"], "--seed -1: out of range"),
    (["build", "--top", "everything"], "invalid choice: 'everything'"),
    (["report", "--target", "nowhere"], "invalid choice: 'nowhere'"),
    (["report", "--model", "9B"], "neither a preset"),
    (["report", "--batch", "17"], "--batch 17: out of range (allowed 1..16)"),
    (["report", "--bandwidth-gb-s", "-1"], "--bandwidth-gb-s -1.0: out of range"),
    (["report", "--clock-mhz", "nan"], "not a finite number"),
    # run, serve, sim-device
    (["run", "--device", "{tmp}/ttyNONE"], "cannot open the serial port {tmp}/ttyNONE (no such file): check the path"),
    (["run", "--device", "tcp:localhost"], "expected tcp:HOST:PORT"),
    (["run", "--device", "udp://:x"], "expected udp://HOST[:PORT]"),
    (["run", "--device", ""], "--device: empty"),
    (["run", "--device", "tcp:127.0.0.1:5", "--waves", "{tmp}/w.fst"], "--waves needs --device sim"),
    (["run", "--waves", "{tmp}/w.txt"], "a trace is written as .fst or .vcd"),
    (["run", "--batch", "0"], "--batch 0: out of range"),
    (["run", "--timeout", "0"], "--timeout 0.0: out of range"),
    (["run", "--baud", "-9600"], "--baud -9600: out of range"),
    (["run", "--lanes", "many"], "invalid int value: 'many'"),
    (["run", "--model", "layout:tiny"], "needs weights"),
    (["run", "--model", "{damaged_header}"], "header CRC mismatch"),
    (["serve", "--queue", "0"], "--queue 0: out of range"),
    (["serve", "--port", "70000"], "--port 70000: out of range"),
    (["serve", "--host", ""], "--host: empty"),
    (["serve", "--device", "tcp:h:0"], "expected tcp:HOST:PORT"),
    (["sim-device", "--log", "{tmp}"], "--log {tmp}: is a directory"),
    (["sim-device", "--waves", "{tmp}/w.ghw"], "a trace is written as .fst or .vcd"),
    (["sim-device", "--port", "-1"], "--port -1: out of range"),
    (["sim-device", "--model", "layout:tiny"], "needs weights"),
    (["sim-device", "--vector-width", "0"], "--vector-width 0: out of range"),
    (["sim-device", "--timeout-cycles", "0"], "--timeout-cycles 0: out of range"),
    (["sim-device", "--memory", "hbm"], "invalid choice: 'hbm'"),
]
CASE_LIMIT_S = 20               # reading the shipped image and building the parser, on a loaded shared machine


def assert_one_error(code, err: str, message: str) -> None:
    """Exit status 2; stderr ends with one `error:` line (argparse's usage may precede it); no traceback."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines and "error: " in lines[-1], err
    assert not [line for line in lines[:-1] if "error" in line and not line.startswith("usage")], err
    assert message in err, err


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(argv) or "(none)" for argv, _ in CASES])
def test_bad_input_is_refused_by_the_checks_with_one_line(argv, message, bad_inputs, capsys, time_limit):
    argv = [arg.format(**bad_inputs) for arg in argv]
    with time_limit(CASE_LIMIT_S):
        # The checks alone refuse it: so the real command below stops there too, before any work.
        assert_one_error(main(argv, validate_only=True), capsys.readouterr().err, message.format(**bad_inputs))
        assert_one_error(main(argv), capsys.readouterr().err, message.format(**bad_inputs))
    assert sorted(os.listdir(bad_inputs["tmp"])) == sorted(["text", "empty", "truncated.mmfi", "other_version.mmfi",
        "damaged_header.mmfi", "trailing.mmfi", "source.s", "binary.bin", "no_config", "bad_config"])


def test_every_subcommand_has_cases():
    commands = {argv[0] for argv, _ in CASES if argv} - {"nosuch"}
    subparsers = next(action for action in build_parser()._actions if action.dest == "command").choices
    assert commands == set(subparsers)
    assert len(CASES) >= 40


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: permissions refuse nothing")
def test_an_unwritable_directory_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["image", "--out", str(locked / "sub" / "m.mmfi")], validate_only=True) == 2
    assert_one_error(2, capsys.readouterr().err, f"cannot create files in {locked} (check its permissions)")


def test_missing_parent_directories_are_created_and_said(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "e.v"
    assert main(["rtl", "engine", "--lanes", "16", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err == f"[mmfree] created directory {out.parent} for --out\n"
    assert "module ternary_matvec" in out.read_text()


def test_validate_only_writes_nothing(tmp_path, capsys):
    out = tmp_path / "new" / "e.v"
    assert main(["rtl", "engine", "--lanes", "16", "--out", str(out)], validate_only=True) == 0
    assert capsys.readouterr() == ("", "") and not (tmp_path / "new").exists()
