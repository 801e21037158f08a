"""``coreselect select METHOD …``: run one method on arrays from files and write the subset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from coreselect import api, registry
from coreselect.budget import Budget
from coreselect.cli.common import check_output_path, nonempty_path, parse_allocation, parse_assignments
from coreselect.errors import InputError
from coreselect.pool import Pool, encode_labels
from coreselect.subset import Subset

#: Arrays of a ``--signals-from`` file that are inputs, not signals.
_NOT_SIGNALS = {"features", "labels", "targets", "x_test", "y_test", "features_test", "labels_test"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("select", help="select a subset with one method", description=__doc__)
    p.add_argument("method", help="method name (see `coreselect methods`)")
    p.add_argument("--features", type=nonempty_path, help="(n, d) features: .npy, .npz, .csv or .parquet; sharded: a quoted glob "
                   "of .npy or .parquet files, or a .zarr store (runs on Dask)")
    p.add_argument("--key", help="array name inside an .npz features file (embedding column of Parquet shards)")
    p.add_argument("--labels", type=nonempty_path, help="(n,) integer class labels")
    p.add_argument("--targets", type=nonempty_path, help="(n,) regression targets")
    p.add_argument("--signal", action="append", default=[], metavar="NAME=FILE", help="a per-example signal")
    p.add_argument("--signals-from", type=nonempty_path, metavar="SIGNALS.npz", help="signals (and features/labels) from `coreselect score`")
    p.add_argument("--oracle", type=nonempty_path, metavar="FILE", help="(n,) per-example loss values, read only where queried")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--fraction", type=float, help="fraction of n to select, in (0, 1]")
    size.add_argument("--size", type=int, help="number of examples to select")
    p.add_argument("--allocation",
                   help="class split: proportional, balanced, or CLASS=SIZE,CLASS=SIZE (default: the method's; "
                        "proportional, balanced for coreset)")
    p.add_argument("--within", type=nonempty_path, metavar="SUBSET.npz",
                   help="choose only among the rows of this subset file (e.g. what semdedup kept); the budget "
                        "still counts in all n rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a method parameter")
    p.add_argument("--out", required=True, type=nonempty_path, help="output subset file (.npz)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="run on a new local Dask cluster of N worker processes")
    where.add_argument("--scheduler", metavar="ADDR", help="run on the Dask cluster at ADDR (tcp://host:port)")
    p.add_argument("--worker-memory", default="auto", help="memory limit per --workers process (e.g. 4GB)")
    p.set_defaults(func=run)


def _sharded(args: argparse.Namespace) -> bool:
    """Dask runs the selection: a cluster was asked for, or the features are a glob or a Zarr store."""
    spec = args.features or ""
    glob_or_zarr = any(c in spec for c in "*?[") or spec.rstrip("/").lower().endswith(".zarr")
    return args.workers is not None or args.scheduler is not None or glob_or_zarr


def _bundle_features(bundle: dict[str, Any], method: Any, labels: Any) -> Any:
    """The features a ``--signals-from`` file supplies to `method`: its penultimate features, or for
    methods that select on last-layer gradients (craig, gradmatch) the gradient embedding the method's
    ``gradient`` parameter names, built from the file's logits, labels and features (CRAIG §3.2)."""
    from coreselect.bench.protocols.oneshot import embed, embedding_kind

    kind = embedding_kind(method)
    if kind == "features":
        return bundle.get("features")
    needed = ("logits",) if kind == "logits" else ("logits", "features")
    lacking = [k for k in needed if k not in bundle] + ([] if labels is not None else ["labels"])
    if lacking:
        raise InputError(f"method {method.name!r} selects on last-layer gradient embeddings; the "
                         f"--signals-from file lacks {', '.join(lacking)} to build them (pass --features "
                         "with gradient embeddings instead)")
    from coreselect.pool import encode_labels

    codes, _ = encode_labels("labels", labels, len(labels))  # class names index the logits in sorted order
    return embed(kind, bundle["logits"], codes, bundle.get("features"))


