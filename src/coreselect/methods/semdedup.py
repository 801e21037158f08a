"""SemDeDup: semantic deduplication (Abbas, Tirumala, Simig, Ganguli & Morcos, "SemDeDup: Data-efficient
learning at web-scale through semantic deduplication", 2023, Section 3 and Algorithm 1)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.geometry.clustering import kmeans_pp
from coreselect.geometry.distances import normalize_rows
from coreselect.geometry.neighbors import nearest
from coreselect.pool import Pool, group_rows
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

#: Largest similarity block (values) computed at once inside a cluster: 64 MB of float32.
BLOCK_VALUES = 2**24
#: k-means trains on a uniform sample of at most this many rows per cluster (faiss's own cap).
SAMPLE_PER_CLUSTER = 256


def sample_positions(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` distinct positions of n drawn uniformly, sorted (all of them when size ≥ n, drawing nothing)."""
    return np.arange(n) if size >= n else np.sort(rng.choice(n, size, replace=False))


def cluster_order(u: np.ndarray, rows: np.ndarray, center: np.ndarray, keep: str,
                  rng: np.random.Generator) -> np.ndarray:
    """The members `rows` of one cluster in the order duplicates are resolved (earlier ones are kept):
    ``"hard"`` — farthest from the centroid first (cosine distance, the paper's default choice), ``"easy"``
    — nearest first, ``"random"`` — a seeded shuffle. Ties: the lower row first."""
    if keep == "random":
        return rows[rng.permutation(rows.size)]
    norm = float(np.linalg.norm(center)) or 1.0
    distance = 1.0 - (u[rows] @ center.astype(np.float64)) / norm
    order = np.lexsort((rows, -distance if keep == "hard" else distance))
    return rows[order]


