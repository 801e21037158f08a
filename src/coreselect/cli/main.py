"""Entry point: parse, dispatch to one subcommand module, map errors to exit codes.

Exit codes: 0 success; 2 bad input (one ``error: …`` line on stderr, nothing written);
1 internal failure (with traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from coreselect import __version__
from coreselect.cli.common import deferred_warnings
from coreselect.errors import InputError
from coreselect.progress import quiet

#: Subcommands; each is the module ``coreselect.cli.<name>_cmd`` with ``register(sub)`` and ``run(args)``.
COMMANDS = ("methods", "select", "inspect", "demo", "bench", "report", "score", "tune")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's usage errors are bad input too: exit 2, one line
        raise InputError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="coreselect", description="Select small, weighted subsets (coresets) of training sets.")
    parser.add_argument("--version", action="version", version=f"coreselect {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"coreselect.cli.{name}_cmd").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        with quiet(args.quiet), deferred_warnings():
            return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
