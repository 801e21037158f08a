"""Approximate kNN graph of a point set by cell probing, as dense matrix products (BLAS), not per query.

An inverted-file search (faiss IVF) scans, for every query, the points of the `probes` cells nearest to
*that query*, one query at a time. Building a whole kNN graph asks the same question for every point, so
here the queries of one cell share their candidate set — the members of the `probes` cells nearest to
*their cell's centre* — and each cell's search is one ``(cell × candidates)`` matrix product followed by
a partial sort. Same work as IVF, O(n · probes · n/cells · d), but at matrix-product speed.

Recall is reported by :func:`coreselect.geometry.recall` against the exact graph (see
benchmarks/results/facility-scale.md); a point near a cell border may miss neighbours just across a
cell that is not among its cell's probes. Deterministic for a given seed (seeded faiss k-means).
Memory: O(n·k) for the result plus one ``(cell × candidates)`` block.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from coreselect.geometry.distances import sq_norms
from coreselect.geometry.kmeans import kmeans
from coreselect.geometry.neighbors import knn, nearest


def cell_knn(x: np.ndarray, k: int, metric: Literal["ip", "l2"] = "ip", cells: int | None = None,
             probes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The (approximate) `k` nearest rows of `x` for every row of `x`, self included.

    Returns `(values (n, k) float32, indices (n, k) int64)` like :func:`coreselect.geometry.knn`:
    inner products for ``"ip"``, squared distances for ``"l2"``, best first; missing neighbours
    (fewer than `k` candidates) are index -1. `cells` defaults to ≈ √n; the k-means that makes them
    trains 10 iterations on at most 32 points per cell. Time O(n·probes·(n/cells)·d + n·cells·d).
    Runs on one thread: its work is many small products, where handing blocks to BLAS/OpenMP threads
    costs more than it saves (measured several-fold slower with 2 threads on a busy 2-core machine).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _cell_knn(np.ascontiguousarray(x, dtype=np.float32), k, metric, cells, probes, seed)


def _cell_knn(x: np.ndarray, k: int, metric: str, cells: int | None, probes: int,
              seed: int) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[0]
    k = max(1, min(int(k), n))
    cells = int(cells or max(1, round(np.sqrt(n))))
    cells = max(1, min(cells, n))
    probes = max(1, min(int(probes), cells))
    centers = kmeans(x, cells, seed=seed, niter=10, max_points_per_centroid=32)
    cell_of, _ = nearest(x, centers)
    _, near_cells = knn(centers, probes, metric="l2", exact=True)
    order = np.argsort(cell_of, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(cell_of, minlength=cells))])
    norms = sq_norms(x) if metric == "l2" else None
    values = np.full((n, k), -np.inf if metric == "ip" else np.inf, dtype=np.float32)
    indices = np.full((n, k), -1, dtype=np.int64)
    for c in range(cells):
        queries = order[bounds[c]:bounds[c + 1]]
        if queries.size == 0:
            continue
        probe = np.unique(np.concatenate([[c], near_cells[c][near_cells[c] >= 0]]))
        cand = np.concatenate([order[bounds[p]:bounds[p + 1]] for p in probe])
        score = x[queries] @ x[cand].T  # larger = nearer
        if norms is not None:
            score *= 2
            score -= norms[cand][None, :]
        kk = min(k, cand.size)
        top, s = _top_k(score, cand, kk)
        indices[queries, :kk] = cand[top]
        values[queries, :kk] = s if norms is None else np.maximum(norms[queries][:, None] - s, 0)
    return values, indices


def _top_k(score: np.ndarray, cand: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `score`, the positions of the `kk` largest scores and those scores, best first; equal
    scores are ordered by candidate row index (`cand`), so the graph does not depend on the order the
    candidates came in or on how a partial sort broke ties (exact float32 ties do occur at scale).
    Rows without ties cost one partial sort and one sort of kk values; the few with ties are redone."""
    if kk < cand.size:
        part = np.argpartition(-score, (kk - 1, kk), axis=1)
        top = part[:, :kk]
        edge = np.take_along_axis(score, part[:, kk - 1:kk + 1], axis=1)
        for r in np.flatnonzero(edge[:, 0] == edge[:, 1]):  # a tie for the kk-th place: choose by row index
            pos = np.flatnonzero(score[r] >= edge[r, 0])
            top[r] = pos[np.lexsort((cand[pos], -score[r, pos]))[:kk]]
    else:
        top = np.tile(np.arange(cand.size), (score.shape[0], 1))
    s = np.take_along_axis(score, top, axis=1)
    rank = np.argsort(-s, axis=1, kind="stable")
    top, s = np.take_along_axis(top, rank, axis=1), np.take_along_axis(s, rank, axis=1)
    for r in np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1)):  # equal scores: by row index
        order = np.lexsort((cand[top[r]], -s[r]))
        top[r], s[r] = top[r, order], s[r, order]
    return top, s
