"""``coreselect bench``: run a benchmark protocol; results append to ``OUT/results.jsonl`` and a report
(``OUT/report.md``, ``OUT/report.png``) is written at the end. Rerunning the same command resumes:
finished runs are skipped."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from coreselect.cli.common import DATASET_HELP, nonempty_path, parse_assignments, parse_fractions
from coreselect.errors import InputError

DEFAULT_FRACTIONS = "0.05,0.1,0.2"


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"100,500"`` → ``(100, 500)``, each a positive integer."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"sizes must be integers separated by commas, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise InputError(f"sizes must be positive, got {text!r}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark protocol (resumable)", description=__doc__)
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--protocol", default="oneshot", help="protocol module (default: oneshot)")
    p.add_argument("--methods", default="",
                   help="comma-separated method specs: name or name:key=value:key=value (e.g. prune:signal=aum); "
                        "optional for protocols with default methods (dynamic, reweight, warmstart, estimate)")
    p.add_argument("--fractions", help=f"comma-separated fractions in (0, 1] (default {DEFAULT_FRACTIONS} "
                                       "unless --sizes is given)")
    p.add_argument("--sizes", help="comma-separated subset sizes")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds: 0 .. N-1 (default 3)")
    p.add_argument("--epochs", type=int, help="training epochs (default: per dataset)")
    p.add_argument("--model", help="mlp, cnn or resnet18 (default: per dataset)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="protocol option, e.g. noise=0.4, imbalance=10, train_size=5000, subset_budget=epochs")
    p.add_argument("--data-root", type=nonempty_path, help="directory holding the dataset folders (default: ../shared/data "
                                       "or $CORESELECT_DATA)")
    p.add_argument("--out", required=True, type=nonempty_path, help="output directory (created; reused to resume)")
    p.add_argument("--no-report", action="store_true", help="do not write report.md / report.png at the end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coreselect.bench import BenchConfig
    from coreselect.bench.report import write_report
    from coreselect.bench.runner import run_bench

    fractions = parse_fractions(args.fractions) if args.fractions is not None else ()
    sizes = parse_sizes(args.sizes) if args.sizes is not None else ()
    if not fractions and not sizes:
        fractions = parse_fractions(DEFAULT_FRACTIONS)
    config = BenchConfig(
        dataset=args.dataset, protocol=args.protocol, out=Path(args.out),
        methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()),
        fractions=fractions, sizes=sizes, seeds=args.seeds, epochs=args.epochs, model=args.model,
        device=args.device, data_root=args.data_root, options=parse_assignments(args.option, "--option"),
    )
    logger = logging.getLogger("coreselect.bench")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    if not getattr(args, "quiet", False):
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        out = run_bench(config)
    finally:
        logger.removeHandler(handler)
    print(f"results: {out / 'results.jsonl'}")
    if not args.no_report:
        md, png = write_report(out)
        print(f"report: {md} {png}")
    return 0
