"""The corpus builder and the QAT trainer, end to end on a tiny scale."""

import json

import torch

from golden.checkpoint import load_checkpoint
from golden.corpus import build_corpus, is_test_file
from golden.train import learning_rate, main as train_main


def test_split_is_stable_and_disjoint(tmp_path):
    manifest = build_corpus(tmp_path)
    assert manifest["train"]["files"] > 100 and manifest["test"]["files"] > 5
    train = (tmp_path / "train.txt").read_text()
    test = (tmp_path / "test.txt").read_text()
    test_names = [line.split(" ")[2] for line in test.splitlines() if line.startswith("# ==== ")]
    assert test_names and all(is_test_file(name) for name in test_names)
    assert not any(f"# ==== {name} ====" in train for name in test_names)


def test_learning_rate_schedule():
    assert learning_rate(0, 1000, 1.0, 100) == 0.01
    assert learning_rate(99, 1000, 1.0, 100) == 1.0
    assert abs(learning_rate(1000, 1000, 1.0, 100) - 0.1) < 1e-12
    values = [learning_rate(s, 1000, 1.0, 100) for s in range(100, 1000)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_training_lowers_the_loss_and_writes_an_upstream_checkpoint(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = "def add(a, b):\n    return a + b\n\n" * 200
    (corpus / "train.txt").write_text(text)
    (corpus / "test.txt").write_text(text[:2000])
    train_main(["--corpus", str(corpus), "--out", str(tmp_path / "run"), "--preset", "tiny", "--steps", "60",
                "--batch", "8", "--seq-len", "64", "--lr", "3e-3", "--warmup", "10", "--eval-every", "30",
                "--eval-windows", "8", "--device", "cpu"])
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    first, last = log["eval"][0][1], log["eval"][-1][1]
    assert log["steps"] == 60 and last < first < 5.6
    model = load_checkpoint(tmp_path / "run" / "checkpoint")
    assert torch.isfinite(model(torch.tensor([[1, 2, 3]]))).all()
