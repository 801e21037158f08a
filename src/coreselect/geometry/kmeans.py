"""k-means with faiss, and snapping centers to data points."""

from __future__ import annotations

import numpy as np

from coreselect.geometry.distances import pairwise_blocks


def kmeans(x: np.ndarray, k: int, seed: int = 0, niter: int = 20,
           max_points_per_centroid: int = 256, init: np.ndarray | None = None) -> np.ndarray:
    """`k` Lloyd centers of `x` (faiss; trains on at most `max_points_per_centroid · k` sampled rows).

    `init` gives starting centers (e.g. a k-means++ seeding); otherwise faiss starts from random rows.
    Small inputs (fewer than faiss's usual 39 rows per center) are accepted without a warning.
    Deterministic given `seed`. Time O(niter · min(n, 256k) · k · d); memory O(k·d) beyond `x`.
    """
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=int(seed) % (2**31), min_points_per_centroid=1,
                      max_points_per_centroid=max_points_per_centroid, verbose=False)
    km.train(x, init_centroids=None if init is None else np.ascontiguousarray(init, dtype=np.float32))
    return np.asarray(km.centroids, dtype=np.float32)


def snap_to_data(x: np.ndarray, centers: np.ndarray, budget: int | None = None) -> np.ndarray:
    """For each center, the index of its nearest data row (ties: the lowest index).

    One blocked pass over `x` keeping a running minimum per center: O(n·k·d) time, O(k) extra memory
    beyond one block (`x` itself is never copied). Two centers may snap to the same row.
    """
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    best = np.full(centers.shape[0], np.inf, dtype=np.float32)
    arg = np.zeros(centers.shape[0], dtype=np.int64)
    for start, _, d in pairwise_blocks(x, centers, budget=budget):
        rows = d.argmin(axis=0)
        vals = d[rows, np.arange(d.shape[1])]
        better = vals < best
        best[better] = vals[better]
        arg[better] = rows[better] + start
    return arg
