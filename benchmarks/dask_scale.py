"""Scale-out benchmarks for the Dask backend (results: benchmarks/results/dask-scale.md).

    # .npy shards on disk (written once), a method on a 2-worker LocalCluster or on one machine
    python benchmarks/dask_scale.py shards --dir DIR --rows 10000000 --method sensitivity --k 1000 --s 100000 --path cluster
    python benchmarks/dask_scale.py shards --dir DIR --rows 10000000 --method sensitivity --k 1000 --s 100000 --path single
    python benchmarks/dask_scale.py shards --dir DIR --rows 10000000 --method boss --fraction 0.01 --path cluster
    python benchmarks/dask_scale.py shards --dir DIR --rows 10000000 --method semdedup --fraction 0.5 --path cluster
    # a Dask array generated chunk by chunk from a seed, never materialised
    python benchmarks/dask_scale.py generated --rows 100000000 --k 1000 --s 100000
    # GreeDi against single-machine greedy, facility location on one class
    python benchmarks/dask_scale.py greedi --rows 200000 --parts 4 --fraction 0.01

Peak memory: on the cluster, the largest resident set of each worker process, polled every 0.2 s; on one
machine, the process's peak resident set (``ru_maxrss``). Each path runs in its own process.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import threading
import time
from pathlib import Path
from typing import Self

import numpy as np
from machine import describe

D = 128
SHARD_ROWS = 1_000_000  # 512 MB per float32 shard of width 128


def _blob_block(block_id: int, rows: int, d: int, seed: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a mixture of 64 Gaussians (centers fixed by `seed`), and their labels (class = center % classes)."""
    centers = np.random.default_rng(seed).normal(scale=4.0, size=(64, d)).astype(np.float32)
    rng = np.random.default_rng([seed, block_id])
    which = rng.integers(64, size=rows)
    x = centers[which] + rng.standard_normal((rows, d), dtype=np.float32)
    return x, which % classes


