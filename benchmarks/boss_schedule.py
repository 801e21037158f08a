"""A small sweep of BOSS's (peak, α, cutoff β) by subset fraction, behind its default schedule.

    python benchmarks/boss_schedule.py [--train 20000] [--seeds 2]

Fashion-MNIST, a stratified sample of `--train` training images (for time: a 2-core shared machine),
the full 10,000-image test set. Proxy: a 784-256-10 MLP trained 10 epochs (SGD, cosine schedule)
while recording EL2N (first 10 epochs), AUM and the penultimate features (last epoch). For every
fraction and configuration, BOSS selects from those features and a fresh MLP of the same shape is
trained on the subset for a fixed number of optimisation steps (~1,500 batches of 64), then scored on
the test set (final epoch). Uniform sampling is trained the same way. Mean ± std over `--seeds`
subset trainings (and BOSS graph seeds). Writes benchmarks/results/boss-schedule.md.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from itertools import product
from pathlib import Path

import numpy as np
from machine import describe

import coreselect
from coreselect.data import load_dataset
from coreselect.signals import DynamicsRecorder

OUT = Path(__file__).parent / "results" / "boss-schedule.md"
FRACTIONS = (0.01, 0.05, 0.1, 0.3)
CONFIGS = [(0.5, 0.0)] + list(product((0.5, 0.8), (1.0, 3.0)))  # (peak, alpha); peak is moot at α = 0
CUTOFFS = (0.0, 0.1)
STEPS, BATCH = 1500, 64


def mlp(seed):
    from coreselect.train import build_model

    return build_model("mlp", (784,), 10, seed=seed, hidden=(256,))


def train_eval(x, y, xt, yt, seed, epochs):
    from coreselect.train import TrainConfig, accuracy, fit

    model = mlp(seed)
    fit(model, x, y, TrainConfig(epochs=epochs, batch_size=BATCH, lr=0.05, seed=seed, device="cpu"), progress=False)
    return accuracy(model, xt, yt)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=20000)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # small models on a shared 2-core machine: threads cost more than they give
    from coreselect.train import TrainConfig, fit

    load0, t0 = os.getloadavg()[0], time.time()
    ds = load_dataset("fashion-mnist")
    r = np.random.default_rng(0)
    keep = np.sort(np.concatenate([r.choice(np.flatnonzero(ds.y_train == c), args.train // 10, replace=False)
                                   for c in range(10)]))
    x = ds.x_train[keep].reshape(len(keep), -1).astype(np.float32)
    y = ds.y_train[keep]
    xt = ds.x_test.reshape(len(ds.x_test), -1).astype(np.float32)
    yt = ds.y_test
    rec = DynamicsRecorder(len(x), 10, epochs=10)
    proxy = mlp(0)
    fit(proxy, x, y, TrainConfig(epochs=10, batch_size=128, lr=0.05, seed=0, device="cpu"), recorder=rec,
        progress=False)
    sig = rec.result()
    feats = sig.pop("features")
    signals = {"el2n": sig["el2n"], "aum": sig["aum"]}
    results: dict[tuple, list[float]] = {}
    for f in FRACTIONS:
        m = round(f * len(x))
        epochs = max(1, math.ceil(STEPS * BATCH / m))
        for seed in range(args.seeds):
            u = coreselect.select("uniform", features=feats, fraction=f, seed=seed)
            results.setdefault((f, "uniform"), []).append(train_eval(x[u.indices], y[u.indices], xt, yt, seed, epochs))
            for (peak, alpha), beta in product(CONFIGS, CUTOFFS):
                s = coreselect.select("boss", features=feats, labels=y, signals=signals, fraction=f, peak=peak,
                                      alpha=alpha, cutoff=beta, seed=seed)
                acc = train_eval(x[s.indices], y[s.indices], xt, yt, seed, epochs)
                results.setdefault((f, (peak, alpha, beta)), []).append(acc)
                print(f, peak, alpha, beta, seed, round(acc, 4), flush=True)
    lines = ["| fraction | uniform | " + " | ".join(
        f"peak {p}, α {a}, β {b}" if a > 0 else f"α 0, β {b}" for (p, a), b in product(CONFIGS, CUTOFFS)) + " |",
        "|---" * (2 + len(CONFIGS) * len(CUTOFFS)) + "|"]
    best = {}
    for f in FRACTIONS:
        cells = [results[(f, "uniform")]] + [results[(f, (p, a, b))] for (p, a), b in product(CONFIGS, CUTOFFS)]
        means = [np.mean(c) for c in cells]
        top = int(np.argmax(means[1:])) + 1
        best[f] = list(product(CONFIGS, CUTOFFS))[top - 1]
        lines.append(f"| {f:.0%} | " + " | ".join(
            ("**" if i == top else "") + f"{np.mean(c):.4f} ± {np.std(c):.4f}" + ("**" if i == top else "")
            for i, c in enumerate(cells)) + " |")
    text = "\n".join([
        "# BOSS default schedule: sweep on Fashion-MNIST", "",
        f"Command: `python benchmarks/boss_schedule.py --train {args.train} --seeds {args.seeds}`  ",
        f"Machine: {describe()} (shared; 1-min load average {load0:.2f} at "
        f"start, {os.getloadavg()[0]:.2f} at end; {time.time() - t0:.0f} s)  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
        f"Data: Fashion-MNIST, {len(x)} training images (stratified sample), 10,000 test images. Proxy: MLP",
        "784-256-10, 10 epochs, recording EL2N (10 epochs), AUM, last-epoch penultimate features (256-d).",
        f"Subset models: the same MLP, ≈{STEPS} SGD steps of {BATCH} (cosine schedule), final-epoch test",
        f"accuracy, mean ± std over {args.seeds} seeds. Bold: best BOSS configuration per fraction.", "",
        *lines, "",
        "Best configuration per fraction (peak, α), β: " + "; ".join(f"{f:.0%}: {best[f]}" for f in FRACTIONS), ""])
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
