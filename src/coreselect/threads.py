"""How many CPU threads coreselect's own numerical work uses (BLAS, OpenMP, torch).

Multi-threaded BLAS pays for itself only on large matrices. On small ones its threads mostly wait for
each other, and on machines with few cores, or cores shared with other processes, that waiting can cost
far more than the arithmetic: on 2-core virtual machines a 1,797 × 64 SVD has been measured at about
140× slower with two OpenBLAS threads than with one, and a small CNN trained 5× faster with one torch
thread than with two (``benchmarks/results/demo-threads.md``). So, as scikit-learn does in its own hot loops (``threadpoolctl``), coreselect chooses the thread
count of the work it runs itself instead of inheriting whatever the libraries start with:

* work below :data:`SMALL_WORK` elements (e.g. ``n · d`` of the features) runs single-threaded;
* larger work uses :func:`default_threads`: the ``CORESELECT_NUM_THREADS`` environment variable when
  set, else 1 on a machine with at most 2 cores (where a second compute thread competes with the
  interpreter itself), else the number of physical cores.

Every public entry point (:func:`coreselect.select`, :func:`coreselect.tune`, training, the command
line) runs inside :func:`limit`; the previous settings are restored on exit, so nothing leaks into the
caller's process. ``limit(n)`` is also a context manager users may call with an explicit count.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from coreselect.errors import InputError

#: Below this many elements, dense linear algebra runs on one thread (16 MiB of float32).
SMALL_WORK = 1 << 22
ENV_VAR = "CORESELECT_NUM_THREADS"
#: More threads than any machine has cores is a typo (and overflows the C libraries' int).
MAX_THREADS = 4096


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """Threads for large work: ``$CORESELECT_NUM_THREADS``, else 1 on ≤ 2 cores, else physical cores."""
    text = os.environ.get(ENV_VAR, "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_THREADS:
            raise InputError(f"{ENV_VAR} must be an integer in [1, {MAX_THREADS}], got {text!r}")
        return value
    cores = _available_cores()
    if cores <= 2:
        return 1
    from joblib import cpu_count  # scikit-learn's dependency; counts physical cores, honours cgroups

    return max(1, min(cores, cpu_count(only_physical_cores=True)))


def threads_for(work: int | None) -> int:
    """Threads for a job of `work` elements: 1 below :data:`SMALL_WORK`, else :func:`default_threads`."""
    if work is not None and work < SMALL_WORK:
        return 1
    return default_threads()


_CONTROLLER: tuple[int, Any] | None = None


def _controller() -> Any:
    """A ``threadpoolctl.ThreadpoolController`` of the thread pools loaded so far. Finding them scans
    every shared library of the process (milliseconds), so the controller is kept and rebuilt only
    after more modules were imported (a new one may have brought a new pool: faiss, torch)."""
    global _CONTROLLER
    if _CONTROLLER is None or _CONTROLLER[0] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        _CONTROLLER = (len(sys.modules), controller)
    return _CONTROLLER[1]


@contextlib.contextmanager
def limit(threads: int | None = None, work: int | None = None) -> Iterator[int]:
    """Run the block with BLAS, OpenMP (faiss) and torch limited to `threads` CPU threads.

    With `threads` None the count is :func:`threads_for(work) <threads_for>`. torch is limited only when
    it is already imported (it is never imported here). Yields the count used; restores the previous
    counts on exit.
    """
    count = threads_for(work) if threads is None else threads
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_THREADS:
        raise InputError(f"threads must be an integer in [1, {MAX_THREADS}], got {count!r}")
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    with _controller().limit(limits=count):
        if torch is not None:
            torch.set_num_threads(count)
        try:
            yield count
        finally:
            if torch is not None and torch_before is not None:
                torch.set_num_threads(torch_before)
