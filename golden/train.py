"""Quantisation-aware training of an HGRN-Bit model on a byte-level corpus.

As the paper and BitNet b1.58 train: latent full-precision weights, the forward pass ternarises
weights and int8-quantises activations, gradients pass straight through (STE). AdamW with a learning
rate larger than a transformer's, linear warm-up then cosine decay to 10%. Checkpoints are written in
the upstream layout; a JSON log (and a PNG loss curve, where matplotlib is installed) beside them.

    python -m golden.train --corpus data/corpus --out runs/stdlib --preset stdlib-256 --time-budget 480
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import save_checkpoint
from .config import preset
from .model import HGRNBitForCausalLM


class ByteWindows:
    """Random windows of seq_len + 1 bytes of a text file (uint8 memory map)."""

    def __init__(self, path: Path, seq_len: int, seed: int):
        self.data = np.memmap(path, dtype=np.uint8, mode="r")
        if len(self.data) <= seq_len + 1:
            raise ValueError(f"{path}: {len(self.data)} bytes, fewer than a window of {seq_len + 1}")
        self.seq_len = seq_len
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> torch.Tensor:
        starts = self.rng.integers(0, len(self.data) - self.seq_len - 1, size)
        return torch.from_numpy(np.stack([self.data[s:s + self.seq_len + 1] for s in starts]).astype(np.int64))

    def sequential(self, size: int, max_windows: int):
        """Consecutive non-overlapping windows from the start (deterministic evaluation)."""
        count = min(max_windows, (len(self.data) - 1) // self.seq_len)
        for first in range(0, count, size):
            idx = range(first, min(first + size, count))
            yield torch.from_numpy(np.stack([self.data[i * self.seq_len:i * self.seq_len + self.seq_len + 1]
                                             for i in idx]).astype(np.int64))


def learning_rate(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def evaluate(model, windows: ByteWindows, batch: int, max_windows: int, device) -> float:
    """Mean next-byte cross entropy (nats) over the first max_windows windows."""
    total, count = 0.0, 0
    for chunk in windows.sequential(batch, max_windows):
        chunk = chunk.to(device)
        logits = model(chunk[:, :-1])
        total += torch.nn.functional.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum").item()
        count += chunk[:, 1:].numel()
    return total / count


def plot_loss(log: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    steps, losses = zip(*log["train"])
    window = 10
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid") if len(losses) > window else losses
    ax.plot(steps[len(steps) - len(smooth):], smooth, label=f"train (mean of {window} logged points)")
    if log["eval"]:
        ax.plot(*zip(*log["eval"]), "o-", label="held-out test")
    ax.set_xlabel("step")
    ax.set_ylabel("cross entropy (nats/byte)")
    ax.set_title(log["title"])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def train(args) -> dict:
    torch.manual_seed(args.seed)
    device = torch.device(args.device if args.device else ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.backends.cuda.matmul.allow_tf32 = True
    config = preset(args.preset)
    model = HGRNBitForCausalLM(config).to(device)
    model.set_training_mode(True)
    forward = torch.compile(model) if args.compile else model
    corpus = Path(args.corpus)
    train_windows = ByteWindows(corpus / "train.txt", args.seq_len, args.seed)
    test_windows = ByteWindows(corpus / "test.txt", args.seq_len, args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = {"title": f"{args.preset}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
                    f"batch {args.batch}x{args.seq_len} bytes", "args": vars(args), "train": [], "eval": []}
    total = args.steps
    start = time.perf_counter()
    bar = tqdm(total=total, desc="train", mininterval=5)
    step = 0
    while step < total:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total, args.lr, args.warmup)
        chunk = train_windows.batch(args.batch).to(device, non_blocking=True)
        try:
            logits = forward(chunk[:, :-1])
        except Exception as error:             # a compiler failure must not cost the run
            if forward is model:
                raise
            print(f"\ntorch.compile failed ({type(error).__name__}: {error}); training eagerly", flush=True)
            forward = model
            logits = forward(chunk[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 10 == 0:                      # reading the loss waits for the GPU: not every step
            log["train"].append((step, loss.item()))
            bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.update(1)
        if step == args.calibrate // 2:
            calibration_start = time.perf_counter()    # after warm-up (and compilation)
        if step == args.calibrate and args.time_budget:
            # Fix the schedule's length from the measured step time so the run fits its budget.
            per_step = (time.perf_counter() - calibration_start) / (step - args.calibrate // 2)
            total = max(step + 1, int((args.time_budget - (time.perf_counter() - start)) / per_step) + step)
            bar.total = total
            log["steps_from_budget"] = total
            print(f"\n{per_step * 1000:.1f} ms/step measured: {total} steps fit {args.time_budget} s", flush=True)
        if step % args.eval_every == 0 or step == total:
            model.eval()
            model.set_training_mode(False)
            test_loss = evaluate(model, test_windows, args.batch, args.eval_windows, device)
            model.set_training_mode(True)
            model.train()
            log["eval"].append((step, test_loss))
            print(f"\nstep {step}: held-out loss {test_loss:.4f} nats/byte", flush=True)
            save_checkpoint(model.cpu(), out / "checkpoint")
            model.to(device)
    bar.close()
    log["seconds"] = time.perf_counter() - start
    log["steps"] = step
    (out / "train_log.json").write_text(json.dumps(log) + "\n")
    plot_loss(log, out / "loss.png")
    return log


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="folder with train.txt and test.txt (golden.corpus)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--preset", default="stdlib-256")
    parser.add_argument("--steps", type=int, default=2000, help="total steps (replaced when --time-budget is set)")
    parser.add_argument("--time-budget", type=float, default=0, help="seconds of training; sets --steps")
    parser.add_argument("--calibrate", type=int, default=40, help="steps timed before fixing the schedule")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--eval-windows", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (GPU)")
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()
