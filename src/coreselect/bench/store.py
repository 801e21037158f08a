"""Append-only results store: one JSON line per finished run, so an interrupted bench resumes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from coreselect.errors import InputError

RESULTS = "results.jsonl"


def run_key(key: Mapping[str, Any]) -> str:
    """Canonical text of a run's identifying fields (protocol, dataset, method, budget, seed, …)."""
    return json.dumps(dict(key), sort_keys=True, default=str)


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _problem(record: Any) -> str | None:
    """What keeps a decoded line from being a run record (see :meth:`ResultStore.append`), or None."""
    if not isinstance(record, dict):
        return f"a record must be a JSON object, got {type(record).__name__}"
    key = record.get("key")
    if not isinstance(key, dict):
        return "the record has no 'key' object"
    if not isinstance(key.get("method"), str):
        return f"key 'method' must be a string, got {key.get('method')!r}"
    budget = key.get("budget")
    if (isinstance(budget, bool) or not isinstance(budget, (int, float))
            or not (math.isfinite(budget) if isinstance(budget, float) else abs(budget) < 2**53)):
        return f"key 'budget' must be a finite number, got {_short(budget)}"
    for field in ("metrics", "timings"):
        if not isinstance(record.get(field, {}), dict):
            return f"'{field}' must be an object, got {record[field]!r}"
    if not isinstance(record.get("skipped", ""), str):
        return f"'skipped' must be a reason (a string), got {record['skipped']!r}"
    return None


class ResultStore:
    """`DIR/results.jsonl`: each record is ``{"key": {...}, "metrics": {...}, "timings": {...}, ...}``."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / RESULTS
        self._done = {run_key(r["key"]) for r in self.records()}

    def records(self) -> Iterator[dict[str, Any]]:
        """The recorded runs, in order.

        A line cut short by a kill while it was written (a JSON object that is valid up to its end, where
        it stops) is skipped: that run is redone. Any other damage (bytes that are not UTF-8, a line that is not a
        record, a record with a missing or ill-typed field) is an `InputError` naming the file and line.
        """
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    raise InputError(f"{self.path}, line {number}: not UTF-8 text ({exc.reason} at byte "
                                     f"{exc.start})") from None
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    cut = exc.pos >= len(line) or exc.msg.startswith("Unterminated string")  # input ran out
                    if line.startswith("{") and cut:
                        continue
                    raise InputError(f"{self.path}, line {number}: not a JSON record ({exc.msg} at column "
                                     f"{exc.colno})") from None
                except (ValueError, RecursionError):
                    raise InputError(f"{self.path}, line {number}: not a JSON record") from None
                problem = _problem(record)
                if problem:
                    raise InputError(f"{self.path}, line {number}: {problem}")
                yield record

    def done(self, key: Mapping[str, Any]) -> bool:
        return run_key(key) in self._done

    def append(self, key: Mapping[str, Any], metrics: Mapping[str, Any],
               timings: Mapping[str, float] | None = None, **extra: Any) -> None:
        """Record one finished run (flushed and fsynced before returning)."""
        record = {"key": dict(key), "metrics": dict(metrics), "timings": dict(timings or {}), **extra}
        line = json.dumps(record, sort_keys=True, default=str) + "\n"
        with self.path.open("a+b") as fh:
            if fh.tell() > 0:  # after a kill mid-write the file may end in a cut-short line: end it first
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
            fh.write(line.encode())
            fh.flush()
            os.fsync(fh.fileno())
        self._done.add(run_key(key))
