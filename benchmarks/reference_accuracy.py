"""Full-data test accuracy of a reference model (the bench's yardstick), final epoch, per-epoch trace.

    python benchmarks/reference_accuracy.py --dataset fashion-mnist --model cnn --epochs 5 \
        --out benchmarks/results/reference-accuracy.md
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

import torch
from machine import describe

from coreselect.data import load_dataset
from coreselect.train import TrainConfig, build_model, fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/reference-accuracy.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    data = load_dataset(args.dataset)
    mean, std = data.x_train.mean(), data.x_train.std()
    x_tr, x_te = (data.x_train - mean) / std, (data.x_test - mean) / std
    shape = data.image_shape or (x_tr.shape[1],)
    model = build_model(args.model, shape, data.num_classes, seed=args.seed)
    config = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=128, seed=args.seed, device="cpu")
    result = fit(model, x_tr.reshape(-1, *shape), data.y_train, config,
                 x_eval=x_te.reshape(-1, *shape), y_eval=data.y_test)
    wall = time.perf_counter() - t0
    trace = ", ".join(f"{a:.4f}" for a in result.eval_accuracy)
    text = "\n".join([
        f"# Full-data reference accuracy: {args.dataset}, {args.model}",
        "",
        f"Command: `python benchmarks/reference_accuracy.py --dataset {args.dataset} --model {args.model} "
        f"--epochs {args.epochs} --lr {args.lr} --threads {args.threads}`  ",
        f"Date: {datetime.date.today()}  ",
        f"Machine: {describe()}, CPU only, torch "
        f"{torch.__version__}, {args.threads} torch thread(s); 1-min load average {load0:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end (shared machine).",
        "",
        f"SGD (momentum 0.9, weight decay 5e-4, cosine to 0), batch 128, lr {args.lr}, no augmentation, "
        "pixels standardised with the training mean/std, all training images.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| final-epoch test accuracy | **{result.eval_accuracy[-1]:.4f}** |",
        f"| test accuracy after each epoch | {trace} |",
        f"| wall time (load, train, evaluate) | {wall:.0f} s |",
        "",
    ])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
