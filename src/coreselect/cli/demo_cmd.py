"""``coreselect demo``: every method on built-in digits against random selection, in seconds, no files."""

from __future__ import annotations

import argparse

from coreselect.bench.demo import FRACTIONS, SEEDS, run_demo
from coreselect.cli.common import parse_fractions


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run every method on built-in digits", description=__doc__)
    p.add_argument("--fractions", type=parse_fractions, default=FRACTIONS, help="e.g. 0.05,0.1,0.2")
    p.add_argument("--seeds", type=int, default=SEEDS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = run_demo(fractions=args.fractions, seeds=args.seeds)
    print("Test accuracy of logistic regression trained on each subset (scikit-learn digits,")
    print(f"1,437 training images, features = standardised pixels; mean ± std over {args.seeds} seeds).\n")
    print(result.table())
    for name, why in sorted(result.skipped.items()):
        print(f"skipped {name}: {why}")
    print(f"\nfinished in {result.seconds:.1f} s ({len(result.accuracy)} methods × {len(args.fractions)} "
          f"fractions × {args.seeds} seeds)")
    return 0
