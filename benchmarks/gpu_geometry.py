"""The torch backend of the geometry against the numpy/faiss path, on the same arrays in one run.

    python benchmarks/gpu_geometry.py --device cuda              # the GPU check (the issue's sizes)
    python benchmarks/gpu_geometry.py --device cpu --scale 0.1   # torch on the CPU, at a tenth of the sizes

Workloads (at --scale 1): sensitivity Algorithm 1 on 1,000,000 × 128 (k = 1,000, s = 10,000); facility
location on 100,000 × 128, one class, 10%; boss on 1,000,000 × 128 in 10 classes, 10%; kcenter on
1,000,000 × 128 at 1%. Each runs with backend="numpy" and with backend="torch" on --device, alternating,
--repeats times; the table gives the median seconds, the ratio and whether the two subsets are identical.
Writes benchmarks/results/gpu-geometry-<device>.md with the command, machine, date and load.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

import numpy as np
from machine import describe, publish

import coreselect
from coreselect import threads


def blobs(n: int, d: int, centers: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(centers, d)).astype(np.float32)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        x[start:stop] = means[rng.integers(0, centers, stop - start)] + rng.standard_normal((stop - start, d),
                                                                                            dtype=np.float32)
    return x


def workloads(scale: float) -> list[tuple[str, dict]]:
    big, small = int(1_000_000 * scale), int(100_000 * scale)
    x_big, x_small = blobs(big, 128, 2000, 0), blobs(small, 128, 200, 1)
    labels = np.random.default_rng(2).integers(10, size=big)
    signals = {"el2n": np.random.default_rng(3).random(big), "aum": np.random.default_rng(4).normal(size=big)}
    w = np.random.default_rng(5).normal(size=128).astype(np.float32) / np.sqrt(128)
    oracle = np.abs(x_big @ w).astype(np.float64)
    return [
        (f"sensitivity, {big:,} × 128, k = {max(1, int(1000 * scale)):,}, s = {int(10_000 * scale):,}",
         {"method": "sensitivity", "features": x_big, "oracle": oracle, "size": int(10_000 * scale),
          "k": max(1, int(1000 * scale))}),
        (f"facility-location, {small:,} × 128, one class, 10%",
         {"method": "facility-location", "features": x_small, "fraction": 0.1}),
        (f"boss, {big:,} × 128, 10 classes, 10%",
         {"method": "boss", "features": x_big, "labels": labels, "signals": signals, "fraction": 0.1}),
        (f"kcenter, {big:,} × 128, 1%", {"method": "kcenter", "features": x_big, "fraction": 0.01}),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for both paths")
    args = ap.parse_args()
    os.environ[threads.ENV_VAR] = str(args.threads)
    load_start = os.getloadavg()[0]
    started = datetime.datetime.now().isoformat(timespec="minutes")
    warm = blobs(2000, 128, 10, 9)  # imports, kernels and thread pools of both paths, before any timing
    for backend in ("numpy", "torch"):
        coreselect.select("kcenter", features=warm, size=20, backend=backend,
                          device="cpu" if backend == "numpy" else args.device)
    rows = []
    for title, job in workloads(args.scale):
        job = dict(job)
        method = job.pop("method")
        seconds: dict[str, list[float]] = {"numpy": [], "torch": []}
        subsets = {}
        for _ in range(args.repeats):
            for backend in ("numpy", "torch"):
                device = "cpu" if backend == "numpy" else args.device
                t0 = time.perf_counter()
                subsets[backend] = coreselect.select(method, seed=0, backend=backend, device=device, **job)
                seconds[backend].append(time.perf_counter() - t0)
        a, b = (float(np.median(seconds[k])) for k in ("numpy", "torch"))
        same = np.array_equal(subsets["numpy"].indices, subsets["torch"].indices) and np.allclose(
            subsets["numpy"].weights, subsets["torch"].weights, rtol=1e-9)
        rows.append(f"| {title} | {a:.1f} | {b:.1f} | {a / b:.2f}× | {'yes' if same else 'no'} |")
        print(rows[-1], flush=True)
    lines = [
        f"# The torch backend of the geometry vs numpy/faiss ({args.device})",
        "",
        f"Command: `python benchmarks/gpu_geometry.py --device {args.device} --scale {args.scale} "
        f"--repeats {args.repeats} --threads {args.threads}`",
        "",
        f"Machine: {describe()}. Date: {started}. 1-min load average: {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end. {args.threads} CPU thread(s) for both paths.",
        "",
        "Median seconds of the whole `coreselect.select` call over the repeats (alternating); 'identical':",
        "the same indices and weights from both paths.",
        "",
        f"| workload | numpy/faiss (s) | torch on {args.device} (s) | speed-up | identical |",
        "|---|---:|---:|---:|---|",
        *rows,
        "",
        *(["Torch on the CPU is the comparison that can be run without a GPU: it checks that both paths give",
           "the same subsets on the same arrays, not speed (on a CPU the torch path is not meant to be faster).",
           "The CUDA timings need `--device cuda` on a machine with a GPU.", ""] if args.device == "cpu" else []),
    ]
    publish(f"gpu-geometry-{args.device}.md", lines)


if __name__ == "__main__":
    main()
