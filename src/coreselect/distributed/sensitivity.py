"""Clustering-based sensitivity sampling (Axiotis et al. 2024, arXiv 2402.17327, Algorithm 1) on chunks.

The same algorithm as :mod:`coreselect.methods.sensitivity`, with each O(n) step done per chunk:

1. **Clustering.** k-means: k-means++ seeding and faiss Lloyd
   (:func:`coreselect.geometry.clustering.kmeans_pp`, as on one machine) on a uniform sample of
   ``SAMPLE_PER_CENTER · k`` rows gathered to the client, then ``LLOYD_PASSES`` Lloyd steps over all rows
   by a map-reduce of per-chunk partial sums (:func:`backend.lloyd`). Why not k-means||: the
   single-machine path already trains faiss on at most 256·k sampled rows (its
   ``max_points_per_centroid``), so the sample gives the same clustering quality at one gather of
   O(256·k·d); k-means|| needs O(log n) passes plus a weighted re-clustering to reach an O(1)
   approximation the sample already reaches, while each Lloyd pass here costs one O(n·k·d) pass and can
   only lower the cost. k-median (z = 1) uses :func:`coreselect.geometry.clustering.kmedian` on the
   sample, without refinement.
2. **Snapping.** Each center goes to the nearest row of its Voronoi cell by a per-chunk assignment and a
   global per-center minimum (ties: the lowest row). When a cell is empty, the missing rows are drawn by
   D^z sampling among the rows not taken (Efraimidis–Spirakis keys per chunk), as :func:`~coreselect.geometry.clustering.representatives`
   does on one machine.
3. **Queries.** The oracle is asked for the k rows, once, from the client.
4. **Probabilities.** Per chunk: the nearest queried row of every row and ``v = ‖e − A(e)‖^z``
   (persisted: 16 bytes a row); ``q = ℓ̂ + λ v``; the automatic λ is
   :func:`~coreselect.methods.sensitivity.balanced_lambda` of the two sums Σ ℓ̂ (from the per-chunk
   cluster sizes) and Σ v, both reductions, as is the normaliser Σ q.
5. **Draws.** s i.i.d. draws split over chunks by a multinomial on chunk masses, then drawn per chunk
   (:func:`backend.iid_draws`) — exactly the law of a global i.i.d. draw; weights ``Σq / (s q_e)``.

The same seed and chunking give the same subset whatever the number of workers. Algorithm 3 (rounds > 1)
is not distributed. Cost: 3 passes of O(n·k·d) (refinement, snap, assignment) plus O(n) passes over the
persisted assignment; per worker, its chunks plus O(k·d) state and 16 bytes per row it holds.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import dask.array as da
import numpy as np

from coreselect.budget import Budget
from coreselect.distributed import backend
from coreselect.errors import InputError
from coreselect.geometry.clustering import kmeans_pp, kmedian
from coreselect.methods.sensitivity import Sensitivity, _as_oracle, _check, balanced_lambda, default_k
from coreselect.pool import Pool
from coreselect.subset import Subset

#: Rows sampled per center for the client-side faiss k-means (faiss's own max_points_per_centroid).
SAMPLE_PER_CENTER = 256
#: Lloyd steps over all rows after the sample k-means.
LLOYD_PASSES = 1


def centers_of(x: da.Array, k: int, z: int, rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """k cluster centers: k-means (z = 2; sample + Lloyd passes) or k-median (z = 1; sample only)."""
    _, sample = backend.sample_rows(x, SAMPLE_PER_CENTER * k, rng)
    if z == 1:
        return kmedian(sample, k, rng), []
    centers = kmeans_pp(sample, k, rng, max_points_per_centroid=SAMPLE_PER_CENTER)
    return backend.lloyd(x, centers, LLOYD_PASSES)


def _rows_not_in(x: da.Array, rows: np.ndarray, v: da.Array) -> da.Array:
    taken = da.isin(da.arange(x.shape[0], chunks=x.chunks[0]), rows)
    return da.where(taken, -1.0, v)


def representatives(x: da.Array, k: int, z: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct rows (sorted): the snapped centers, completed by D^z sampling when a cell is empty."""
    centers, _ = centers_of(x, k, z, rng)
    rows = backend.snap(x, centers)
    rows = np.unique(rows[rows >= 0])
    missing = k - rows.size
    if missing > 0:
        reps = x[rows].compute()
        v = backend.assign(x, reps, rows, z)[:, 1]
        extra = backend.weighted_sample(_rows_not_in(x, rows, v), missing, rng)
        rows = np.sort(np.concatenate([rows, extra]))
    return rows


def _stats_block(a: np.ndarray, k: int) -> np.ndarray:
    """Per chunk: how many rows each queried row represents, and Σ v (the last entry)."""
    return np.append(np.bincount(a[:, 0].astype(np.int64), minlength=k), a[:, 1].sum())[None, :]


def _q_block(a: np.ndarray, values: np.ndarray, lam: float) -> np.ndarray:
    return values[a[:, 0].astype(np.int64)] + lam * a[:, 1]


def sampling_mass(x: da.Array, rows: np.ndarray, values: np.ndarray, z: int,
                  lam: float | None) -> tuple[da.Array, float, float]:
    """``q = ℓ̂ + λ v`` per row (lazy, on a persisted assignment) for queried `rows` with losses `values`;
    returns `(q, λ used, Φ_z = Σ v)`. λ = None: :func:`~coreselect.methods.sensitivity.balanced_lambda`."""
    reps = np.ascontiguousarray(x[rows].compute(), dtype=np.float32)
    a = backend.assign(x, reps, rows, z).persist()
    stats = a.map_blocks(_stats_block, rows.size, chunks=((1,) * len(a.chunks[0]), (rows.size + 1,)),
                         dtype=np.float64).compute().sum(axis=0)
    cost = float(stats[-1])
    # balanced_lambda reads only Σ ℓ̂ and Σ v of its proxy: hand it those two sums
    sums = SimpleNamespace(lhat=np.array([values @ stats[:-1]]), cost=cost)
    lam = balanced_lambda(sums) if lam is None else lam
    return a.map_blocks(_q_block, values, lam, drop_axis=1, dtype=np.float64), float(lam), cost


def select(method: Sensitivity, x: da.Array, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
    """Algorithm 1 on the chunks of `x`; `pool` carries the oracle (its features are not read)."""
    if method.rounds != 1:
        raise InputError("sensitivity with rounds > 1 (Algorithm 3) runs on one machine only; use rounds=1")
    n, s = x.shape[0], budget.total
    k = default_k(s, n) if method.k is None else method.k
    _check(n, s, k, method.rounds, method.z, method.lam)
    oracle = _as_oracle(pool.oracle, n)
    t0 = time.perf_counter()
    rows = representatives(x, k, method.z, rng)
    q, lam, cost = sampling_mass(x, rows, oracle(rows), method.z, method.lam)
    t1 = time.perf_counter()
    if not float(q.sum().compute()) > 0:
        q = da.ones(n, chunks=x.chunks[0])  # ℓ̂ + λv = 0 everywhere: uniform, as on one machine
    draws, qd, total = backend.iid_draws(q, s, rng)
    out = Subset.from_draws(draws, total / (s * qd), n, n_queries=oracle.n_queries,
                            params={"lam_used": lam, "clustering_cost": cost})
    out.timings.update({"cluster": t1 - t0, "sample": time.perf_counter() - t1})
    return out
