"""k-means with faiss, and snapping centers to data points (the nearest row of each Voronoi cell)."""

from __future__ import annotations

import numpy as np

from coreselect.geometry.backend import NUMPY, Backend
from coreselect.geometry.neighbors import nearest


def kmeans(x: np.ndarray, k: int, seed: int = 0, niter: int = 20,
           max_points_per_centroid: int = 256, init: np.ndarray | None = None,
           backend: Backend = NUMPY) -> np.ndarray:
    """`k` Lloyd centers of `x` (faiss; trains on at most `max_points_per_centroid · k` sampled rows).

    `init` gives starting centers (e.g. a k-means++ seeding); otherwise faiss starts from random rows.
    Small inputs (fewer than faiss's usual 39 rows per center) are accepted without a warning.
    Deterministic given `seed`. Time O(niter · min(n, 256k) · k · d); memory O(k·d) beyond `x`.
    A torch `backend` runs the same Lloyd iterations there (:func:`coreselect.geometry.torch_backend.kmeans`).
    """
    if backend.is_torch:
        from coreselect.geometry import torch_backend

        return torch_backend.kmeans(x, k, seed, niter, max_points_per_centroid, init, backend.device)
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=int(seed) % (2**31), min_points_per_centroid=1,
                      max_points_per_centroid=max_points_per_centroid, verbose=False)
    km.train(x, init_centroids=None if init is None else np.ascontiguousarray(init, dtype=np.float32))
    return np.asarray(km.centroids, dtype=np.float32)


def cell_minima(labels: np.ndarray, d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per center j < k: the position of the row with the least `d2` among the rows labelled j (ties:
    the lowest position) and that distance; -1 and +inf for a center no row is labelled with. O(n)."""
    best = np.full(k, np.inf, dtype=np.float64)
    np.minimum.at(best, labels, d2)
    hit = np.flatnonzero(d2 == best[labels])
    cells, first = np.unique(labels[hit], return_index=True)
    arg = np.full(k, -1, dtype=np.int64)
    arg[cells] = hit[first]
    return arg, best


def snap_to_cells(x: np.ndarray, centers: np.ndarray, backend: Backend = NUMPY) -> np.ndarray:
    """For each center, the index of the nearest row of its own Voronoi cell (the rows whose nearest
    center it is; ties: the lowest index), or -1 when no row is nearest to it.

    The rows of distinct cells are distinct, and the snapped set keeps the clustering's quality: for a
    cell C with center c and snapped row p, every e in C has ``‖e − p‖ ≤ ‖e − c‖ + ‖c − p‖ ≤ 2‖e − c‖``,
    so the cost Φ_z grows by at most 2^z — the bound snapping to the nearest row overall gives. Read off
    one exact faiss assignment pass: time O(n·k·d), memory O(n) beyond `x`.
    """
    labels, d2 = nearest(x, centers, backend)
    return cell_minima(labels, d2, centers.shape[0])[0]
