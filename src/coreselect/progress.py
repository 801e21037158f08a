"""Progress of long work: a bar on a terminal, a plain log line every ~30 s elsewhere, nothing when quiet.

On a terminal (stderr is a TTY) a tqdm bar advances with every unit of work (a batch, a greedy step).
When stderr is not a terminal (a pipe, a CI or job log) a line such as
``train: 1,200/9,380 batches (13%), 0:31 elapsed, ETA 3:33`` is written at most every
:data:`LOG_INTERVAL` seconds — short work prints nothing — and a last line when work that logged ends.
:func:`quiet` (the CLI's ``--quiet``) silences both.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_quiet = False
#: Seconds between two plain log lines when stderr is not a terminal.
LOG_INTERVAL = 30.0


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Silence every progress report inside the block (the CLI's ``--quiet``)."""
    global _quiet
    before, _quiet = _quiet, enabled or _quiet
    try:
        yield
    finally:
        _quiet = before


def shown() -> bool:
    """Whether a progress bar would be drawn (not quiet and stderr is a terminal)."""
    return not _quiet and sys.stderr.isatty()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts `done` of `total` units of work called `unit`, and reports it as the module docstring says.

    Use as a context manager; :meth:`update` after each unit, :meth:`note` for a short status (a loss).
    ``enabled=False`` reports nothing (a caller that reports its own, coarser progress).
    """

    def __init__(self, total: int | None, desc: str, unit: str = "it", interval: float | None = None,
                 enabled: bool = True):
        self.total, self.desc, self.unit = total, desc, unit
        self.interval = LOG_INTERVAL if interval is None else interval
        self.done = 0
        self.status = ""
        self._start = self._last = time.monotonic()
        self._logged = False
        self._bar: Any = None
        self._plain = enabled and not _quiet and not sys.stderr.isatty()
        if enabled and shown():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif self._plain and time.monotonic() - self._last >= self.interval:
            self._log()

    def note(self, **status: Any) -> None:
        """A short status shown beside the count (``loss=0.31``)."""
        self.status = ", ".join(f"{k} {v}" for k, v in status.items())
        if self._bar is not None:
            self._bar.set_postfix(status)

    def line(self) -> str:
        """The plain log line for the current state."""
        elapsed = time.monotonic() - self._start
        text = f"{self.desc}: {self.done:,}"
        if self.total:
            text += f"/{self.total:,} {self.unit} ({self.done / self.total:.0%})"
        else:
            text += f" {self.unit}"
        text += f", {_clock(elapsed)} elapsed"
        if self.total and 0 < self.done < self.total:
            text += f", ETA {_clock(elapsed * (self.total - self.done) / self.done)}"
        return text + (f" [{self.status}]" if self.status else "")

    def _log(self) -> None:
        print(self.line(), file=sys.stderr, flush=True)
        self._last = time.monotonic()
        self._logged = True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._logged:  # work that reported while running also reports its end
            self._log()
            self._logged = False


def progress(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """`items`, reported through a :class:`Progress` (one unit per item)."""
    with Progress(total, desc, unit) as report:
        for item in items:
            yield item
            report.update()
