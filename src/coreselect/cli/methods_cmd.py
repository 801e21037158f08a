"""``coreselect methods``: the table of registered methods."""

from __future__ import annotations

import argparse

from coreselect import registry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list the selection methods", description=__doc__)
    p.add_argument("--params", action="store_true", help="also list each method's parameters and defaults")
    p.set_defaults(func=run)


def rows() -> list[tuple[str, str, str, str]]:
    """(name, needs, weighted, reference) for every registered method, at its default parameters."""
    out = []
    for name in registry.available():
        cls = registry.get_method(name)
        needs = sorted(cls().requires())  # every method is constructible with its defaults
        out.append((name, ", ".join(["features", *needs]), "yes" if cls.weighted else "no", cls.reference))
    return out


def run(args: argparse.Namespace) -> int:
    table = rows()
    header = ("method", "needs", "weighted", "reference")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(4)]
    for r in [header, *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    if args.params:
        print()
        for name in registry.available():
            fields = registry.parameters(registry.get_method(name)).values()
            listing = ", ".join(f"{f.name}={f.default!r}" for f in fields) or "(none)"
            print(f"{name}: {listing}")
    return 0
