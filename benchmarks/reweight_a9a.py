"""`coreselect reweight` on a9a with flipped labels: do the weights and the flags find the flips, and do the
weights help scikit-learn's logistic regression? (docs/cw-erm.md, "Tabular data".)

Per seed: 30% of the training labels flipped at random, 300 random rows verified (their true labels
restored and passed as `trusted`), then `coreselect.reweight.reweight(features, labels, trusted=…,
selector="uniform")` at each coreset fraction with its defaults otherwise. Recorded: the flipped/clean
mean-weight ratio over the untrusted rows, the flagged rows (`CWERMResult.flagged()`) and the share of
them that are flipped (precision) and of the flips they catch (recall), and the test accuracy of
`LogisticRegression(max_iter=1000)` trained with the noisy labels unweighted, with them and the weights,
and with the clean labels. One thread.

Run from the repository root:
    python benchmarks/reweight_a9a.py [--seeds 5] [--fractions 0.01,0.05] [--name reweight-a9a.md]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CORESELECT_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from machine import describe, publish
from sklearn.linear_model import LogisticRegression

from coreselect.data import load_dataset
from coreselect.reweight.pipeline import reweight

FLIP = 0.3
TRUSTED = 300


def noisy_labels(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observed labels, flipped mask, trusted rows): FLIP of the labels flipped, TRUSTED rows verified."""
    rng = np.random.default_rng(seed)
    flipped = rng.random(y.size) < FLIP
    trusted = np.sort(rng.choice(y.size, TRUSTED, replace=False))
    flipped[trusted] = False
    return np.where(flipped, 1 - y, y), flipped, trusted


def accuracy(x_train, y_train, x_test, y_test, weights=None) -> float:
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train, sample_weight=weights)
    return float(model.score(x_test, y_test))


def fmt(values: list[float], digits: int) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fractions", default="0.01,0.05")
    parser.add_argument("--name", default="reweight-a9a.md", help="results file under benchmarks/results")
    args = parser.parse_args()
    fractions = [float(f) for f in args.fractions.split(",")]
    start, load_start = datetime.datetime.now(datetime.timezone.utc), os.getloadavg()[0]
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            check=False, cwd=Path(__file__).parent).stdout.strip()
    data = load_dataset("a9a")
    dense = data.x_train.toarray() if hasattr(data.x_train, "toarray") else np.asarray(data.x_train)
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for seed in range(args.seeds):
        y, flipped, trusted = noisy_labels(data.y_train, seed)
        untrusted = np.ones(y.size, bool)
        untrusted[trusted] = False
        rows["noisy labels, no weights"]["acc"].append(accuracy(data.x_train, y, data.x_test, data.y_test))
        rows["clean labels"]["acc"].append(accuracy(data.x_train, data.y_train, data.x_test, data.y_test))
        for fraction in fractions:
            t0 = time.perf_counter()
            result = reweight(dense, y, trusted=trusted, fraction=fraction, selector="uniform", seed=seed)
            seconds = time.perf_counter() - t0
            w, flagged = result.weights, result.flagged()
            cell = rows[f"noisy labels, CW-ERM weights, coreset {fraction:g}"]
            cell["acc"].append(accuracy(data.x_train, y, data.x_test, data.y_test, weights=w))
            cell["ratio"].append(float(w[flipped].mean() / w[untrusted & ~flipped].mean()))
            cell["flagged"].append(float(flagged.size))
            cell["precision"].append(float(flipped[flagged].mean()) if flagged.size else float("nan"))
            cell["recall"].append(float(np.isin(np.flatnonzero(flipped), flagged).mean()))
            cell["seconds"].append(seconds)
            print(f"seed {seed} fraction {fraction:g}: ratio {cell['ratio'][-1]:.3f}, {flagged.size} flagged, "
                  f"precision {cell['precision'][-1]:.3f}, accuracy {cell['acc'][-1]:.4f} ({seconds:.1f} s)",
                  flush=True)
    end = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        "# `coreselect reweight` on a9a with 30% flipped labels",
        "",
        (f"Command: `python benchmarks/reweight_a9a.py --seeds {args.seeds} --fractions {args.fractions}`; "
         f"commit {commit}.  "),
        (f"Machine: {describe()}; one thread. Date: {start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC. "
         f"1-min load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end."),
        "",
        (f"a9a: {data.y_train.size:,} training rows (123 binary features), {data.y_test.size:,} test rows. Per seed "
         f"{FLIP:.0%} of the training labels are flipped at random and {TRUSTED} random rows are verified (true "
         "labels, passed as `trusted`); `reweight(features, labels, trusted=…, selector=\"uniform\")` with its "
         "other defaults (Meta-Weight-Net on an MLP over the standardised features, 20 epochs, batch-sum "
         "normalisation, same-class broadcast with k = 1). Weight ratio: mean weight of the flipped rows over "
         "that of the clean untrusted rows (below 1: flips down-weighted). Flagged: `CWERMResult.flagged()`; "
         "precision: the share of flagged rows that are flipped (30% for a random pick); recall: the share "
         "of the flips flagged. Accuracy: `LogisticRegression(max_iter=1000)` on the test rows. Time: the "
         f"reweighting alone. Mean ± std over {args.seeds} seeds."),
        "",
        "| training labels | test accuracy | flipped/clean weight | flagged rows | precision | recall | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, cell in rows.items():
        cols = [fmt(cell["acc"], 4)] + [fmt(cell[k], d) if k in cell else "–" for k, d in
                                        (("ratio", 3), ("flagged", 0), ("precision", 3), ("recall", 3), ("seconds", 1))]
        lines.append(f"| {label} | {' | '.join(cols)} |")
    publish(args.name, lines + [""])


if __name__ == "__main__":
    main()
