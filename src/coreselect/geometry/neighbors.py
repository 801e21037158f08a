"""Nearest neighbours with faiss: nearest-center assignment and (exact or IVF-approximate) kNN graphs.

faiss flat search is exact and deterministic; the approximate graph uses an inverted-file index
(IVF), whose k-means training is seeded, so it is deterministic too (HNSW's multi-threaded build is
not, which is why it is not used here).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Metric = Literal["l2", "ip"]


def _faiss():
    import faiss

    return faiss


def _flat(d: int, metric: Metric):
    faiss = _faiss()
    return faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)


def nearest(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `x`, the index of its nearest row of `centers` and the squared distance.

    Exact (faiss flat L2, blocked internally). Time O(n·k·d), memory O(n + k·d).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    index = _flat(x.shape[1], "l2")
    index.add(np.ascontiguousarray(centers, dtype=np.float32))
    dist, idx = index.search(x, 1)
    return idx[:, 0].astype(np.int64), np.maximum(dist[:, 0], 0)


def knn(
    x: np.ndarray,
    k: int,
    metric: Metric = "l2",
    exact: bool = True,
    nlist: int | None = None,
    nprobe: int = 8,
    seed: int = 0,
    queries: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest rows of `x` for every row of `queries` (default: `x` itself, self included).

    Returns `(values (q, k) float32, indices (q, k) int64)`: squared distances for ``metric="l2"``,
    inner products for ``"ip"`` (cosine similarity on unit rows), best first. ``exact=False`` uses an
    IVF index with `nlist` cells (default ≈ 4·√n) probing `nprobe` of them: O(n·(nlist + n·nprobe/nlist)·d)
    instead of O(n²·d). Missing neighbours (tiny cells) come back as index -1.
    """
    faiss = _faiss()
    x = np.ascontiguousarray(x, dtype=np.float32)
    q = x if queries is None else np.ascontiguousarray(queries, dtype=np.float32)
    n, d = x.shape
    k = min(k, n)
    if exact or n < 4096:
        index = _flat(d, metric)
    else:
        cells = nlist or int(min(max(16, 4 * np.sqrt(n)), n // 39))
        faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexIVFFlat(_flat(d, metric), d, cells, faiss_metric)
        index.cp.seed = seed
        index.train(x)
        index.nprobe = min(nprobe, cells)
    index.add(x)
    values, idx = index.search(q, k)
    return values, idx.astype(np.int64)


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    """Fraction of true neighbours (rows of `exact`) that `approx` found."""
    hits = sum(np.intersect1d(a, e).size for a, e in zip(approx, exact))
    return hits / exact.size
