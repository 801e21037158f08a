"""``coreselect report DIR``: markdown table (mean ± std over seeds, random first, best per column bold)
and a PNG plot of accuracy vs budget from a bench directory's ``results.jsonl``."""

from __future__ import annotations

import argparse

from coreselect.cli.common import nonempty_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="table and plot from a bench directory", description=__doc__)
    p.add_argument("directory", type=nonempty_path, help="a `coreselect bench --out` directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coreselect.bench.report import write_report

    md, png = write_report(args.directory)
    print(f"report: {md} {png}")
    return 0
