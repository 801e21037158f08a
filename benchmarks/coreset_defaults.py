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
import functools
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
#: Stratified uniform sampling with the class masses kept (α = 1): what the sensitivities add is measured
#: against these.
STRATIFIED = [{"uniform_share": 1.0, "deterministic": 0.0, "weighting": "keep", "allocation": a} for a in ALLOCATIONS]


def candidates() -> list[dict[str, Any]]:
    """Every setting swept (``keep`` and ``inv`` coincide at d = 0, so the vanilla coreset is the first),
    then :data:`STRATIFIED`."""
    out = [dict(VANILLA)]
    for a, d, w, alloc in itertools.product(UNIFORM_SHARES, DETERMINISTIC, WEIGHTINGS, ALLOCATIONS):
        c = {"uniform_share": a, "deterministic": d, "weighting": w, "allocation": alloc}
        if c != {**VANILLA, "weighting": "keep"}:
            out.append(c)
    return out + STRATIFIED


def label(c: dict[str, Any]) -> str:
    return f"α={c['uniform_share']:g} d={c['deterministic']:g} {c['weighting']} {c['allocation']}"


@functools.cache
def dataset(name: str, seed: int, root: str | None) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """`(x_train, y_train, x_test, y_test)` as described in the module docstring (only breast cancer's
    split depends on the seed: callers pass seed 0 for the others, so they are built once)."""
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
        split = {"test_size": 10_000, "stratify": y, "random_state": 0}
    else:
        from sklearn.datasets import load_breast_cancer

        x, y = load_breast_cancer(return_X_y=True)
        split = {"test_size": 0.3, "stratify": y, "random_state": seed}
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
                data = data or dataset(name, seed if name == "breast-cancer" else 0, root)
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


def verdict(table: dict[tuple, dict[str, np.ndarray]], cells: list[tuple], arm: str) -> tuple[int, int, float, float]:
    """`(cells where both metrics ≥ uniform − 1 std, metric-cells above uniform's mean, mean gain in F1,
    mean gain in balanced accuracy)`, gains over uniform's mean averaged over the cells."""
    held = above = 0
    gains = []
    for c in cells:
        u, v = table[c]["uniform"], table[c].get(arm)
        if v is None or len(v) != len(u):
            return 0, 0, float("nan"), float("nan")
        gain = v.mean(axis=0) - u.mean(axis=0)
        held += int(np.all(gain >= -u.std(axis=0)))
        above += int(np.sum(gain > 0))
        gains.append(gain)
    f1, ba = np.mean(gains, axis=0)
    return held, above, float(f1), float(ba)


def ranked(table: dict[tuple, dict[str, np.ndarray]], cells: list[tuple]) -> list[str]:
    """Settings by cells held, then mean gain over uniform (F1 and balanced accuracy averaged)."""
    def key(arm: str) -> tuple[int, float]:
        held, _, f1, ba = verdict(table, cells, arm)
        return held, (f1 + ba) / 2

    return sorted((label(c) for c in candidates()), key=key, reverse=True)


def invocations(runs: Path) -> list[str]:
    """One line per invocation that added records (start, wall time, load at start and end)."""
    return [f"- {r['start']}: {r['seconds']:.0f} s, {r['added']} records, 1-min load average "
            f"{r['load_start']:.2f} → {r['load_end']:.2f}" for r in records(runs / "invocations.jsonl")]


def report(runs: Path, header: list[str]) -> list[str]:
    table, cells = summarise(runs / "records.jsonl")
    order = ranked(table, cells)
    stratified = {label(c) for c in STRATIFIED}
    default = next(a for a in order if a not in stratified)
    lines = [*header, "", "Invocations on the same records (an interrupted or extended sweep resumes):", "",
             *invocations(runs), "", "## Every setting, ranked", "",
             (f"Cells held: cells (dataset × classifier × size, {len(cells)} in all) where both F1 and balanced "
              "accuracy are ≥ uniform's mean − 1 std over seeds (the target); above: metric-cells (2 per cell) "
              "where the mean beats uniform's; gains: the setting's mean minus uniform's, averaged over the "
              "cells. Ranked by cells held, then by the mean of the two gains. The default is the first setting "
              "that uses the sensitivities (α < 1)."), "",
             "| setting | cells held | metric-cells above uniform | F1 gain | bal. acc. gain |", "|---|---:|---:|---:|---:|"]
    for a in order:
        held, above, f1, ba = verdict(table, cells, a)
        note = " (vanilla)" if a == label(VANILLA) else " (default)" if a == default else ""
        lines.append(f"| {a}{note} | {held}/{len(cells)} | {above}/{2 * len(cells)} | {f1:+.4f} | {ba:+.4f} |")
    shown = {"uniform": "uniform", label(VANILLA): "vanilla", default: "default", label(STRATIFIED[-1]): "α = 1"}
    lines += ["", (f"## Per cell: uniform, the vanilla coreset, the default ({default}) and stratified "
                   f"uniform ({label(STRATIFIED[-1])})"), "", "Mean ± std over seeds.", "",
              "| dataset | classifier | size | " + " | ".join(f"{s} F1" for s in shown.values()) + " | "
              + " | ".join(f"{s} bal. acc." for s in shown.values()) + " |",
              "|---|---|---:|" + "---|" * (2 * len(shown))]
    for c in cells:
        row = table[c]
        cols = [f"{row[a][:, j].mean():.3f} ± {row[a][:, j].std():.3f}" if a in row else "–"
                for j in (0, 1) for a in shown]
        lines.append(f"| {c[0]} | {c[1]} | {c[2]:g} | " + " | ".join(cols) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default="coreset-defaults.md")
    args = ap.parse_args()
    before = sum(1 for _ in records(args.runs / "records.jsonl"))
    load0, start = os.getloadavg()[0], time.time()
    run(args.runs, args.seeds, args.data_root)
    added = sum(1 for _ in records(args.runs / "records.jsonl")) - before
    if added:
        with (args.runs / "invocations.jsonl").open("a") as fh:
            fh.write(json.dumps({"start": f"{datetime.datetime.fromtimestamp(start):%Y-%m-%d %H:%M}",
                                 "seconds": time.time() - start, "added": added, "load_start": load0,
                                 "load_end": os.getloadavg()[0]}) + "\n")
    header = ["# The `coreset` method's defaults against uniform sampling", "",
              f"Command: `python benchmarks/coreset_defaults.py --runs RUNS --seeds {args.seeds}`  ",
              f"Machine: {describe()}; one thread everywhere.", "",
              *(line.strip() for line in __doc__.split("\n\n")[1:4])]
    publish(args.out, report(args.runs, header))


if __name__ == "__main__":
    main()
