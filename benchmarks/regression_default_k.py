"""`regression-sensitivity` with its defaults (A ∪ S: k = medoid_share · budget medoids, at most half the
rows k-medoids clusters, plus draws; ζ → ∞) at sizes where the old default k = ⌈n/10⌉ failed (above
n = 81,920): wall time and peak memory, one thread.

Each size runs in a fresh process pinned to one thread (OMP/OpenBLAS/MKL environment variables, and
threadpoolctl inside), so its peak resident memory (VmHWM) is its own. Synthetic data: n rows of d Gaussian
features in float32 plus a linear target with noise.

    python benchmarks/regression_default_k.py --n 300000 1000000
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from machine import describe, publish

ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def vm_hwm_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def child(n: int, d: int, fraction: float) -> dict:
    """One run in this process: generate the data, select with defaults, report time and memory."""
    from threadpoolctl import threadpool_limits

    import coreselect
    from coreselect.methods.regression import default_k

    rng = np.random.default_rng(0)
    a = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        a[start:stop] = rng.standard_normal((stop - start, d), dtype=np.float32)
    b = a @ rng.normal(size=d).astype(np.float32) + rng.standard_normal(n, dtype=np.float32)
    data_mib = (a.nbytes + b.nbytes) / 2**20
    before = vm_hwm_mib()
    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        subset = coreselect.select("regression-sensitivity", features=a, targets=b, fraction=fraction, seed=0)
        wall = time.perf_counter() - t0
    budget = round(fraction * n)
    k = default_k(n, budget)
    return {"n": n, "d": d, "k": k, "draws": budget - k, "distinct": len(subset), "labels": subset.n_queries,
            "weight_sum": float(subset.weights.sum()), "wall_s": wall, "peak_mib": vm_hwm_mib(),
            "before_mib": before, "data_mib": data_mib}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[300_000, 1_000_000])
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--fraction", type=float, default=0.01)
    ap.add_argument("--name", default="regression-default-k.md", help="results file under benchmarks/results")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.d, args.fraction)))
        return
    load_start = os.getloadavg()[0]
    started = datetime.datetime.now().isoformat(timespec="minutes")
    runs = []
    for n in args.n:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--d", str(args.d),
                              "--fraction", str(args.fraction)], env={**os.environ, **ONE_THREAD},
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    load_end = os.getloadavg()[0]
    sizes = " ".join(str(n) for n in args.n)
    lines = [
        "# regression-sensitivity with its default k at large n",
        "",
        f"Command: `python benchmarks/regression_default_k.py --n {sizes} --d {args.d} --fraction {args.fraction}`  ",
        f"Date: {started}  ",
        f"Machine: {describe()}; one thread; 1-min load average {load_start:.2f} at start, {load_end:.2f} at end.",
        "",
        f"`coreselect.select(\"regression-sensitivity\", features=A, targets=b, fraction={args.fraction}, seed=0)` "
        f"with the method's defaults on n × {args.d} float32 Gaussian rows and a linear target with noise, each "
        "size in a fresh process. The label budget (`fraction` · n) is split into k medoids (half of it, at most "
        "half the rows FasterPAM clusters: all n up to 8,192, then a uniform sample of 8,192 rows, so k ≤ 4,096 "
        "at any n) and s draws over the other rows (the former k = ⌈n/10⌉ failed above n = 81,920).",
        "",
        "| n | labels (k + s) | k | draws s | distinct rows | weight sum / n | wall time | peak RSS | of which data |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['n']:,} | {r['labels']:,} | {r['k']:,} | {r['draws']:,} | {r['distinct']:,} | "
              f"{r['weight_sum'] / r['n']:.3f} | {r['wall_s']:.1f} s | {r['peak_mib']:.0f} MiB | {r['data_mib']:.0f} MiB |"
              for r in runs]
    lines += [
        "",
        "Peak RSS is the whole process's high-water mark (Python, NumPy, faiss, the generated data); beyond the "
        "data the method holds the 8,192² float32 dissimilarity matrix of the clustered sample (256 MiB) and a "
        "few (n,) vectors. The medoids weigh 1 each and the draws 1/(s·p): the weights sum to n in expectation, "
        "not exactly.",
        "",
    ]
    publish(args.name, lines)


if __name__ == "__main__":
    main()
