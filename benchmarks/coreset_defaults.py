"""The `coreset` method's defaults, chosen by a sweep against uniform sampling (arXiv 2507.16729 method).

For each dataset, coreset size, seed and classifier, every candidate setting of the method's own
parameters (``uniform_share`` α, ``deterministic`` d, ``weighting``) and of the class ``allocation``
draws a coreset with ``coreselect.select("coreset", …)``; a classifier is fitted on it through
``sample_weight`` (weights normalised to mean 1) and scored on held-out data by F1 of the rarer class
and balanced accuracy. ``uniform`` (coreselect's default random subset) is the baseline, paired by seed.

Datasets (no download beyond the LIBSVM a9a files the project reads already):
  * a9a — 32,561 training / 16,281 test rows, 123 sparse binary features, 24% positives; sizes
    0.5 / 1 / 2 / 5% of the training rows; the fixed test split.
  * imbalanced — scikit-learn ``make_classification`` (50,000 rows, 20 features of which 8 informative,
    10% positives, 1% of labels flipped, seed 0), standardised, 40,000 train / 10,000 test;
    sizes 0.5 / 1 / 2 / 5%.
  * breast-cancer — scikit-learn's bundled set (569 rows, 30 features, 37% malignant), standardised;
    a new stratified 70/30 split per seed; sizes 5 / 10 / 20% of the 398 training rows (below 5%
    a coreset holds fewer than 20 rows: 2 at 0.5%).

Classifiers: ``logreg`` and ``xgboost`` (coreselect.tuning.estimators). Everything on one thread.

Run from the repository root:
    python benchmarks/coreset_defaults.py --runs DIR [--seeds 10] [--out benchmarks/results/coreset-defaults.md]
Records go to DIR/records.jsonl; an interrupted run resumes.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one thread everywhere
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe, publish

import coreselect
from coreselect.tuning.estimators import fit_weighted, positive_label, resolve, scores

ESTIMATORS = ("logreg", "xgboost")
SIZES = {"a9a": (0.005, 0.01, 0.02, 0.05), "imbalanced": (0.005, 0.01, 0.02, 0.05),
         "breast-cancer": (0.05, 0.1, 0.2)}
UNIFORM_SHARES = (0.0, 0.25, 0.5, 0.75)
DETERMINISTIC = (0.0, 0.25, 0.5)
WEIGHTINGS = ("keep", "prop")
ALLOCATIONS = ("proportional", "balanced")
VANILLA = {"uniform_share": 0.0, "deterministic": 0.0, "weighting": "inv", "allocation": "proportional"}


def candidates() -> list[dict[str, Any]]:
    """Every setting swept (``keep`` and ``inv`` coincide at d = 0, so the vanilla coreset is the first)."""
    out = [dict(VANILLA)]
    for a, d, w, alloc in itertools.product(UNIFORM_SHARES, DETERMINISTIC, WEIGHTINGS, ALLOCATIONS):
        c = {"uniform_share": a, "deterministic": d, "weighting": w, "allocation": alloc}
        if c != {**VANILLA, "weighting": "keep"}:
            out.append(c)
    return out


def label(c: dict[str, Any]) -> str:
    return f"α={c['uniform_share']:g} d={c['deterministic']:g} {c['weighting']} {c['allocation']}"


def dataset(name: str, seed: int, root: str | None) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """`(x_train, y_train, x_test, y_test)` as described in the module docstring."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if name == "a9a":
        from coreselect.data import load_dataset

        data = load_dataset("a9a", root=root)
        return data.x_train, data.y_train, data.x_test, data.y_test
    if name == "imbalanced":
        from sklearn.datasets import make_classification

        x, y = make_classification(n_samples=50_000, n_features=20, n_informative=8, weights=[0.9, 0.1],
                                   flip_y=0.01, random_state=0)
        split = dict(test_size=10_000, stratify=y, random_state=0)
    else:
        from sklearn.datasets import load_breast_cancer

        x, y = load_breast_cancer(return_X_y=True)
        split = dict(test_size=0.3, stratify=y, random_state=seed)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, **split)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), y_tr, scaler.transform(x_te), y_te


