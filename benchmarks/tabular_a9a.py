"""Tuned coresets on a9a (original, positives thinned to 2% and 0.5%): full vs uniform vs vanilla vs tuned.

Runs the `tabular` protocol (logistic regression, linear SVM, XGBoost; coreset sizes 0.5/1/2/5% of the
training split; 5 seeds; validation split carved from the training set) and writes a markdown report.

Run from the repository root:
    python benchmarks/tabular_a9a.py --runs RUNS_DIR [--seeds 5] [--out benchmarks/results/tabular-a9a.md]
Interrupted runs resume (finished runs are kept in RUNS_DIR/<variant>/results.jsonl).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one thread: the machine is shared
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from machine import describe

from coreselect.bench.config import BenchConfig
from coreselect.bench.protocols.tabular import run
from coreselect.bench.store import ResultStore

VARIANTS = {"original": None, "pos0.02": "0.02", "pos0.005": "0.005"}
ESTIMATORS = ("logreg", "linsvm", "xgboost")
METHODS = ("uniform", "coreset-vanilla")  # the random baseline and the vanilla coreset
ROWS = ("full", "uniform", "coreset-vanilla", "tuned", "tuned+active")
SHOWN = {"coreset-vanilla": "vanilla"}
FRACTIONS = (0.005, 0.01, 0.02, 0.05)


def fmt(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "–"


def mean(values: list[float]) -> str:
    return f"{np.mean(values):.2f}" if values else "–"


def report(runs: Path, seeds: int) -> list[str]:
    lines = []
    for variant in VARIANTS:
        recs = list(ResultStore(runs / variant).records())
        if not recs:
            continue
        r0 = recs[0]
        lines += [f"### a9a, {variant} (train {r0['n_train']} rows after the validation split, test {r0['n_test']})", ""]
        for est in ESTIMATORS:
            groups: dict[tuple[str, float], list[dict]] = defaultdict(list)
            for r in recs:
                if r["key"]["model"] == est:
                    groups[r["key"]["method"], r["key"]["budget"]].append(r)
            if not groups:
                continue
            lines += [f"**{est}**", "",
                      "| size | arm | test F1 | test balanced acc. | val F1 | examples (positives) | tune s | refine s | n |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for f in (1.0, *FRACTIONS):
                for arm in ROWS:
                    g = groups.get((arm, f))
                    if not g:
                        continue
                    m = [r["metrics"] for r in g]
                    t = [r["timings"] for r in g]
                    val = [x["val_f1"] for x in m if "val_f1" in x]
                    tune_s = [x["tune"] for x in t if "tune" in x]
                    ref_s = [x["refine"] for x in t if "refine" in x]
                    size = "100%" if arm == "full" else f"{100 * f:g}%"
                    lines.append(
                        f"| {size} | {SHOWN.get(arm, arm)} | {fmt([x['f1'] for x in m])} | {fmt([x['balanced_accuracy'] for x in m])} "
                        f"| {fmt(val)} | {np.mean([x['n_selected'] for x in m]):.0f} "
                        f"({np.mean([x['n_positive'] for x in m]):.0f}) | {mean(tune_s)} | {mean(ref_s)} | {len(g)} |"
                    )
            lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True, help="directory for results.jsonl files (resumable)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--estimators", default=",".join(ESTIMATORS))
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--out", default="benchmarks/results/tabular-a9a.md")
    args = ap.parse_args()
    runs = Path(args.runs)
    load0, t0, started = os.getloadavg()[0], time.perf_counter(), datetime.datetime.now()
    for variant, share in VARIANTS.items():
        options = {"estimator": args.estimators}
        if share:
            options["imbalance"] = share
        config = BenchConfig(dataset="a9a", protocol="tabular", out=runs / variant, methods=METHODS,
                             fractions=FRACTIONS, seeds=args.seeds, data_root=args.data_root, options=options)
        run(config, ResultStore(runs / variant))
        print(f"{variant}: done after {time.perf_counter() - t0:.0f} s", flush=True)
    load1 = os.getloadavg()[0]
    head = [
        "# Tuned coresets on a9a: full vs uniform vs vanilla vs tuned vs tuned + active",
        "",
        (f"Command: `python benchmarks/tabular_a9a.py --runs RUNS --seeds {args.seeds}` "
         f"(equivalently `coreselect bench --protocol tabular --dataset a9a --methods {','.join(METHODS)} "
         f"--fractions {','.join(map(str, FRACTIONS))} --seeds {args.seeds} --option estimator=... "
         "[--option imbalance=0.02]`)."),
        (f"Machine: {describe()} — shared with other jobs; 1-min load average {load0:.2f} at start, "
         f"{load1:.2f} at end. Date: {started:%Y-%m-%d}. Wall time {time.perf_counter() - t0:.0f} s."),
        "",
        "Setup. a9a (LIBSVM, 123 sparse binary features, 24% positives). `pos0.02` / `pos0.005`: positives of",
        "train and test thinned (seeded, per seed) to 2% / 0.5% of the rows. Per seed, 20% of the training rows",
        "(stratified) are the validation split used for tuning and active refinement; the test set is only",
        "scored. Sizes are fractions of the remaining training split. F1 is the F1 of the positive class.",
        "Arms: `full` (all training rows), `uniform` (random, unweighted), `vanilla` (`coreset` defaults: unified",
        "sensitivity, d = 0, proportional, `keep` = `inv` at d = 0), `tuned` (`coreselect.tune`, default grid: allocation in",
        "{proportional, 0.5-mix, balanced} × d in {0, 0.5, 1} × weighting in {keep, inv, prop} = 27 coresets",
        "per size), `tuned+active` (`coreselect.tuning.refine` from the tuned coreset: batch 10% of the",
        "coreset, patience 3, at most 10 rounds; the examples column shows its final size).",
        "Estimators: LogisticRegression(C=1, lbfgs), LinearSVC(C=1), XGBClassifier(100 trees, depth 4,",
        "hist, n_jobs=1); weights normalised to mean 1; default decision thresholds. Mean ± std over seeds;",
        "`tune s` is the wall time of the whole grid search at that size.",
        "",
    ]
    Path(args.out).write_text("\n".join(head + report(runs, args.seeds)) + "\n")


if __name__ == "__main__":
    main()
