"""``coreselect tune``: grid-tune a coreset for a classifier on a validation split and write the best one.

Inputs are either arrays (``--features/--labels`` plus ``--val-features/--val-labels``) or a built-in
dataset (``--dataset a9a``): then the validation split is carved, stratified and seeded, from the
dataset's training set (``--val-fraction``), the test set is left untouched, and the subset's indices
refer to rows of the training set. ``--imbalance SHARE`` first thins the positive class of a built-in
binary dataset to that share. ``--active`` refines the tuned coreset by active sampling.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from coreselect.cli.common import check_output_path, nonempty_path, parse_assignments
from coreselect.errors import InputError
from coreselect.files import atomic_write, same_file
from coreselect.subset import Subset
from coreselect.tuning.estimators import ESTIMATORS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="tune a coreset for a classifier (tabular)", description=__doc__)
    p.add_argument("--features", type=nonempty_path, help="(n, d) training features: .npy, .npz, .csv, .parquet")
    p.add_argument("--labels", type=nonempty_path, help="(n,) integer class labels")
    p.add_argument("--val-features", type=nonempty_path, help="validation features (same columns)")
    p.add_argument("--val-labels", type=nonempty_path, help="validation labels")
    p.add_argument("--dataset", help="a built-in dataset instead of files (e.g. a9a)")
    p.add_argument("--data-root", type=nonempty_path, help="directory holding the built-in datasets")
    p.add_argument("--val-fraction", type=float, help="with --dataset: validation share of train (default 0.2)")
    p.add_argument("--imbalance", type=float, help="with --dataset: thin positives to this share (e.g. 0.02)")
    p.add_argument("--positive", type=int, help="with --imbalance: the positive label (default 1)")
    p.add_argument("--estimator", default="logreg", choices=ESTIMATORS)
    p.add_argument("--sizes", default="0.01", help="comma list of sizes (ints) or fractions (< 1)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="grid override: deterministic, allocation, weighting, sensitivity")
    p.add_argument("--active", action="store_true", help="refine the best coreset by active sampling")
    p.add_argument("--batch", type=int, help="active: examples added per round (default 10%% of the coreset)")
    p.add_argument("--patience", type=int, help="active: rounds without gain before stopping (default 3)")
    p.add_argument("--max-rounds", type=int, help="active: most rounds (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=nonempty_path, help="output subset file (.npz)")
    p.add_argument("--table", type=nonempty_path, help="write the whole grid as a markdown table here")
    p.set_defaults(func=run)


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def parse_sizes(text: str) -> tuple[float | int, ...]:
    try:
        sizes = tuple(_number(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"--sizes must be numbers separated by commas, got {text!r}") from None
    if not sizes:
        raise InputError("--sizes is empty")
    return sizes


def parse_grid(items: list[str]) -> dict[str, tuple[Any, ...]]:
    grid: dict[str, tuple[Any, ...]] = {}
    for key, text in parse_assignments(items, "--grid").items():
        values = [v.strip() for v in text.split(",") if v.strip()]
        try:
            if key == "deterministic":
                grid[key] = tuple(float(v) for v in values)
            elif key == "allocation":
                grid[key] = tuple(v if v in ("proportional", "balanced") else float(v) for v in values)
            else:
                grid[key] = tuple(values)
        except ValueError:
            raise InputError(f"--grid {key}={text!r}: not a list of numbers or names") from None
    return grid


def _inputs(args: argparse.Namespace) -> tuple[Any, np.ndarray, Any, np.ndarray, np.ndarray | None, int]:
    """`(x, y, x_val, y_val, rows, n)`: `rows` maps training rows to the original set (None for files)."""
    from coreselect.data import load_array, load_vector

    files = (args.features, args.labels, args.val_features, args.val_labels)
    if args.dataset:
        if any(files):
            raise InputError("give either --dataset or the four array files, not both")
        from coreselect.data import load_dataset
        from coreselect.tuning.imbalance import keep_fraction_for_share, make_imbalanced
        from coreselect.tuning.split import stratified_split

        data = load_dataset(args.dataset, root=args.data_root, seed=args.seed)
        if data.task != "classification":
            raise InputError(f"dataset {args.dataset!r} is not a classification dataset")
        x, y, rows = data.x_train, data.y_train, np.arange(data.y_train.size)
        if args.imbalance is not None:
            keep = keep_fraction_for_share(y, args.imbalance, args.positive)
            x, y, rows = make_imbalanced(x, y, keep, args.positive, seed=args.seed)
        tr, va = stratified_split(y, args.val_fraction, args.seed)
        return x[tr], y[tr], x[va], y[va], rows[tr], data.y_train.size
    if not all(files):
        raise InputError("give --features, --labels, --val-features and --val-labels (or --dataset)")
    if args.imbalance is not None:
        raise InputError("--imbalance only applies to --dataset")
    x, y = load_array(args.features), load_vector(args.labels, "--labels")
    yv = load_vector(args.val_labels, "--val-labels")
    return x, y, load_array(args.val_features), yv, None, y.shape[0]


#: Options that only mean something beside another one, and their defaults.
_DEPENDENT = {"val_fraction": ("dataset", 0.2), "data_root": ("dataset", None), "positive": ("imbalance", 1),
              "batch": ("active", None), "patience": ("active", 3), "max_rounds": ("active", 10)}


def _apply_defaults(args: argparse.Namespace) -> None:
    """Refuse an option given without the one it qualifies (it would be ignored), then fill defaults."""
    for name, (needs, default) in _DEPENDENT.items():
        if getattr(args, name) is not None and not getattr(args, needs):
            raise InputError(f"--{name.replace('_', '-')} applies only with --{needs}")
        if getattr(args, name) is None:
            setattr(args, name, default)


def run(args: argparse.Namespace) -> int:
    from coreselect.tuning import refine, tune
    from coreselect.tuning.estimators import resolve
    from coreselect.tuning.grid import check_grid

    inputs = [args.features, args.labels, args.val_features, args.val_labels]
    out = check_output_path(args.out, inputs)
    table = check_output_path(args.table, inputs) if args.table else None
    if table is not None and (os.path.realpath(table) == os.path.realpath(out) or same_file(table, out)):
        raise InputError(f"--table and --out name the same file: {out}")
    _apply_defaults(args)
    sizes, grid = parse_sizes(args.sizes), parse_grid(args.grid)
    check_grid(grid)
    resolve(args.estimator)
    x, y, xv, yv, rows, n = _inputs(args)
    result = tune(x, y, xv, yv, args.estimator, sizes=sizes, grid=grid, seed=args.seed)
    best = result.best
    for m, row in result.best_rows.items():
        print(f"size {m}: best f1 {row['f1']:.4f}, balanced accuracy {row['balanced_accuracy']:.4f} "
              f"({row['allocation']}, d={row['deterministic']:g}, {row['weighting']}, {row['sensitivity']})")
    if args.active:
        refined = refine(best, x, y, xv, yv, args.estimator, batch=args.batch, patience=args.patience,
                         max_rounds=args.max_rounds, seed=args.seed)
        print("active f1 path: " + ", ".join(f"{p['size']}:{p['f1']:.4f}" for p in refined.path))
        best = refined.best
    if rows is not None:
        best = Subset(indices=rows[best.indices], weights=best.weights, n=n, method=best.method,
                      params={**best.params, "dataset": args.dataset, "val_fraction": args.val_fraction,
                              **({"imbalance": args.imbalance} if args.imbalance is not None else {})},
                      seed=best.seed)
    if table is not None:
        text = result.table.to_markdown().encode()
        atomic_write(table, lambda fh: fh.write(text))
    best.save(out)
    print(f"tuned coreset of {len(best)} examples ({result.seconds:.1f} s of tuning) -> {out}")
    return 0