def _load_inputs(args: argparse.Namespace, method: Any, sharded: bool = False) -> dict[str, Any]:
    """The method's inputs from the files named on the command line. A ``--signals-from`` bundle
    supplies what the method reads and was not given explicitly; its other arrays are left out."""
    from coreselect.data import load_array, load_arrays_npz, load_vector

    bundle = load_arrays_npz(args.signals_from) if args.signals_from else {}
    folded = [k.lower() for k in bundle]
    twice = sorted({k for k in folded if folded.count(k) > 1})
    if twice:
        raise InputError(f"--signals-from {args.signals_from}: arrays {twice} given twice (names are case-insensitive)")
    uses = method.uses()
    labels = load_vector(args.labels, "--labels") if args.labels else bundle.get("labels") if "labels" in uses else None
    targets = (load_vector(args.targets, "--targets") if args.targets
               else bundle.get("targets") if "targets" in uses else None)
    if sharded:
        if not args.features:
            raise InputError("--features is required with --workers or --scheduler")
        from coreselect.distributed import open_features

        features = open_features(args.features, column=args.key)
    elif args.features:
        features = load_array(args.features, key=args.key)
    else:
        features = _bundle_features(bundle, method, labels) if bundle else None
    if features is None:
        raise InputError("--features is required (or a --signals-from file that holds 'features')")
    signals = {k.lower(): v for k, v in bundle.items()
               if k not in _NOT_SIGNALS and getattr(v, "ndim", 0) == 1 and k.lower() in uses}
    for name, path in parse_assignments(args.signal, "--signal").items():
        signals[name] = load_vector(path, f"--signal {name}")
    return {
        "features": features,
        "labels": labels,
        "targets": targets,
        "signals": signals,
        "oracle": load_vector(args.oracle, "--oracle") if args.oracle else None,
    }


def run(args: argparse.Namespace) -> int:
    out = check_output_path(args.out, [args.features, args.labels, args.targets, args.signals_from, args.oracle,
                                       args.within, *(item.partition("=")[2].strip() for item in args.signal)])
    params = {k: registry.parse_param(args.method, k, v) for k, v in parse_assignments(args.param, "--param").items()}
    method = registry.make(args.method, params)
    if _sharded(args):
        return _run_sharded(args, out, method, params)
    within = Subset.load(args.within) if args.within else None
    inputs = _load_inputs(args, method)
    pool = Pool.build(**inputs)
    budget = api.budget_for(method, pool.n, args.fraction, args.size, parse_allocation(args.allocation, pool.classes))
    subset = api.select_in_pool(method, pool, budget, args.seed, within)
    subset.save(out)
    print(f"selected {_size_text(subset, budget.total)} with {args.method} -> {out}")
    return 0


def _size_text(subset: Subset, requested: int) -> str:
    """``167 of 1797``, and why when a sampling method returns fewer distinct rows than it drew."""
    text = f"{len(subset)} of {subset.n}"
    if len(subset) < requested:
        text += f" ({requested} draws, {len(subset)} distinct: repeats merged into their weights)"
    return text


def _run_sharded(args: argparse.Namespace, out: Path, method: Any, params: dict[str, Any]) -> int:
    """Open the shards (headers checked), then select on the requested Dask cluster."""
    from coreselect.distributed import connect, select

    if args.within:
        raise InputError("--within takes in-memory features, not shards or a Dask cluster")
    inputs = _load_inputs(args, method, sharded=True)
    labels = inputs["labels"]
    classes = None if labels is None else encode_labels("labels", labels, len(labels))[1]
    allocation = parse_allocation(args.allocation, classes)
    with connect(workers=args.workers, scheduler=args.scheduler, memory_limit=args.worker_memory):
        subset = select(args.method, fraction=args.fraction, size=args.size,
                        allocation=allocation, seed=args.seed, **inputs, **params)
    subset.save(out)
    total = Budget.from_request(subset.n, fraction=args.fraction, size=args.size).total
    print(f"selected {_size_text(subset, total)} with {args.method} -> {out}")
    return 0