def write_shards(directory: Path, rows: int, shard_rows: int, classes: int = 10, seed: int = 0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    n_shards = -(-rows // shard_rows)
    labels, losses = [], []
    for j in range(n_shards):
        size = min(shard_rows, rows - j * shard_rows)
        path = directory / f"part-{j:04d}.npy"
        x, y = _blob_block(j, size, D, seed, classes)
        if not path.exists():
            np.save(path, x)
        labels.append(y)
        losses.append(np.linalg.norm(x, axis=1) / 10)
    np.save(directory / "labels.npy", np.concatenate(labels))
    np.save(directory / "loss.npy", np.concatenate(losses))
    rng = np.random.default_rng(seed + 1)
    np.save(directory / "aum.npy", rng.normal(size=rows))
    np.save(directory / "el2n.npy", rng.random(rows))


class PeakMemory:
    """Largest RSS (bytes) of every worker of `client`, polled in a background thread."""

    def __init__(self, client, every: float = 0.2) -> None:
        self.client, self.every = client, every
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        def rss() -> int:
            return psutil.Process().memory_info().rss

        while not self._stop.is_set():
            try:
                for w, v in self.client.run(rss).items():
                    self.peak[w] = max(self.peak.get(w, 0), v)
            except (OSError, TimeoutError, KeyError):  # a worker restarting mid-poll
                continue
            self._stop.wait(self.every)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _digest(subset) -> str:
    """A short fingerprint of the chosen indices and weights (equal subsets, equal digests)."""
    import hashlib

    return hashlib.sha256(subset.indices.tobytes() + subset.weights.tobytes()).hexdigest()[:12]


def _inputs(directory: Path, method: str) -> dict:
    if method == "sensitivity":
        return {"oracle": np.load(directory / "loss.npy")}
    if method == "semdedup":  # the embeddings alone
        return {}
    return {"labels": np.load(directory / "labels.npy"),
            "signals": {"aum": np.load(directory / "aum.npy"), "el2n": np.load(directory / "el2n.npy")}}


def _params(args: argparse.Namespace) -> dict:
    if args.method == "sensitivity":
        return {"size": args.s, "k": args.k}
    return {"fraction": args.fraction}


def run_shards(args: argparse.Namespace) -> dict:
    import coreselect

    directory = Path(args.dir)
    if not (directory / "loss.npy").exists():
        t = time.perf_counter()
        write_shards(directory, args.rows, args.shard_rows)
        print(f"wrote shards in {time.perf_counter() - t:.0f} s", flush=True)
    inputs = _inputs(directory, args.method)
    pattern = str(directory / "part-*.npy")
    if args.path == "single":
        t = time.perf_counter()
        shards = [np.load(p, mmap_mode="r") for p in sorted(directory.glob("part-*.npy"))]
        x = np.empty((sum(a.shape[0] for a in shards), D), dtype=np.float32)  # one copy in memory, no more
        np.concatenate(shards, out=x)
        load = time.perf_counter() - t
        t = time.perf_counter()
        sub = coreselect.select(args.method, features=x, seed=0, **inputs, **_params(args))
        wall = time.perf_counter() - t
        return {"path": "single machine", "load_s": load, "select_s": wall, "size": len(sub), "digest": _digest(sub),
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    from coreselect.distributed import connect, open_features

    with connect(workers=args.workers, memory_limit=args.worker_memory) as client:
        feats = open_features(pattern)
        with PeakMemory(client) as mem:
            t = time.perf_counter()
            sub = coreselect.select(args.method, features=feats.array, seed=0, **inputs, **_params(args))
            wall = time.perf_counter() - t
    return {"path": f"{args.workers}-worker LocalCluster", "select_s": wall, "size": len(sub), "digest": _digest(sub),
            "peak_rss_gb_per_worker": sorted(v / 2**30 for v in mem.peak.values()),
            "client_peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def _generated(block: np.ndarray, block_id=None, seed: int = 0) -> np.ndarray:
    return _blob_block(block_id[0], block.shape[0], block.shape[1], seed, 1)[0]


def run_generated(args: argparse.Namespace) -> dict:
    import dask.array as da

    import coreselect
    from coreselect.distributed import connect

    chunks = (min(args.chunk, args.rows), D)
    template = da.empty((args.rows, D), chunks=chunks, dtype=np.float32)
    x = template.map_blocks(_generated, dtype=np.float32, seed=0)

    def loss(idx: np.ndarray) -> np.ndarray:  # a per-example loss that needs no pass over the data
        return 1.0 + (np.asarray(idx) * 2654435761 % 1000) / 1000

    with connect(workers=args.workers, memory_limit=args.worker_memory) as client, PeakMemory(client) as mem:
        t = time.perf_counter()
        sub = coreselect.select("sensitivity", features=x, oracle=loss, size=args.s, k=args.k, seed=0)
        wall = time.perf_counter() - t
    return {"rows": args.rows, "bytes_gb": args.rows * D * 4 / 2**30, "select_s": wall, "size": len(sub),
            "n_queries": sub.n_queries, "timings": sub.timings,
            "peak_rss_gb_per_worker": sorted(v / 2**30 for v in mem.peak.values()),
            "client_peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_greedi(args: argparse.Namespace) -> dict:
    import dask
    import dask.array as da

    from coreselect.distributed.perclass import greedi
    from coreselect.geometry.facility import dense_value
    from coreselect.methods.facility_location import GraphOptions

    x, _ = _blob_block(0, args.rows, D, 0, 1)
    m = round(args.fraction * args.rows)
    opts = GraphOptions()
    t = time.perf_counter()
    single, _ = opts.select(x, m, np.random.default_rng(0))
    t_single = time.perf_counter() - t
    rows = np.arange(args.rows)
    with dask.config.set(scheduler="threads", num_workers=args.workers):
        t = time.perf_counter()
        chosen, parts = greedi(da.from_array(x, chunks=(args.rows // args.parts, D)), rows, m, None, opts,
                               np.random.default_rng(0), args.parts)
        t_greedi = time.perf_counter() - t
    f_single, f_greedi = dense_value(x, single), dense_value(x, chosen)
    return {"rows": args.rows, "m": m, "parts": args.parts, "F_single": f_single, "F_greedi": f_greedi,
            "ratio": f_greedi / f_single, "F_round2": parts["round2"], "F_best_round1": parts["best_round1"],
            "single_s": t_single, "greedi_s": t_greedi}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("case", choices=["shards", "generated", "greedi"])
    p.add_argument("--dir", default="shards")
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--method", default="sensitivity")
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--s", type=int, default=100_000)
    p.add_argument("--fraction", type=float, default=0.01)
    p.add_argument("--path", choices=["cluster", "single"], default="cluster")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--worker-memory", default="4GB")
    p.add_argument("--chunk", type=int, default=500_000, help="rows per chunk of the generated array")
    p.add_argument("--shard-rows", type=int, default=SHARD_ROWS, help="rows per .npy shard")
    p.add_argument("--parts", type=int, default=4)
    args = p.parse_args()
    load0 = os.getloadavg()[0]
    started = datetime.datetime.now().isoformat(timespec="minutes")
    out = {"shards": run_shards, "generated": run_generated, "greedi": run_greedi}[args.case](args)
    out.update({"load_start": load0, "load_end": os.getloadavg()[0], "args": vars(args), "machine": describe(),
                "date": started})
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main()