def max_earlier_similarity(x: np.ndarray, block_values: int = BLOCK_VALUES) -> np.ndarray:
    """``M_j = max_{i<j} cos(x_i, x_j)`` for unit rows `x` in resolution order (``-inf`` for the first):
    the official code's maximum over the upper triangle of the cluster's similarity matrix. Computed
    in column blocks of at most `block_values` similarities, into one buffer reused block after block
    (a fresh block each time would be a fresh ``mmap`` in Dask workers: see
    :data:`coreselect.geometry.neighbors._EXACT_BLOCK_VALUES`), so a cluster never needs its c × c
    matrix. Time O(c²·d / 2), memory O(block_values)."""
    c = x.shape[0]
    out = np.full(c, -np.inf)
    step = max(1, block_values // max(1, c))
    buffer = np.empty(min(c, step) * c, dtype=x.dtype)
    not_earlier = np.tri(min(c, step), dtype=bool)  # row i' ≥ column j' inside the diagonal block
    for a in range(0, c, step):
        b = min(c, a + step)
        sim = np.matmul(x[:b], x[a:b].T, out=buffer[:b * (b - a)].reshape(b, b - a))  # rows: members up to b
        sim[a:b][not_earlier[:b - a, :b - a]] = -np.inf  # only i < j counts
        out[a:b] = sim.max(axis=0) if b > 1 else -np.inf
    return out


@register("semdedup")
@dataclass(frozen=True)
class SemDeDup(MethodBase):
    """Drop semantic near-duplicates: k-means on unit-normalised embeddings, then inside each cluster
    remove every example whose cosine similarity to an example earlier in the cluster's order exceeds
    ``1 − eps`` (Abbas et al. 2023, Algorithm 1; the official code's ``M > 1 − ε`` over the upper
    triangle of the cluster's similarity matrix).

    `clusters` k-means clusters (default ``round(√n)``, which balances the k-means assignment and the
    within-cluster comparisons at O(n^1.5·d) each; the paper used 50,000 clusters for 440M images),
    k-means++ seeding and faiss Lloyd steps (:func:`~coreselect.geometry.clustering.kmeans_pp`) on a
    uniform sample of at most 256 rows per cluster, exact assignment of every row. Order inside a cluster by `keep`: ``"hard"`` (default, the paper's) keeps the member
    farthest from the centroid of each group of duplicates, ``"easy"`` the nearest, ``"random"`` a seeded
    one. As in the official code, an example is removed when it is close to *any* earlier member, removed
    or not (a chain a ≈ b ≈ c drops b and c even when a and c are far apart).

    Budget: with `eps`, the examples whose M exceeds ``1 − eps`` go, and of the rest at most the budget
    stay (``fraction=1`` lets `eps` alone decide; fewer than the budget can remain). Without `eps`, the
    budget decides: the examples with the smallest M stay — the threshold the paper tunes ε to reach.
    Unlabelled (labels are not used). Unweighted (n/m).

    Time O(n·k·d) for the clustering plus O(Σ_c n_c²·d) within clusters; memory O(n·d) for the
    normalised rows plus one bounded similarity block. `backend`, `device`: where the Lloyd steps, the
    assignment and the within-cluster similarities run (:mod:`coreselect.geometry.backend`).
    """

    eps: float | None = None
    clusters: int | None = None
    keep: Literal["hard", "easy", "random"] = "hard"
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    reference = "Abbas et al. 2023 (SemDeDup)"
    scale = "invariant"

    def __post_init__(self) -> None:
        if self.eps is not None and not 0 < self.eps <= 1:
            raise InputError(f"eps must be in (0, 1] (similarity threshold 1 - eps), got {self.eps}")
        if self.clusters is not None and self.clusters < 1:
            raise InputError(f"clusters must be >= 1, got {self.clusters}")
        if self.keep not in ("hard", "easy", "random"):
            raise InputError(f"keep must be 'hard', 'easy' or 'random', got {self.keep!r}")
        resolve(self.backend, self.device)

    def n_clusters(self, n: int) -> int:
        """The number of k-means clusters for n rows (`clusters`, default round(√n)), checked."""
        k = max(1, round(np.sqrt(n))) if self.clusters is None else self.clusters
        if k > n:
            raise InputError(f"clusters must be at most the number of examples ({n}), got {k}")
        return k

    def scores(self, u: np.ndarray, labels: np.ndarray, centers: np.ndarray, seed: int,
               backend: Backend = NUMPY) -> np.ndarray:
        """M of every row of the unit rows `u` (Algorithm 1's max similarity to an earlier member), cluster
        by cluster; `labels` are the rows' clusters. A cluster's random order (``keep="random"``) comes
        from ``(seed, cluster)`` alone, so any grouping of the clusters gives the same M. A torch `backend`
        computes the similarities (:func:`coreselect.geometry.torch_backend.max_earlier_similarity`)."""
        similar = max_earlier_similarity
        if backend.is_torch:
            from coreselect.geometry import torch_backend

            similar = functools.partial(torch_backend.max_earlier_similarity, device=backend.device,
                                        block_values=BLOCK_VALUES)
        m = np.empty(u.shape[0])
        for c, rows in zip(*group_rows(labels)):
            ordered = cluster_order(u, rows, centers[c], self.keep, np.random.default_rng([seed, int(c)]))
            m[ordered] = similar(u[ordered])
        return m

    def keep_rows(self, m: np.ndarray, budget: Budget) -> Subset:
        """The subset from every row's M: under the `eps` threshold if given, then the smallest M up to the
        budget (ties: the lower row)."""
        candidates = np.arange(m.size) if self.eps is None else np.flatnonzero(m <= 1 - self.eps)
        order = np.lexsort((candidates, m[candidates]))
        return Subset.uniform_weights(np.sort(candidates[order[:budget.total]]), m.size)

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        u = normalize_rows(pool.dense_features(self.name))
        k = self.n_clusters(pool.n)
        be = resolve(self.backend, self.device)
        centers = kmeans_pp(u[sample_positions(pool.n, SAMPLE_PER_CLUSTER * k, rng)], k, rng, backend=be)
        labels, _ = nearest(u, centers, be)
        return self.keep_rows(self.scores(u, labels, centers, int(rng.integers(2**63 - 1)), be), budget)
