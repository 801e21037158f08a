"""`coreselect demo` in the default environment against `OMP_NUM_THREADS=1`, side by side in one run.

Each repeat runs the two settings back to back, alternating which goes first, as fresh processes:
- default: no thread variable set (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS and
  CORESELECT_NUM_THREADS removed), i.e. what a new user gets;
- pinned: OMP_NUM_THREADS=1.
The target is default within 1.5x of pinned (median over repeats). With ``--baseline DIR`` (a checkout of
an earlier commit, e.g. ``git worktree add DIR COMMIT``) the same two settings also run that version's
demo (``PYTHONPATH=DIR/src``), in the same alternation. For context it also times numpy's SVD of the
demo's 1,797 x 64 digits matrix with one and with two OpenBLAS threads (threadpoolctl).

    python benchmarks/demo_threads.py --repeats 3 [--baseline DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from machine import describe, publish

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CORESELECT_NUM_THREADS")


def _demo_seconds(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "coreselect", "demo"], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def _svd_seconds(threads: int, repeats: int = 5) -> float:
    from sklearn.datasets import load_digits
    from threadpoolctl import threadpool_limits

    x = load_digits().data
    with threadpool_limits(limits=threads, user_api="blas"):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            np.linalg.svd(x, full_matrices=False)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", help="checkout of an earlier commit to time beside this one")
    args = parser.parse_args()
    load_start = os.getloadavg()
    base = {k: v for k, v in os.environ.items() if k not in _THREAD_VARS and k != "PYTHONPATH"}
    settings = {"default": base, "pinned": {**base, "OMP_NUM_THREADS": "1"}}
    baseline = ""
    if args.baseline:
        src = os.path.join(os.path.abspath(args.baseline), "src")
        commit = subprocess.run(["git", "-C", args.baseline, "rev-parse", "--short", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        baseline = f"commit {commit}"
        settings |= {f"{baseline}, default": {**base, "PYTHONPATH": src},
                     f"{baseline}, pinned": {**base, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}}
    times: dict[str, list[float]] = {name: [] for name in settings}
    for r in range(args.repeats):
        order = list(settings) if r % 2 == 0 else list(reversed(settings))
        for name in order:
            times[name].append(_demo_seconds(settings[name]))
    svd = {t: _svd_seconds(t) for t in (1, 2)}
    load_end = os.getloadavg()
    med = {name: statistics.median(v) for name, v in times.items()}
    ratio = med["default"] / med["pinned"]
    publish("demo-threads.md", [
        "# `coreselect demo`: default environment vs OMP_NUM_THREADS=1",
        "",
        f"- **Command**: `python benchmarks/demo_threads.py --repeats {args.repeats}"
        + (f" --baseline DIR` (DIR: a worktree of {baseline})" if baseline else "`"),
        f"- **Machine**: {describe()}",
        f"- **Date**: {datetime.date.today().isoformat()}",
        f"- **Load average** (1 min) at start {load_start[0]:.2f}, at end {load_end[0]:.2f}",
        "",
        "Each repeat runs `coreselect demo` (every method, 3 fractions, 5 seeds) as a fresh process in both",
        "settings back to back, alternating which goes first. *default*: no thread variable set, as a new",
        "user runs it; *pinned*: `OMP_NUM_THREADS=1`.",
        "",
        "| setting | runs (s) | median (s) |",
        "|---|---|---:|",
        *(f"| {name} | {', '.join(f'{t:.1f}' for t in v)} | {med[name]:.1f} |" for name, v in times.items()),
        "",
        f"**default / pinned = {ratio:.2f}** (target ≤ 1.5: {'met' if ratio <= 1.5 else 'NOT met'})"
        + (f"; {baseline}: {med[baseline + ', default'] / med[baseline + ', pinned']:.2f}." if baseline else "."),
        "",
        f"For context, numpy's SVD of the 1,797 × 64 digits matrix: {1e3 * svd[1]:.1f} ms with one OpenBLAS "
        f"thread, {1e3 * svd[2]:.1f} ms with two ({svd[2] / svd[1]:.0f}×); coreselect runs work of that size "
        "on one thread (`coreselect.threads`).",
        "",
    ])


if __name__ == "__main__":
    main()
