"""``coreselect inspect subset.npz``: size, weights, class counts and parameters of a saved subset."""

from __future__ import annotations

import argparse
import json

import numpy as np

from coreselect import registry
from coreselect.cli.common import nonempty_path
from coreselect.errors import InputError
from coreselect.subset import Subset


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="describe a saved subset", description=__doc__)
    p.add_argument("subset", type=nonempty_path, help="a file written by `coreselect select`")
    p.add_argument("--labels", type=nonempty_path, help="(n,) class labels of the full set (integers or class names), for per-class counts")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def describe(subset: Subset, labels: np.ndarray | None = None) -> dict:
    w = subset.weights
    info = {
        "method": subset.method,
        "n": subset.n,
        "size": len(subset),
        "unique_indices": int(np.unique(subset.indices).size),
        "weights": {"sum": float(w.sum()), "min": float(w.min()), "mean": float(w.mean()), "max": float(w.max())},
        "seed": subset.seed,
        "n_queries": subset.n_queries,
        "params": subset.params,
    }
    if subset.method in registry.available() and registry.get_method(subset.method).weight_total != "n":
        info["weights"]["total"] = registry.get_method(subset.method).weight_total  # why the sum is not n
    if labels is not None:
        values, counts = np.unique(labels[subset.indices], return_counts=True)
        info["class_counts"] = {str(v): int(c) for v, c in zip(values.tolist(), counts.tolist())}
    return info


def load_labels(path: str, n: int) -> np.ndarray:
    """Class labels of the full set from `path`: one per example (n), integers or class names, checked
    as :func:`coreselect.pool.encode_labels` checks labels for selection; class names come back as text."""
    from coreselect.data import load_vector
    from coreselect.pool import encode_labels

    labels = load_vector(path, "--labels")
    if len(labels) != n:
        raise InputError(f"--labels has {len(labels)} rows but the subset was drawn from n = {n}")
    codes, classes = encode_labels("--labels", labels, n)
    return codes if classes is None else classes[codes]


def run(args: argparse.Namespace) -> int:
    subset = Subset.load(args.subset)
    labels = load_labels(args.labels, subset.n) if args.labels else None
    info = describe(subset, labels)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    w = info["weights"]
    print(f"method        {info['method']}")
    print(f"size          {info['size']} of n = {info['n']} ({info['unique_indices']} unique indices)")
    print(f"weights       sum {w['sum']:.6g}  min {w['min']:.6g}  mean {w['mean']:.6g}  max {w['max']:.6g}")
    if "total" in w:
        print(f"              they sum to {w['total']}")
    print(f"seed          {info['seed']}")
    if info["n_queries"]:
        print(f"oracle calls  {info['n_queries']}")
    print(f"params        {json.dumps(info['params'], sort_keys=True)}")
    for label, count in info.get("class_counts", {}).items():
        print(f"class {label:<7} {count}")
    return 0
