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

**Algorithm 3** (``rounds = r``): the D^z seeding order is computed on the client from the same uniform
sample the single-machine path seeds on (same seed ⇒ the same order, tested); round i queries the next k
rows, each chunk moves a row to a new queried row where that is nearer (one O(n·k·d) pass per round, on
top of the persisted assignment); the i.i.d. sample of the last round is drawn and returned (the earlier
rounds' samples, which one machine's ``sensitivity_rounds`` also returns, are not drawn).

The same seed and chunking give the same subset whatever the number of workers. Cost: 3 passes of
O(n·k·d) for Algorithm 1 (refinement, snap, assignment), r for Algorithm 3, plus O(n) passes over the
persisted assignment; per worker, its chunks plus O(k·d) state and 16 bytes per row it holds.
"""

from __future__ import annotations

import time

import dask.array as da
import numpy as np

from coreselect.budget import Budget
from coreselect.distributed import backend
from coreselect.geometry.clustering import dz_seeding_order, kmeans_pp, kmedian, seeding_rows
from coreselect.methods.sensitivity import Sensitivity, as_oracle, check_sizes, default_k, lambda_from_sums
from coreselect.oracle import Oracle
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
        v = assignment(x, rows, z)[:, 1]
        extra = backend.weighted_sample(_rows_not_in(x, rows, v), missing, rng)
        rows = np.sort(np.concatenate([rows, extra]))
    return rows


def seeding_order(x: da.Array, m: int, z: int, rng: np.random.Generator) -> np.ndarray:
    """Algorithm 3's prefix order: `m` rows in D^z seeding order, computed on the client from a uniform
    sample of :func:`~coreselect.geometry.clustering.seeding_rows` rows — the sample and the order the
    single-machine :func:`~coreselect.geometry.clustering.dz_seeding_order` draws for the same `rng`."""
    rows, sample = backend.sample_rows(x, seeding_rows(m), rng)
    return rows[dz_seeding_order(sample, m, z, rng)]


def _merge_block(old: np.ndarray, new: np.ndarray, rows: np.ndarray, shift: int,
                 block_info: dict | None = None) -> np.ndarray:
    """Rows nearer to a newly queried row move to it (positions of the new rows start at `shift`); a newly
    queried row always represents itself."""
    take = new[:, 1] < old[:, 1]
    local = rows - block_info[0]["array-location"][0][0]
    take[local[(local >= 0) & (local < old.shape[0])]] = True
    out = old.copy()
    out[take, 0] = new[take, 0] + shift
    out[take, 1] = new[take, 1]
    return out


def assignment(x: da.Array, rows: np.ndarray, z: int, previous: da.Array | None = None,
               shift: int = 0) -> da.Array:
    """Per row `[position of its nearest queried row, ‖e − A(e)‖^z]` (persisted, 16 bytes a row) for the
    queried `rows`; with `previous` (the assignment to `shift` earlier rows), each row keeps the nearer of
    its old representative and its nearest new one. One O(n·|rows|·d) pass."""
    reps = np.ascontiguousarray(x[rows].compute(), dtype=np.float32)
    a = backend.assign(x, reps, rows, z)
    if previous is not None:
        a = da.map_blocks(_merge_block, previous, a, np.asarray(rows), shift, dtype=np.float64)
    return a.persist()


def _stats_block(a: np.ndarray, k: int) -> np.ndarray:
    """Per chunk: how many rows each queried row represents, and Σ v (the last entry)."""
    return np.append(np.bincount(a[:, 0].astype(np.int64), minlength=k), a[:, 1].sum())[None, :]


def _q_block(a: np.ndarray, values: np.ndarray, lam: float) -> np.ndarray:
    return values[a[:, 0].astype(np.int64)] + lam * a[:, 1]


def mass(a: da.Array, values: np.ndarray, lam: float | None) -> tuple[da.Array, float, float]:
    """``q = ℓ̂ + λ v`` per row (lazy) from an :func:`assignment` and the queried rows' losses `values`;
    returns `(q, λ used, Φ_z = Σ v)`. λ = None: :func:`~coreselect.methods.sensitivity.lambda_from_sums`
    of Σ ℓ̂ (from the per-chunk cluster sizes) and Σ v, both reductions."""
    k = values.size
    stats = a.map_blocks(_stats_block, k, chunks=((1,) * len(a.chunks[0]), (k + 1,)),
                         dtype=np.float64).compute().sum(axis=0)
    cost = float(stats[-1])
    lam = lambda_from_sums(float(values @ stats[:-1]), cost) if lam is None else lam
    return a.map_blocks(_q_block, values, lam, drop_axis=1, dtype=np.float64), float(lam), cost


def sampling_mass(x: da.Array, rows: np.ndarray, values: np.ndarray, z: int,
                  lam: float | None) -> tuple[da.Array, float, float]:
    """:func:`mass` for the queried `rows` alone (Algorithm 1 steps 2–3)."""
    return mass(assignment(x, rows, z), values, lam)


def _draw(q: da.Array, s: int, rng: np.random.Generator, oracle: Oracle, lam: float, cost: float) -> Subset:
    n = q.shape[0]
    if not float(q.sum().compute()) > 0:
        q = da.ones(n, chunks=q.chunks[0])  # ℓ̂ + λv = 0 everywhere: uniform, as on one machine
    draws, qd, total = backend.iid_draws(q, s, rng)
    return Subset.from_draws(draws, total / (s * qd), n, n_queries=oracle.n_queries,
                             params={"lam_used": lam, "clustering_cost": cost})


def select(method: Sensitivity, x: da.Array, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
    """Algorithm 1 (Algorithm 3 when ``method.rounds > 1``: the last round's Subset) on the chunks of
    `x`; `pool` carries the oracle (its features are not read)."""
    n, s, z, k = x.shape[0], budget.total, method.z, method.k
    k = default_k(s, n) if k is None else k
    check_sizes(n, s, k, method.rounds, z, method.lam)
    oracle = as_oracle(pool.oracle, n)
    t0 = time.perf_counter()
    if method.rounds == 1:
        rows = representatives(x, k, z, rng)
        values = oracle(rows)
        q, lam, cost = sampling_mass(x, rows, values, z, method.lam)
    else:
        order = seeding_order(x, k * method.rounds, z, rng)
        a, values = None, np.empty(0)
        for i in range(method.rounds):  # only the last round's sample is drawn: it is the one returned
            new = order[i * k:(i + 1) * k]
            a = assignment(x, new, z, a, values.size)
            values = np.concatenate([values, oracle(new)])
            q, lam, cost = mass(a, values, method.lam)
    t1 = time.perf_counter()
    out = _draw(q, s, rng, oracle, lam, cost)
    out.timings.update({"cluster": t1 - t0, "sample": time.perf_counter() - t1})
    return out
