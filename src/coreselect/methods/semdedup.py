"""SemDeDup: semantic deduplication (Abbas, Tirumala, Simig, Ganguli & Morcos, "SemDeDup: Data-efficient
learning at web-scale through semantic deduplication", 2023, Section 3 and Algorithm 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry.clustering import kmeans_pp
from coreselect.geometry.distances import normalize_rows
from coreselect.geometry.neighbors import nearest
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

#: Largest similarity block (values) computed at once inside a cluster: 64 MB of float32.
BLOCK_VALUES = 2**24


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
    in column blocks of at most `block_values` similarities, so a cluster never needs its c × c matrix.
    Time O(c²·d / 2), memory O(block_values)."""
    c = x.shape[0]
    out = np.full(c, -np.inf)
    step = max(1, block_values // max(1, c))
    for a in range(0, c, step):
        b = min(c, a + step)
        sim = x[:b] @ x[a:b].T  # rows: every member up to the block's end; columns: the block
        sim[np.arange(b)[:, None] >= np.arange(a, b)[None, :]] = -np.inf  # only i < j counts
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
    k-means++ seeding and faiss Lloyd steps (:func:`~coreselect.geometry.clustering.kmeans_pp`), exact
    assignment. Order inside a cluster by `keep`: ``"hard"`` (default, the paper's) keeps the member
    farthest from the centroid of each group of duplicates, ``"easy"`` the nearest, ``"random"`` a seeded
    one. As in the official code, an example is removed when it is close to *any* earlier member, removed
    or not (a chain a ≈ b ≈ c drops b and c even when a and c are far apart).

    Budget: with `eps`, the examples whose M exceeds ``1 − eps`` go, and of the rest at most the budget
    stay (``fraction=1`` lets `eps` alone decide; fewer than the budget can remain). Without `eps`, the
    budget decides: the examples with the smallest M stay — the threshold the paper tunes ε to reach.
    Unlabelled (labels are not used). Unweighted (n/m).

    Time O(n·k·d) for the clustering plus O(Σ_c n_c²·d) within clusters; memory O(n·d) for the
    normalised rows plus one bounded similarity block.
    """

    eps: float | None = None
    clusters: int | None = None
    keep: Literal["hard", "easy", "random"] = "hard"
    reference = "Abbas et al. 2023 (SemDeDup)"
    scale = "invariant"

    def __post_init__(self) -> None:
        if self.eps is not None and not 0 < self.eps <= 1:
            raise InputError(f"eps must be in (0, 1] (similarity threshold 1 - eps), got {self.eps}")
        if self.clusters is not None and self.clusters < 1:
            raise InputError(f"clusters must be >= 1, got {self.clusters}")
        if self.keep not in ("hard", "easy", "random"):
            raise InputError(f"keep must be 'hard', 'easy' or 'random', got {self.keep!r}")

    def similarity_to_earlier(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per row, M: its largest cosine similarity to a member of its cluster resolved before it."""
        n = x.shape[0]
        k = round(np.sqrt(n)) if self.clusters is None else self.clusters
        if k > n:
            raise InputError(f"clusters must be at most the number of examples ({n}), got {k}")
        u = normalize_rows(x)
        centers = kmeans_pp(u, k, rng)
        labels, _ = nearest(u, centers)
        m = np.empty(n)
        members = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[members], np.arange(k + 1))
        for c in range(k):
            rows = members[bounds[c]:bounds[c + 1]]
            if rows.size:
                ordered = cluster_order(u, rows, centers[c], self.keep, rng)
                m[ordered] = max_earlier_similarity(u[ordered])
        return m

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        m = self.similarity_to_earlier(pool.dense_features(self.name), rng)
        candidates = np.arange(pool.n) if self.eps is None else np.flatnonzero(m <= 1 - self.eps)
        order = np.lexsort((candidates, m[candidates]))  # least duplicated first; ties: lower row
        return Subset.uniform_weights(np.sort(candidates[order[:budget.total]]), pool.n)
