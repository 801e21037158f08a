"""Nearest neighbours with faiss: nearest-center assignment and (exact or IVF-approximate) kNN graphs.

faiss flat search is exact and deterministic; the approximate graph uses an inverted-file index
(IVF), whose k-means training is seeded, so it is deterministic too (HNSW's multi-threaded build is
not, which is why it is not used here).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from coreselect.geometry.backend import NUMPY, Backend

Metric = Literal["l2", "ip"]


def _faiss():
    import faiss

    return faiss


def _flat(d: int, metric: Metric):
    faiss = _faiss()
    return faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)


#: Values per float64 buffer when distances are re-measured exactly (2 MB: it stays in cache). The buffer is
#: allocated once per call and reused block after block: a fresh temporary per block would be a fresh
#: ``mmap`` wherever glibc's dynamic mmap threshold is off, as in Dask workers (they set
#: ``MALLOC_TRIM_THRESHOLD_``), which made the exact settling of near-ties about 9× slower there.
_EXACT_BLOCK_VALUES = 2**18


def _sq_diff(x: np.ndarray, c: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``Σ_j (x_ij − c_ij)²`` over the last axis, in float64 and without BLAS: the same bits on any machine.
    `out`: a float64 buffer of the broadcast shape of `x` and `c`, overwritten."""
    diff = np.subtract(x, c, out=out, dtype=np.float64)
    np.multiply(diff, diff, out=diff)
    return diff.sum(axis=-1)


def _exact_argmin(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """The nearest center of every row by exact float64 distances (ties: the lowest index), in blocks of
    rows and centers of at most :data:`_EXACT_BLOCK_VALUES` values."""
    n, (k, d) = len(x), centers.shape
    center_step = max(1, min(k, _EXACT_BLOCK_VALUES // max(1, d)))
    row_step = max(1, _EXACT_BLOCK_VALUES // (center_step * max(1, d)))
    buffer = np.empty(row_step * center_step * d)
    d2 = np.empty((min(row_step, n), k))
    labels = np.empty(n, dtype=np.int64)
    for i in range(0, n, row_step):
        rows = x[i:i + row_step, None, :]
        for j in range(0, k, center_step):
            block = centers[None, j:j + center_step]
            shape = (rows.shape[0], block.shape[1], d)
            d2[:shape[0], j:j + shape[1]] = _sq_diff(rows, block, buffer[:np.prod(shape)].reshape(shape))
        labels[i:i + rows.shape[0]] = np.argmin(d2[:rows.shape[0]], axis=1)
    return labels


def nearest(x: np.ndarray, centers: np.ndarray, backend: Backend = NUMPY) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `x`, the index of its nearest row of `centers` and the squared distance (float64).

    faiss's flat L2 search ranks the centers in float32 through BLAS, whose rounding depends on the
    thread count and the CPU, so its distances, and on near-ties its winner, would depend on where the
    search ran (in high dimension distances concentrate and near-ties are common). Here faiss proposes
    its two nearest centers; where their float32 distances differ by less than twice the worst-case
    rounding of ``‖x‖² + ‖c‖² − 2x·c`` (Higham's γ_{d+2} bound), the row is decided on exact float64
    distances to every center (ties: the lowest index), and every row's distance is re-measured in
    float64. The result is then the same on any machine, thread count or chunking, at about one extra
    O(n·d) pass. Time O(n·k·d), memory O(n + k·d) beyond bounded blocks. A torch `backend` proposes the
    two centers instead (:func:`coreselect.geometry.torch_backend.nearest`); the result is the same.
    """
    if backend.is_torch:
        from coreselect.geometry import torch_backend

        return torch_backend.nearest(x, centers, backend.device)
    x = np.ascontiguousarray(x, dtype=np.float32)
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    index = _flat(x.shape[1], "l2")
    index.add(centers)
    dist32, cand = index.search(x, min(2, centers.shape[0]))
    labels = settle(x, centers, dist32, cand)
    return labels, measure(x, centers, labels)


def settle(x: np.ndarray, centers: np.ndarray, dist32: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """The nearest center of every row of `x` from a float32 search's two best candidates `cand` and
    their distances `dist32` (:func:`nearest`): the first candidate, except where the two are closer
    than the rounding bound, which are decided on exact float64 distances (ties: the lowest index)."""
    n, d = x.shape
    k = centers.shape[0]
    labels = cand[:, 0].astype(np.int64)
    if k < 2:
        return labels
    c64 = centers.astype(np.float64)
    unit = np.finfo(np.float32).eps / 2
    gamma = (d + 2) * unit / (1 - (d + 2) * unit)
    c_norm = float((c64 * c64).sum(axis=1).max())
    step = max(1, _EXACT_BLOCK_VALUES // max(1, d))
    for start in range(0, n, step):
        rows = slice(start, start + step)
        block = x[rows]
        x_norm = np.einsum("ij,ij->i", block, block, dtype=np.float64)  # only scales the tolerance
        gap = dist32[rows, 1].astype(np.float64) - dist32[rows, 0]
        tie = np.flatnonzero(gap <= 4 * gamma * (x_norm + c_norm) * 1.01)
        labels[start + tie] = _exact_argmin(block[tie], c64)
    return labels


def measure(x: np.ndarray, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``‖x_i − centers[labels_i]‖²`` in float64, without BLAS (the same bits on any machine)."""
    n, d = x.shape
    c64 = centers.astype(np.float64)
    d2 = np.empty(n)
    step = max(1, _EXACT_BLOCK_VALUES // max(1, d))
    buffer = np.empty(min(step, n) * d)
    for start in range(0, n, step):
        rows = slice(start, start + step)
        block = labels[rows]
        assigned = np.take(c64, block, axis=0, mode="clip",  # valid indices; "raise" would copy
                            out=buffer[:block.size * d].reshape(-1, d))
        d2[rows] = _sq_diff(x[rows], assigned, assigned)
    return d2


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
