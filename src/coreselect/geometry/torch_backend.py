"""The torch backend of :mod:`coreselect.geometry`: the numpy/faiss path's computations as blocked torch
operations on a CPU or CUDA device (chosen through :mod:`coreselect.geometry.backend`; needs torch).

What moves to the device is the O(n·k·d) or O(n²·d) part of each computation — distance and
similarity blocks, top-k selection, the Lloyd assignment and centroid sums, the greedy scans of
k-center and herding, the per-class sort behind a coordinate-wise median. Every decision is taken by the
same rule as on the CPU, so results agree with the numpy/faiss path:

* :func:`nearest` is *identical* to :func:`coreselect.geometry.neighbors.nearest`: the device proposes
  the two nearest centers in float32, and the host code of the CPU path settles near-ties on exact float64
  distances and re-measures every distance in float64 (Higham's bound holds for any summation order).
* :func:`median_distances` is identical: a sort is exact, and the distances are measured on the host.
* :func:`kmeans` runs faiss's Lloyd iterations from the same start on the same training rows (faiss's own
  subsample and random start, reproduced with ``faiss.rand_perm``); its centers differ from faiss's by
  float rounding: centroid sums in float64 here, float32 in faiss; assignment near-ties settled exactly
  here, in BLAS float32 there; and an empty cluster keeps its center here where faiss splits a large one.
* :func:`knn`, :func:`dense_block`, :func:`kcenter_greedy`, :func:`herd` and
  :func:`max_earlier_similarity` compute the same float32 expressions as the CPU path, whose last bits
  depend on the BLAS; they take the same decision wherever it is not within float32 rounding of a tie
  (ties proper go to the lowest index on both paths).

Matrix products run in full float32 (TF32 and reduced-precision modes are switched off while they run).
Memory: no temporary exceeds the block budget (:data:`coreselect.geometry.blocks.DEFAULT_BLOCK_BYTES`,
or `budget`) beyond O(n·(d + k)) arrays the size of the input and the result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

import numpy as np
import torch

from coreselect.geometry.blocks import row_blocks
from coreselect.geometry.distances import sq_norms
from coreselect.geometry.greedy import farthest_first, herding_order
from coreselect.geometry.neighbors import measure, settle

F = TypeVar("F", bound=Callable)


def _full_float32(fn: F) -> F:
    """Run `fn` with float32 matrix products in full precision (no TF32 or bfloat16 shortcuts)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        before = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")
        try:
            with torch.inference_mode():
                return fn(*args, **kwargs)
        finally:
            torch.set_float32_matmul_precision(before)

    return run  # type: ignore[return-value]


def _put(a: np.ndarray, device: str) -> torch.Tensor:
    """`a` as a tensor on `device` (shares memory with `a` on the CPU: never written to)."""
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def _sq_dists_(ip: torch.Tensor, x_norms: torch.Tensor, y_norms: torch.Tensor) -> torch.Tensor:
    """``‖x‖² − 2⟨x, y⟩ + ‖y‖²`` clipped at 0, in place on the inner-product block `ip` (as
    :func:`coreselect.geometry.distances.sq_dists`)."""
    return ip.mul_(-2).add_(x_norms[:, None]).add_(y_norms[None, :]).clamp_(min=0)


