"""Where the work runs: a new local cluster (``--workers N``), an existing one (``--scheduler ADDR``), or,
with neither, Dask's threaded scheduler in this process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from coreselect.errors import InputError

#: Below this a Dask worker cannot even start its interpreter and libraries (it would be restarted forever).
MIN_WORKER_MEMORY = 256 * 2**20


def _check_memory_limit(memory_limit: str | float | None) -> None:
    """``auto``, None, or a positive size (bytes, or text such as ``4GB``) — else an InputError."""
    if memory_limit is None or memory_limit == "auto":
        return
    from dask.utils import parse_bytes

    try:
        nbytes = parse_bytes(memory_limit)
    except (ValueError, TypeError):
        raise InputError(f"--worker-memory must be auto or a size such as 4GB, got {memory_limit!r}") from None
    if nbytes < MIN_WORKER_MEMORY:
        raise InputError(f"--worker-memory must be at least {MIN_WORKER_MEMORY // 2**20} MiB (a worker process "
                         f"needs that much to start), got {memory_limit!r}")


@contextmanager
def connect(workers: int | None = None, scheduler: str | None = None,
            memory_limit: str | float | None = "auto", timeout: float = 30.0) -> Iterator[Any]:
    """Yield a ``distributed.Client`` (the default scheduler inside the block), or None for the local one.

    ``workers=N`` starts a ``LocalCluster`` of N worker processes with one thread each (selection
    tasks are NumPy/faiss kernels; one thread per process keeps their BLAS from oversubscribing the
    cores) and `memory_limit` per worker; ``scheduler="tcp://host:port"`` joins a running cluster.
    The cluster started here is closed when the block exits.
    """
    if workers is not None and scheduler is not None:
        raise InputError("give --workers or --scheduler, not both")
    most = 4 * (os.cpu_count() or 1)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not 1 <= workers <= most):
        raise InputError(f"--workers must be an integer in [1, {most}] (4 per core), got {workers!r}")
    _check_memory_limit(memory_limit)
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                      dashboard_address=":0", host="127.0.0.1") as cluster, Client(cluster) as client:
        yield client


def worker_memory(default: float) -> float:
    """The smallest memory limit (bytes) among the current client's workers, or `default` without one."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return default
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info()["workers"].values()]
    limits = [m for m in limits if m > 0]
    return float(min(limits)) if limits else default
