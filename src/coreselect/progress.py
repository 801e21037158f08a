"""Progress bars on a terminal, silent when output is piped or when quieted."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_quiet = False


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence every progress bar inside the block (the CLI's ``--quiet``)."""
    global _quiet
    before, _quiet = _quiet, enabled or _quiet
    try:
        yield
    finally:
        _quiet = before


def shown() -> bool:
    return not _quiet and sys.stderr.isatty()


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterable[T]:
    """`items`, wrapped in a tqdm bar on stderr when it is a terminal."""
    if not shown():
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True)
