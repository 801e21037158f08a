"""Regression benchmark (the paper's Figure 1) at matched label budgets: 1 − R² on train and validation vs
the label budget s for uniform, leverage and regression-sensitivity (A ∪ S: k medoids + s − k draws) with
FasterPAM and with the alternating k-medoids (ζ → ∞), and with a finite ζ = 1 on standardised rows, mean
and median of `--seeds` runs; then a sweep of regression-sensitivity's medoid share for both
clusterings over `--sweep-seeds` runs.

    python benchmarks/sensitivity_regression.py --seeds 100 --sweep-seeds 20 --out bench-out/regression

Every method gets the same budget s: uniform and leverage draw s rows, regression-sensitivity spends
s labels on k = medoid_share · s medoids and s − k draws (its ``Subset.n_queries``).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
from pathlib import Path

import numpy as np
from machine import describe, publish

from coreselect.bench import BenchConfig, ResultStore
from coreselect.bench.protocols import regression

SIZES = (150, 200, 300, 500, 1000, 2000)
METHODS = ("uniform", "leverage", "regression-sensitivity", "regression-sensitivity:clustering=alternate",
           "regression-sensitivity:zeta=1")
SWEEP = tuple(f"regression-sensitivity:clustering={clustering}:medoid_share={share}"  # parameters in key order
              for clustering in ("fasterpam", "alternate") for share in (0.25, 0.75))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--sweep-seeds", type=int, default=20)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--out", default="bench-out/regression")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--print-only", action="store_true", help="print the table without writing benchmarks/results")
    args = ap.parse_args()
    sizes = tuple(args.sizes)
    load_start = os.getloadavg()[0]
    started = datetime.datetime.now().isoformat(timespec="minutes")
    for methods, seeds in ((METHODS, args.seeds), (SWEEP, args.sweep_seeds)):
        if seeds < 1:
            continue
        cfg = BenchConfig(dataset="gas-sensor", protocol="regression", out=Path(args.out), methods=methods,
                          sizes=sizes, seeds=seeds, data_root=args.data_root)
        regression.validate(cfg)
        regression.run(cfg, ResultStore(cfg.out))
    load_end = os.getloadavg()[0]
    runs = {m: args.seeds for m in METHODS} | {m: args.sweep_seeds for m in SWEEP}
    agg: dict[tuple, dict[str, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in ResultStore(args.out).records():
        k = r["key"]
        if k["method"] not in runs or k["seed"] >= runs[k["method"]] or k["budget"] not in sizes:
            continue
        cell = agg[(k["method"], k["budget"])]
        for name in ("train_1mr2", "val_1mr2", "distinct"):
            cell[name].append(r["metrics"][name])
        cell["select"].append(r["timings"]["select"])
    lines = [
        "# Regression sensitivity (Algorithm 2, A ∪ S) vs leverage vs uniform on the gas-sensor data",
        "",
        f"Command: `python benchmarks/sensitivity_regression.py --seeds {args.seeds} --sweep-seeds "
        f"{args.sweep_seeds} --sizes {' '.join(map(str, sizes))} --out {args.out}`",
        "",
        (f"Machine: {describe()}; one thread. "
         f"Date: {started}. 1-min load average: {load_start:.2f} at start, {load_end:.2f} at end."),
        "",
        "Data: UCI gas sensor array (batches 1–6, 8, 9; 6,697 rows), the loader's seeded 80/20 split",
        "(5,358 train / 1,339 validation rows), 128 standardised features + intercept → concentration (ppmv).",
        "s is the label budget of every method: uniform and leverage draw s rows; regression-sensitivity",
        "keeps k = medoid_share · s medoids (weight 1) and draws s − k other rows (weights 1/((s − k)·p)).",
        "Each cell: mean and median over the seeds of 1 − R² of the weighted least-squares fit on the sample,",
        "evaluated on the whole training / validation set (lower is better), the mean number of distinct",
        "rows, and the mean selection time in seconds (k-medoids or leverage scores, plus the draw).",
        "regression-sensitivity without parameters: its defaults (medoid_share 0.5, FasterPAM, ζ → ∞).",
        "",
        "| method | s | runs | train 1−R² (mean) | train 1−R² (median) | val 1−R² (mean) | val 1−R² (median) "
        "| distinct | select s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in METHODS + SWEEP:
        for s in sizes:
            c = agg[(m, s)]
            if not c["select"]:
                continue
            lines.append(f"| {m} | {s} | {len(c['select'])} | {np.mean(c['train_1mr2']):.4g} | "
                         f"{np.median(c['train_1mr2']):.4g} | {np.mean(c['val_1mr2']):.4g} | "
                         f"{np.median(c['val_1mr2']):.4g} | {np.mean(c['distinct']):.0f} | {np.mean(c['select']):.3f} |")
    lines.append("")
    if args.print_only:
        print("\n".join(lines))
    else:
        publish("sensitivity-regression.md", lines)


if __name__ == "__main__":
    main()
