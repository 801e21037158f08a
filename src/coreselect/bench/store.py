"""Append-only results store: one JSON line per finished run, so an interrupted bench resumes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


def run_key(key: Mapping[str, Any]) -> str:
    """Canonical text of a run's identifying fields (protocol, dataset, method, budget, seed, …)."""
    return json.dumps(dict(key), sort_keys=True, default=str)


class ResultStore:
    """`DIR/results.jsonl`: each record is ``{"key": {...}, "metrics": {...}, "timings": {...}, ...}``."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "results.jsonl"
        self._done = {run_key(r["key"]) for r in self.records()}

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open() as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:  # a line cut short by a kill: that run is redone
                        continue

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
