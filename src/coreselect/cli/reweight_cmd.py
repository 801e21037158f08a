"""``coreselect reweight``: per-example weights for a labelled dataset by CW-ERM, for any learner.

Meta-Weight-Net (Shu et al. 2019) learns on a small coreset of the features how much each example's
loss should count, with a trusted meta set (``--trusted``: rows whose labels you have verified); the
weights are then broadcast to every row from its nearest coreset example of the same class. Writes the
``(n,)`` weights (``--out``, ``.npy``; pass them as ``sample_weight``) and optionally the rows whose
weight falls in the low group (``--flags``, ``.npy`` of row indices): suspected mislabelled examples.
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np

from coreselect.checks import check_seed
from coreselect.cli.common import check_output_path, nonempty_path
from coreselect.errors import InputError
from coreselect.files import atomic_write, same_file

SELECTORS = ("moderate", "uniform")  # coreselect.reweight.pipeline.SELECTORS (imported lazily: torch)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reweight", help="per-example weights and suspected label errors (CW-ERM)", description=__doc__)
    p.add_argument("--features", required=True, type=nonempty_path, help="(n, d) features: .npy, .npz, .csv or .parquet")
    p.add_argument("--key", help="array name inside an .npz features file")
    p.add_argument("--labels", required=True, type=nonempty_path, help="(n,) class labels (the verified ones at the --trusted rows)")
    trust = p.add_mutually_exclusive_group(required=True)
    trust.add_argument("--trusted", type=nonempty_path, metavar="ROWS.npy", help="(t,) row indices whose labels are verified: the meta set")
    trust.add_argument("--no-trusted", action="store_true",
                       help="no trusted rows: the meta set is split from the coreset with its observed labels "
                            "(under label noise the weights then favour mislabelled examples)")
    p.add_argument("--fraction", type=float, default=0.01, help="coreset fraction of n (default 0.01)")
    p.add_argument("--selector", choices=SELECTORS, default="moderate",
                   help="coreset: per-class moderate (default) or class-stratified uniform")
    p.add_argument("--allocation", choices=("proportional", "balanced"), default="proportional",
                   help="coreset budget over classes (default proportional)")
    p.add_argument("--epochs", type=int, default=20, help="Meta-Weight-Net epochs (default 20)")
    p.add_argument("--normalize", choices=("batch", "none"), default="batch",
                   help="divide the weights of a batch by their sum (default batch)")
    p.add_argument("--k", type=int, default=1, help="coreset neighbours each row's weight comes from (default 1)")
    p.add_argument("--any-class", action="store_true",
                   help="broadcast from the nearest coreset examples of any class (default: same class only)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=nonempty_path, help="output (n,) float64 weights (.npy)")
    p.add_argument("--flags", type=nonempty_path, help="output: sorted indices of the rows in the low-weight group (.npy)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if not 0 < args.fraction <= 1:
        raise InputError(f"--fraction must be in (0, 1], got {args.fraction}")
    for name in ("epochs", "k"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name} must be >= 1, got {getattr(args, name)}")
    check_seed("--seed", args.seed)


def run(args: argparse.Namespace) -> int:
    from coreselect.data import load_array, load_vector

    inputs = [args.features, args.labels, args.trusted]
    outputs = [check_output_path(path, inputs) for path in (args.out, args.flags) if path]
    for path in outputs:
        if not path.name.endswith(".npy"):
            raise InputError(f"{path}: outputs are .npy files")
    if len(outputs) == 2 and (os.path.realpath(outputs[0]) == os.path.realpath(outputs[1]) or same_file(*outputs)):
        raise InputError(f"--flags and --out name the same file: {outputs[0]}")
    _check_args(args)
    features = load_array(args.features, key=args.key)
    if not isinstance(features, np.ndarray):
        raise InputError(f"--features {args.features}: a sparse matrix; give dense (n, d) features")
    labels = load_vector(args.labels, "--labels")
    if labels.shape[0] != features.shape[0]:
        raise InputError(f"--labels has {labels.shape[0]} rows but --features have {features.shape[0]}")
    trusted = load_vector(args.trusted, "--trusted") if args.trusted else None

    from coreselect.reweight.mwnet import MetaConfig
    from coreselect.reweight.pipeline import reweight

    config = MetaConfig(epochs=args.epochs, normalize=args.normalize, device=args.device, seed=args.seed)
    result = reweight(features, labels, trusted=trusted, allow_untrusted=args.no_trusted, fraction=args.fraction,
                      allocation=args.allocation, selector=args.selector, meta_config=config, k=args.k,
                      same_class=not args.any_class, seed=args.seed)
    flagged = result.flagged()
    atomic_write(outputs[0], lambda fh: np.save(fh, result.weights))
    if args.flags:
        atomic_write(outputs[1], lambda fh: np.save(fh, flagged))
    if not result.trusted:
        warnings.warn("no trusted set: the meta set carried the observed labels; under label noise the weights "
                      "favour mislabelled examples and the flags are not label errors")
    meta = f"{result.meta_indices.size} {'trusted' if result.trusted else 'untrusted'} meta rows"
    print(f"weights of {result.weights.size} rows from a coreset of {len(result.coreset)} ({meta}, "
          f"{result.timings['meta_train']:.1f} s of meta-training) -> {outputs[0]}")
    print(f"{flagged.size} rows below weight {result.threshold:.4g} flagged" + (f" -> {outputs[1]}" if args.flags else ""))
    return 0
