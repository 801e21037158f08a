"""The chunked backend of :mod:`coreselect.geometry`: per-chunk kernels (the single-machine geometry
functions applied to one chunk) combined by reductions whose order is fixed by the chunking alone.

A chunk task receives one row block of the features plus O(k·d) broadcast state and returns O(k·d) or
O(rows) numbers, so a worker holds its chunks plus that state and the client never sees the features.
Every reduction is a binary tree over the chunks in row order: the result depends on the seed and the
chunking, never on how many workers ran it or in which order tasks finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp

from coreselect.geometry.kmeans import cell_minima
from coreselect.geometry.neighbors import nearest


def offsets(x: da.Array) -> np.ndarray:
    """Row offset of every chunk, plus n at the end."""
    return np.concatenate([[0], np.cumsum(x.chunks[0])]).astype(np.int64)


def blocks(x: da.Array) -> list[Any]:
    """One delayed object per row chunk (the columns are a single chunk)."""
    return list(x.to_delayed().reshape(-1))


def tree_reduce(parts: Sequence[Any], combine: Callable[[Any, Any], Any]) -> Any:
    """Combine delayed `parts` pairwise, left to right, level by level (a fixed, deterministic order)."""
    level = list(parts)
    fn = dask.delayed(combine, pure=True)
    while len(level) > 1:
        nxt = [fn(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def sample_rows(x: da.Array, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`size` distinct rows drawn uniformly (sorted indices) and their features, gathered to the caller."""
    n = x.shape[0]
    rows = np.arange(n) if size >= n else np.sort(rng.choice(n, size, replace=False))
    return rows, np.ascontiguousarray(x[rows].compute(), dtype=np.float32)


# ---- Lloyd refinement: assignment + partial sums per chunk, summed over chunks -----------------------

