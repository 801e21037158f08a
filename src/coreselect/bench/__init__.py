"""Experiment protocols, the runner, the results store and reports (``coreselect bench`` / ``report``)."""

from coreselect.bench.config import BenchConfig
from coreselect.bench.store import ResultStore, run_key

__all__ = ["BenchConfig", "ResultStore", "run_key"]