def records(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                yield json.loads(line)


def key_of(r: dict[str, Any]) -> str:
    return json.dumps([r["dataset"], r["estimator"], r["size"], r["seed"], r["arm"]])


def run(runs: Path, seeds: int, root: str | None) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / "records.jsonl"
    done = {key_of(r) for r in records(path)}
    arms = [("uniform", {})] + [(label(c), c) for c in candidates()]
    with path.open("a") as out:
        for name, seed in itertools.product(SIZES, range(seeds)):
            data = None
            for est_name, f in itertools.product(ESTIMATORS, SIZES[name]):
                todo = [(a, c) for a, c in arms
                        if key_of({"dataset": name, "estimator": est_name, "size": f, "seed": seed, "arm": a}) not in done]
                if not todo:
                    continue
                data = data or dataset(name, seed, root)
                x, y, xt, yt = data
                positive = positive_label(y)
                est = resolve(est_name, seed)
                m = max(2, round(f * y.size))
                for arm, c in todo:
                    t0 = time.perf_counter()
                    if arm == "uniform":
                        sub = coreselect.select("uniform", features=x, size=m, seed=seed)
                    else:
                        params = {k: v for k, v in c.items() if k != "allocation"}
                        sub = coreselect.select("coreset", features=x, labels=y, size=m, seed=seed,
                                                allocation=c["allocation"], **params)
                    model = fit_weighted(est, x[sub.indices], y[sub.indices], sub.weights)
                    rec = {"dataset": name, "estimator": est_name, "size": f, "seed": seed, "arm": arm,
                           "m": int(m), "distinct": int(sub.indices.size),
                           **scores(yt, model.predict(xt), positive), "seconds": time.perf_counter() - t0}
                    out.write(json.dumps(rec) + "\n")
                    out.flush()
            print(f"{datetime.datetime.now():%H:%M:%S} {name} seed {seed} done", flush=True)


def summarise(path: Path) -> tuple[dict[tuple, dict[str, np.ndarray]], list[tuple]]:
    """`{cell: {arm: (seeds, 2) array of (f1, balanced accuracy)}}` and the cells in order."""
    by: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in sorted(records(path), key=lambda r: r["seed"]):
        by[r["dataset"], r["estimator"], r["size"]][r["arm"]].append((r["f1"], r["balanced_accuracy"]))
    cells = [(d, e, f) for d in SIZES for e in ESTIMATORS for f in SIZES[d] if (d, e, f) in by]
    return {c: {a: np.array(v) for a, v in by[c].items()} for c in cells}, cells


def verdict(table: dict[tuple, dict[str, np.ndarray]], cells: list[tuple], arm: str) -> tuple[int, int, int]:
    """`(cells where both metrics ≥ uniform − 1 std, metric-cells above uniform's mean, metric-cells)`."""
    held = above = total = 0
    for c in cells:
        u, v = table[c]["uniform"], table[c].get(arm)
        if v is None or len(v) != len(u):
            continue
        ok = True
        for j in range(2):
            ok &= bool(v[:, j].mean() >= u[:, j].mean() - u[:, j].std())
            above += int(v[:, j].mean() > u[:, j].mean())
            total += 1
        held += int(ok)
    return held, above, total


def report(path: Path, command: str, header: list[str]) -> list[str]:
    table, cells = summarise(path)
    arms = [label(c) for c in candidates()]
    ranked = sorted(arms, key=lambda a: verdict(table, cells, a)[:2], reverse=True)
    lines = [*header, "", "## Every setting, ranked", "",
             "Cells held: cells (dataset × classifier × size) where both F1 and balanced accuracy are ≥ uniform's "
             "mean − 1 std over seeds; above: metric-cells (of 2 per cell) where the mean beats uniform's.", "",
             "| setting | cells held | metric-cells above uniform |", "|---|---:|---:|"]
    for a in ranked:
        held, above, total = verdict(table, cells, a)
        lines.append(f"| {a}{' (vanilla)' if a == label(VANILLA) else ''} | {held}/{len(cells)} | {above}/{total} |")
    shown = [ranked[0], label(VANILLA)]
    lines += ["", f"## Per cell: uniform, the vanilla coreset and the best setting ({ranked[0]})", "",
              "Mean ± std over seeds; F1 of the rarer class / balanced accuracy.", "",
              "| dataset | classifier | size | uniform F1 | vanilla F1 | best F1 | uniform bal. acc. | vanilla bal. acc. | best bal. acc. |",
              "|---|---|---:|---|---|---|---|---|---|"]
    for c in cells:
        row = table[c]
        f1 = [f"{row[a][:, 0].mean():.3f} ± {row[a][:, 0].std():.3f}" for a in ["uniform", *shown]]
        ba = [f"{row[a][:, 1].mean():.3f} ± {row[a][:, 1].std():.3f}" for a in ["uniform", *shown]]
        lines.append(f"| {c[0]} | {c[1]} | {c[2]:g} | " + " | ".join(f1 + ba) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default="coreset-defaults.md")
    args = ap.parse_args()
    load0, start = os.getloadavg()[0], time.time()
    run(args.runs, args.seeds, args.data_root)
    header = ["# The `coreset` method's defaults against uniform sampling", "",
              f"Command: `python benchmarks/coreset_defaults.py --runs RUNS --seeds {args.seeds}`  ",
              f"Date: {datetime.date.today()}  ",
              f"Machine: {describe()}; one thread; 1-min load average {load0:.2f} at start, "
              f"{os.getloadavg()[0]:.2f} at end; wall time of this invocation {time.time() - start:.0f} s.", "",
              *(line.strip() for line in __doc__.split("\n\n")[1:4])]
    publish(args.out, report(args.runs / "records.jsonl", "", header))


if __name__ == "__main__":
    main()
