"""Entry point: parse, dispatch to one subcommand module, map errors to exit codes.

Exit codes: 0 success; 2 bad input or a missing optional extra (one ``error: …`` line on stderr,
nothing written); 1 internal failure (with traceback). ``--quiet`` and ``--threads`` may stand before or
after the subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from coreselect import __version__, threads
from coreselect.errors import InputError
from coreselect.progress import quiet

#: Subcommands; each is the module ``coreselect.cli.<name>_cmd`` with ``register(sub)`` and ``run(args)``.
COMMANDS = ("methods", "select", "inspect", "demo", "bench", "report", "score", "tune", "reweight")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's usage errors are bad input too: exit 2, one line
        raise InputError(message)


#: Optional modules → the extra that installs them (``pip install "coreselect[EXTRA]"``).
EXTRAS = {"torch": "torch", "dask": "dask", "distributed": "dask", "zarr": "dask", "xgboost": "xgboost",
          "matplotlib": "plot", "pyarrow": "parquet"}


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Options valid before or after the subcommand (a subcommand's copy never overrides the main one)."""
    default = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument("--quiet", action="store_true", help="no progress output", **default)
    parser.add_argument("--threads", type=int, metavar="N", **default,
                        help="CPU threads for BLAS, faiss and torch (default: $CORESELECT_NUM_THREADS, "
                             "else 1 on machines with at most 2 cores, else the physical cores)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="coreselect", description="Select small, weighted subsets (coresets) of training sets.")
    parser.add_argument("--version", action="version", version=f"coreselect {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"coreselect.cli.{name}_cmd").register(sub)
    for subparser in sub.choices.values():
        _global_options(subparser, suppress=True)
    return parser


def _missing_extra(exc: ModuleNotFoundError, command: str | None) -> str | None:
    """The one-line error for an optional dependency that is not installed, or None for any other module."""
    root = (exc.name or "").split(".")[0]
    if root not in EXTRAS:
        return None
    extra = EXTRAS[root]
    what = f"coreselect {command}" if command else "this command"
    return f"{what} needs the {extra!r} extra ({root} is not installed): pip install \"coreselect[{extra}]\""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Warnings raised meanwhile are printed afterwards as ``warning: …`` lines (once
    each), except after bad input, whose one ``error:`` line stands alone."""
    code = 1
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")  # each warning once per command, as Python's defaults would
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            code = _dispatch(argv)
    finally:
        if code != 2:
            for message in dict.fromkeys(str(w.message) for w in caught):
                print(f"warning: {message}", file=sys.stderr)
    return code


def _dispatch(argv: Sequence[str] | None) -> int:
    args = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_usage(sys.stderr)
            print("error: give a command; `coreselect --help` lists them", file=sys.stderr)
            return 2
        if args.threads is not None and not 1 <= args.threads <= threads.MAX_THREADS:
            raise InputError(f"--threads must be in [1, {threads.MAX_THREADS}], got {args.threads}")
        with quiet(args.quiet), threads.limit(args.threads):
            return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        message = _missing_extra(exc, getattr(args, "command", None))
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`coreselect methods | head`): stop quietly, as `ls` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