def _partial_sums(block: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    lab, d2 = nearest(block, centers)
    k = centers.shape[0]
    onehot = sp.csr_matrix((np.ones(lab.size), (lab, np.arange(lab.size))), shape=(k, lab.size))
    return onehot @ block.astype(np.float64), np.bincount(lab, minlength=k).astype(np.float64), float(d2.sum())


def _add(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def lloyd(x: da.Array, centers: np.ndarray, passes: int) -> tuple[np.ndarray, list[float]]:
    """`passes` Lloyd steps over all rows: per chunk the sums and counts of the rows nearest each center,
    summed over chunks, then ``c ← sum / count`` (an empty cluster keeps its center).

    Returns the centers and the k-means cost measured at the start of each pass. Time O(passes·n·k·d),
    memory O(k·d) per task beyond its chunk.
    """
    costs = []
    for _ in range(passes):
        c = dask.delayed(centers.astype(np.float32))
        parts = [dask.delayed(_partial_sums, pure=True)(b, c) for b in blocks(x)]
        sums, counts, cost = dask.compute(tree_reduce(parts, _add))[0]
        full = counts > 0
        centers = centers.copy()
        centers[full] = (sums[full] / counts[full, None]).astype(np.float32)
        costs.append(cost)
    return centers, costs


# ---- snapping centers to data rows ------------------------------------------------------------------

def _snap_block(block: np.ndarray, centers: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    labels, d2 = nearest(block, centers)  # exact float64 distances: the same wherever the chunk runs
    arg, best = cell_minima(labels, d2, centers.shape[0])
    return np.where(arg >= 0, arg + offset, -1), best


def _closer(a: tuple, b: tuple) -> tuple:
    """Per center the nearer candidate; `a` covers lower rows than `b`, so ties keep the lower row."""
    take = b[1] < a[1]
    return np.where(take, b[0], a[0]), np.where(take, b[1], a[1])


def snap(x: da.Array, centers: np.ndarray) -> np.ndarray:
    """For each center the global index of the nearest row of its Voronoi cell (ties: the lowest row),
    -1 for an empty cell: :func:`~coreselect.geometry.kmeans.snap_to_cells` per chunk, then the per-center
    minimum over chunks. O(n·k·d), one pass."""
    c = dask.delayed(np.ascontiguousarray(centers, dtype=np.float32))
    parts = [dask.delayed(_snap_block, pure=True)(b, c, int(o)) for b, o in zip(blocks(x), offsets(x))]
    return dask.compute(tree_reduce(parts, _closer))[0][0]


# ---- nearest queried row, per chunk ------------------------------------------------------------------

def _assign_block(block: np.ndarray, reps: np.ndarray, rows: np.ndarray, offset: int,
                  z: int) -> np.ndarray:
    lab, d2 = nearest(block, reps)  # exact float64 distances: the same wherever the chunk runs
    v = d2 if z == 2 else np.sqrt(d2)
    local = rows - offset
    inside = (local >= 0) & (local < block.shape[0])
    lab[local[inside]] = np.flatnonzero(inside)  # a queried row is its own representative, at distance 0
    v[local[inside]] = 0
    out = np.empty((block.shape[0], 2))
    out[:, 0], out[:, 1] = lab, v
    return out


def assign(x: da.Array, reps: np.ndarray, rows: np.ndarray, z: int) -> da.Array:
    """Per row: `[position of its nearest row of reps, ‖e − A(e)‖^z]` as an (n, 2) float64 Dask array.

    `rows` are the global indices of `reps` (they are assigned to themselves). Lazy; O(n·k·d) when computed.
    """
    r = dask.delayed(np.ascontiguousarray(reps, dtype=np.float32))
    idx = dask.delayed(np.asarray(rows, dtype=np.int64))
    parts = [da.from_delayed(dask.delayed(_assign_block, pure=True)(b, r, idx, int(o), z),
                             shape=(size, 2), dtype=np.float64)
             for b, o, size in zip(blocks(x), offsets(x), x.chunks[0])]
    return da.concatenate(parts, axis=0)


# ---- i.i.d. draws split over chunks -------------------------------------------------------------------

def _mass(q: np.ndarray) -> np.ndarray:
    return np.array([q.sum()])


def _draw_block(q: np.ndarray, count: int, seed: int, offset: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pos = rng.choice(q.size, size=count, p=q / q.sum())
    out = np.empty((count, 2))
    out[:, 0], out[:, 1] = pos + offset, q[pos]
    return out


def iid_draws(q: da.Array, s: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """`s` i.i.d. draws of rows with probability ``q_e / Σ q`` (q ≥ 0, chunked like the rows).

    Exactly a global i.i.d. draw: the number of draws landing in chunk j is Multinomial(s, M_j / Σ M) with
    M_j the chunk's mass, and given those counts the draws inside a chunk are i.i.d. from ``q / M_j``; so
    chunk j draws its count with its own generator, seeded from `rng`. Returns `(rows, q at the rows, Σ q)`
    (rows in chunk order). Two light passes over `q`: the masses, then the draws.
    """
    masses = q.map_blocks(_mass, chunks=((1,) * len(q.chunks[0]),), dtype=np.float64).compute()
    total = float(masses.sum())
    counts = rng.multinomial(s, masses / total)
    seeds = rng.integers(2**63 - 1, size=counts.size)
    starts = offsets(q)
    parts = [dask.delayed(_draw_block, pure=True)(b, int(c), int(sd), int(o))
             for b, c, sd, o in zip(q.to_delayed().reshape(-1), counts, seeds, starts) if c > 0]
    got = np.concatenate(dask.compute(*parts)) if parts else np.empty((0, 2))
    return got[:, 0].astype(np.int64), got[:, 1], total


# ---- weighted sampling without replacement (Efraimidis & Spirakis 2006), per chunk --------------------

def _es_block(w: np.ndarray, m: int, seed: int, offset: int) -> np.ndarray:
    """The chunk's `m` best keys: tier 1 with key ``log(u)/w`` for w > 0, tier 0 for w = 0, w < 0 excluded."""
    u = np.random.default_rng(seed).random(w.size)
    tier = (w > 0).astype(np.float64) - (w < 0)
    key = np.where(w > 0, np.log(u) / np.where(w > 0, w, 1), np.log(u))
    keep = np.flatnonzero(tier >= 0)
    order = np.lexsort((-key[keep], -tier[keep]))[:m]
    pos = keep[order]
    return np.stack([pos + offset, tier[pos], key[pos]], axis=1)


def weighted_sample(w: da.Array, m: int, rng: np.random.Generator) -> np.ndarray:
    """`m` distinct rows, successive sampling ∝ `w` (w > 0 first; then uniform among w = 0; w < 0 never).

    Each chunk keeps its `m` largest Efraimidis–Spirakis keys ``u^{1/w}``; the global top m of those is a
    weighted sample without replacement of the whole array (the law of numpy's ``choice(replace=False, p)``).
    """
    seeds = rng.integers(2**63 - 1, size=len(w.chunks[0]))
    parts = [dask.delayed(_es_block, pure=True)(b, m, int(sd), int(o))
             for b, sd, o in zip(w.to_delayed().reshape(-1), seeds, offsets(w))]
    got = np.concatenate(dask.compute(*parts))
    order = np.lexsort((-got[:, 2], -got[:, 1]))[:m]
    return np.sort(got[order, 0].astype(np.int64))