def _top2(x: np.ndarray, centers: np.ndarray, device: str, budget: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The two nearest centers of every row (float32 squared distances, indices), as faiss's flat search."""
    n, d = x.shape
    k = centers.shape[0]
    c = _put(centers, device)
    cn = _put(sq_norms(centers), device)
    dist = np.empty((n, min(2, k)), dtype=np.float32)
    cand = np.empty((n, min(2, k)), dtype=np.int64)
    for a, b in row_blocks(n, max(k, d), budget=budget):
        blk = _put(x[a:b], device)
        v, i = torch.topk(_sq_dists_(blk @ c.T, _put(sq_norms(x[a:b]), device), cn), min(2, k), dim=1,
                          largest=False, sorted=True)
        dist[a:b], cand[a:b] = v.cpu().numpy(), i.cpu().numpy()
    return dist, cand


@_full_float32
def assign(x: np.ndarray, centers: np.ndarray, device: str, budget: int | None = None) -> np.ndarray:
    """The nearest center of every row of `x`, exactly as :func:`coreselect.geometry.neighbors.nearest`
    decides it (float32 proposals on the device, near-ties settled in float64 on the host)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    return settle(x, centers, *_top2(x, centers, device, budget))


def nearest(x: np.ndarray, centers: np.ndarray, device: str, budget: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The same labels and float64 squared distances as :func:`coreselect.geometry.neighbors.nearest`
    (module docstring). Time O(n·k·d) on the device plus O(n·d) on the host; memory one block."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    labels = assign(x, centers, device, budget)
    return labels, measure(x, np.ascontiguousarray(centers, dtype=np.float32), labels)


def _top_k(score: torch.Tensor, k: int, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the `k` best scores and their columns, best first; equal scores by lowest column, also
    at the k-th place, so the answer does not depend on the device. faiss's L2 search does the same;
    among exact inner-product ties at the k-th place its choice follows its internal blocking."""
    vals, idx = torch.topk(score, k, dim=1, largest=largest, sorted=True)
    edge = vals[:, -1:]
    inside = (score >= edge) if largest else (score <= edge)
    for r in torch.nonzero(inside.sum(dim=1) > k).flatten().tolist():  # a tie for the k-th place
        pos = torch.nonzero(inside[r]).flatten()
        best = torch.sort(score[r, pos], descending=largest, stable=True).indices[:k]
        idx[r], vals[r] = pos[best], score[r, pos[best]]
    idx, perm = idx.sort(dim=1)
    vals, perm = vals.gather(1, perm).sort(dim=1, descending=largest, stable=True)
    return vals, idx.gather(1, perm)


@_full_float32
def knn(x: np.ndarray, k: int, metric: Literal["l2", "ip"] = "l2", device: str = "cpu",
        queries: np.ndarray | None = None, budget: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact `k` nearest rows of `x` for every row of `queries` (default `x`, self included), as
    :func:`coreselect.geometry.neighbors.knn` with ``exact=True``: `(values (q, k) float32, indices
    (q, k) int64)`, squared distances (``"l2"``) or inner products (``"ip"``), best first.

    Blocked top-k: each block of queries scores every row of `x` by one matrix product. Time O(q·n·d),
    memory one ``(block × n)`` score block within the budget, plus `x` on the device.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    q = x if queries is None else np.ascontiguousarray(queries, dtype=np.float32)
    n, d = x.shape
    k = min(k, n)
    xd = _put(x, device)
    xn = _put(sq_norms(x), device) if metric == "l2" else None
    values = np.empty((q.shape[0], k), dtype=np.float32)
    indices = np.empty((q.shape[0], k), dtype=np.int64)
    for a, b in row_blocks(q.shape[0], max(n, d), budget=budget):
        score = _put(q[a:b], device) @ xd.T
        if xn is not None:
            _sq_dists_(score, _put(sq_norms(q[a:b]), device), xn)
        v, i = _top_k(score, k, largest=xn is None)
        values[a:b], indices[a:b] = v.cpu().numpy(), i.cpu().numpy()
    return values, indices


def _faiss_perm(n: int, seed: int) -> np.ndarray:
    """faiss's ``rand_perm(n, seed)``: the permutation faiss's k-means draws its training rows and its
    random start from."""
    import faiss

    perm = np.empty(n, dtype=np.int32)
    faiss.rand_perm(faiss.swig_ptr(perm), n, seed)
    return perm.astype(np.int64)


def _cluster_sums(xd: torch.Tensor, labels: np.ndarray, k: int, device: str,
                  budget: int | None) -> np.ndarray:
    """``Σ_{i: labels_i = j} x_i`` for every j < k in float64, as one-hot matrix products over row blocks
    (no atomic adds: the same bits on every run and device)."""
    n, d = xd.shape
    sums = torch.zeros((k, d), dtype=torch.float64, device=device)
    for a, b in row_blocks(n, max(k, d), itemsize=8, budget=budget):
        onehot = torch.zeros((b - a, k), dtype=torch.float64, device=device)
        onehot.scatter_(1, _put(labels[a:b], device)[:, None], 1.0)
        sums += onehot.T @ xd[a:b].double()
    return sums.cpu().numpy()


@_full_float32
def kmeans(x: np.ndarray, k: int, seed: int = 0, niter: int = 20, max_points_per_centroid: int = 256,
           init: np.ndarray | None = None, device: str = "cpu", budget: int | None = None) -> np.ndarray:
    """`k` centers by `niter` Lloyd iterations, as :func:`coreselect.geometry.kmeans.kmeans` runs them
    with faiss (Lloyd 1982; faiss's ``Clustering::train``): on the same training rows (the first
    ``max_points_per_centroid · k`` of faiss's permutation for `seed`, when there are more rows), from
    `init` or faiss's random start (rows of the permutation for ``seed + 1``); each iteration assigns every
    row to its nearest center (:func:`assign`) and moves each center to its cluster's mean. Where the
    centers can still differ from faiss's: see the module docstring.

    Time O(niter · n_s · k · d) on the device; memory O(n_s · d) for the training rows plus blocks.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    seed = int(seed) % (2**31)
    if x.shape[0] > k * max_points_per_centroid:
        x = x[_faiss_perm(x.shape[0], seed)[: k * max_points_per_centroid]]
    start = x[_faiss_perm(x.shape[0], seed + 1)[:k]] if init is None else init
    centers = np.array(start, dtype=np.float32)
    xd = _put(x, device)
    for _ in range(niter):
        labels = assign(x, centers, device, budget)
        counts = np.bincount(labels, minlength=k)
        full = counts > 0
        sums = _cluster_sums(xd, labels, k, device, budget)
        centers[full] = (sums[full] / counts[full, None]).astype(np.float32)
    return centers


def _similarity_(raw: torch.Tensor, similarity: str, radius: float) -> torch.Tensor:
    """:func:`coreselect.geometry.facility._to_similarity` in place on a torch block."""
    if similarity == "cosine":
        return raw.mul_(0.5).add_(0.5).clamp_(0, 1)
    return raw.clamp_(min=0).sqrt_().neg_().add_(radius).clamp_(min=0)


@_full_float32
def dense_block(xp: np.ndarray, similarity: str, radius: float, device: str,
                budget: int | None = None) -> np.ndarray:
    """The `(n, n)` float32 similarity matrix of the prepared rows `xp` (unit rows for cosine, centred
    rows and radius R for euclidean; :func:`coreselect.geometry.facility.dense_block`), built in row
    blocks on the device and copied block by block to the host array (4·n² bytes, the dense function's)."""
    n = xp.shape[0]
    xd = _put(xp, device)
    norms = _put(sq_norms(xp), device) if similarity == "euclidean" else None
    out = np.empty((n, n), dtype=np.float32)
    for a, b in row_blocks(n, n, budget=budget):
        blk = xd[a:b] @ xd.T
        if norms is not None:
            _sq_dists_(blk, norms[a:b], norms)
        out[a:b] = _similarity_(blk, similarity, radius).cpu().numpy()
    return out


@_full_float32
def kcenter_greedy(x: np.ndarray, m: int, rng: np.random.Generator, initial: np.ndarray | None = None,
                   device: str = "cpu") -> np.ndarray:
    """:func:`coreselect.methods.kcenter.kcenter_greedy` (Sener & Savarese 2018) with the running minima
    on the device: the same float32 arithmetic, the same draws from `rng`, ties to the lowest index.
    Time O(m·n·d), memory O(n) beyond `x` on the device."""
    n = x.shape[0]
    xd = _put(np.ascontiguousarray(x, dtype=np.float32), device)
    norms = _put(sq_norms(x), device)
    mins = torch.full((n,), torch.inf, dtype=torch.float32, device=device)

    def absorb(j: int) -> None:
        d = norms - 2 * (xd @ xd[j]) + norms[j]
        torch.minimum(mins, d.clamp_(min=0), out=mins)
        mins[j] = -1

    return farthest_first(n, m, rng, initial, absorb, lambda: int(torch.argmax(mins)))


@_full_float32
def herd(x: np.ndarray, m: int, device: str = "cpu") -> np.ndarray:
    """:func:`coreselect.methods.herding.herd` (Welling 2009) with the scores on the device: step k picks
    ``argmin_x ‖k·μ − Σ_{j<k} x_j − x‖`` among the rows not yet chosen (ties: the lowest index). μ and the
    running sum stay in float64 on the host. Time O(m·n·d), memory O(n + d) beyond `x` on the device."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    xd = _put(x, device)
    norms = _put(sq_norms(x).astype(np.float64), device)
    taken = torch.zeros(x.shape[0], dtype=torch.bool, device=device)

    def closest_unchosen(target: np.ndarray) -> int:
        score = norms - (2 * (xd @ _put(target.astype(np.float32), device))).double()
        score[taken] = torch.inf
        j = int(torch.argmin(score))
        taken[j] = True
        return j

    return herding_order(x, m, closest_unchosen)


def median_distances(x: np.ndarray, groups: Iterable[np.ndarray], n: int, device: str) -> np.ndarray:
    """:func:`coreselect.methods.moderate.median_distances`: ``‖x_i − median_{g(i)}‖`` with the
    coordinate-wise median of each group of rows, sorted on the device. A sort and the mean of the two
    middle values are exact in float32, and the distances are measured on the host as the CPU path does,
    so the result is identical. Time O(n·d·log n_g) on the device, O(n·d) on the host."""
    d = np.empty(n, dtype=np.float64)
    for rows in groups:
        xc = x[rows]
        s = torch.sort(_put(xc, device), dim=0).values
        half = rows.size // 2
        med = s[half] if rows.size % 2 else (s[half - 1] + s[half]) / 2
        d[rows] = np.linalg.norm(xc - med.cpu().numpy(), axis=1)
    return d


@_full_float32
def max_earlier_similarity(x: np.ndarray, device: str, block_values: int) -> np.ndarray:
    """:func:`coreselect.methods.semdedup.max_earlier_similarity` on the device: ``M_j = max_{i<j}
    cos(x_i, x_j)`` for unit rows in resolution order (``-inf`` for the first), in column blocks of at
    most `block_values` similarities. Time O(c²·d / 2), memory O(block_values)."""
    c = x.shape[0]
    out = np.full(c, -np.inf)
    xd = _put(np.ascontiguousarray(x, dtype=np.float32), device)
    step = max(1, block_values // max(1, c))
    for a in range(0, c, step):
        b = min(c, a + step)
        sim = xd[:b] @ xd[a:b].T
        sim.masked_fill_(torch.arange(b, device=device)[:, None] >= torch.arange(a, b, device=device)[None, :],
                         -torch.inf)
        out[a:b] = sim.max(dim=0).values.double().cpu().numpy()
    return out
