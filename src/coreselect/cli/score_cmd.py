"""``coreselect score``: train the reference proxy on a dataset and write its signals to one ``.npz``.

The file holds, for the (possibly transformed, see ``--option``) training set of ``n`` rows:
``el2n``, ``forgetting``, ``aum``, ``aum_prob``, ``grand``, ``loss`` as ``(n,)`` float64 (one per signal,
under its name); ``features`` ``(n, d)`` float32 penultimate activations and ``logits`` ``(n, C)`` float32
at epoch ``feature_epoch`` (default ``min(10, epochs)``); ``labels`` ``(n,)`` int64 (the labels trained on); and for the test set
``features_test``, ``logits_test``, ``labels_test`` of the final model. ``coreselect select METHOD --signals-from FILE``
reads the 1-D arrays as signals and ``features``/``labels`` as its inputs. The proxy is trained as the
oneshot bench trains it (same defaults, same seeding).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coreselect.checks import check_seed
from coreselect.cli.common import DATASET_HELP, check_output_path, nonempty_path, parse_assignments
from coreselect.errors import InputError

#: ``--option`` keys score accepts (the proxy's training and the data transforms).
OPTIONS = ("lr", "batch_size", "augment", "el2n_epochs", "feature_epoch", "noise", "imbalance", "train_size", "data_seed")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="train a proxy and write its signals and features", description=__doc__)
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--epochs", type=int, help="proxy epochs (default: per dataset)")
    p.add_argument("--model", help="mlp, cnn or resnet18 (default: per dataset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help=f"one of {', '.join(OPTIONS)}")
    p.add_argument("--data-root", type=nonempty_path, help="directory holding the dataset folders")
    p.add_argument("--out", required=True, type=nonempty_path, help="output .npz")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coreselect.bench import BenchConfig, datasets
    from coreselect.bench.protocols.oneshot import Settings
    from coreselect.bench.proxy import train_proxy, write_npz
    from coreselect.bench.runner import check_dataset_name

    out = check_output_path(args.out, [args.dataset])
    if not out.name.endswith(".npz"):
        raise InputError(f"--out must name an .npz file, got {out.name}")
    options = parse_assignments(args.option, "--option")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InputError(f"score has no option {', '.join(unknown)}; options: {', '.join(OPTIONS)}")
    check_seed("--seed", args.seed)
    if args.epochs is not None and args.epochs < 1:
        raise InputError(f"--epochs must be >= 1, got {args.epochs}")
    check_dataset_name(args.dataset)
    config = BenchConfig(dataset=args.dataset, protocol="oneshot", out=Path(out.parent), epochs=args.epochs,
                         model=args.model, device=args.device, data_root=args.data_root, options=options)
    settings = Settings.parse(config)
    data = datasets.prepare(datasets.load(args.dataset, args.data_root), settings.transforms, args.seed)
    recipe = settings.recipe(data, config)
    recipe.check(data)
    proxy = train_proxy(data, recipe, args.seed, settings.el2n_epochs, settings.feature_epoch)
    write_npz(out, {
        **proxy.signals, "features": proxy.features, "logits": proxy.logits, "labels": data.y_train,
        "features_test": proxy.features_test, "logits_test": proxy.logits_test, "labels_test": data.y_test,
    })
    print(f"proxy {recipe.model}, {recipe.epochs} epochs on {data.n} rows of {data.name}: test accuracy "
          f"{proxy.test_accuracy:.4f} ({proxy.seconds:.1f} s) -> {out}")
    return 0
