"""Sampling rows for linear regression: clustering sensitivity (Algorithm 2) and leverage scores.

References: Axiotis et al., "Data-Efficient Learning via Clustering-Based Sensitivity Sampling"
(arXiv 2402.17327), Algorithm 2 and Section 5.1; k-medoids by FasterPAM (Schubert & Rousseeuw 2019/2021,
the ``kmedoids`` package); leverage-score sampling (Drineas, Mahoney & Muthukrishnan 2006).

Both methods return an i.i.d. sample of s rows with weights ``1/(s p_i)`` (duplicates merged), so the
weighted squared loss ``Σ_S w (⟨a, x⟩ − b)²`` is an unbiased estimate of ``‖Ax − b‖²`` for every x;
:func:`weighted_lstsq` solves the weighted least squares on the sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry.distances import sq_dists
from coreselect.geometry.neighbors import nearest
from coreselect.geometry.sensitivities import leverage_scores
from coreselect.methods.sensitivity import IMPORTANCE_WEIGHTS, UNBIASED_TOTAL, draw
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

#: FasterPAM needs the full dissimilarity matrix of the rows it clusters: at most this many rows
#: (an 8192² float32 matrix is 256 MiB). Larger inputs are clustered on a uniform sample of this many
#: rows and every row is then assigned to its nearest medoid.
PAM_MAX_ROWS = 8192


def default_k(n: int) -> int:
    """⌈m/10⌉ medoids for the m = min(n, :data:`PAM_MAX_ROWS`) rows FasterPAM clusters: the paper's
    10% of n up to n = 8,192, then 820 medoids of the 8,192-row sample at any larger n (k can never
    exceed the rows clustered, so 10% of n would fail above n = 81,920)."""
    return math.ceil(min(n, PAM_MAX_ROWS) / 10)


def kmedoids_fasterpam(a: np.ndarray, k: int, rng: np.random.Generator,
                       max_rows: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Euclidean k-medoids of the rows of `a` (an O(1)-approximate k-median, Algorithm 2 step 1).

    Returns `(medoids (k,) row indices, assign (n,) position of each row's nearest medoid, dist (n,)
    ‖a_i − â_i‖)`. FasterPAM (random init seeded from `rng`, single thread for determinism) runs on
    all rows when ``n ≤ max_rows`` (default :data:`PAM_MAX_ROWS`), else on a uniform sample of
    `max_rows` rows (CLARA-style), then one exact assignment pass. Time O(m² d + iters · m²) for the m
    clustered rows plus O(n k d); memory O(m²) float32 — never an unbounded n × n matrix.
    """
    import kmedoids

    n = a.shape[0]
    max_rows = PAM_MAX_ROWS if max_rows is None else max_rows
    rows = np.arange(n) if n <= max_rows else np.sort(rng.choice(n, max_rows, replace=False))
    if not 1 <= k <= rows.size:
        raise InputError(f"k must be in [1, {rows.size}] (rows clustered by k-medoids), got {k}")
    sub = np.ascontiguousarray(a[rows], dtype=np.float32)
    diss = sq_dists(sub, sub)
    np.sqrt(diss, out=diss)
    np.fill_diagonal(diss, 0)
    result = kmedoids.fasterpam(diss, k, max_iter=100, init="random",
                                random_state=int(rng.integers(2**31 - 1)), n_cpu=1)
    del diss
    medoids = rows[np.sort(np.asarray(result.medoids, dtype=np.int64))]
    assign, d2 = nearest(a, a[medoids])
    assign[medoids] = np.arange(k)
    d2[medoids] = 0
    return medoids, assign, np.sqrt(d2.astype(np.float64))


def regression_scores(a: np.ndarray, b: np.ndarray, k: int, zeta: float | None,
                      rng: np.random.Generator) -> np.ndarray:
    """Algorithm 2 steps 1–4: ``p_i ∝ ζ ‖a_i − â_i‖ + (⟨â_i, x₀⟩ − b̂_i)²`` (unnormalised).

    `x₀` is the least-squares fit to the medoids weighted by their cluster sizes. ``zeta=None`` is
    ζ → ∞ (the paper's experiment): ``p_i ∝ ‖a_i − â_i‖``, the targets are not read; the medoids
    themselves then have p = 0.
    """
    medoids, assign, dist = kmedoids_fasterpam(a, k, rng)
    if zeta is None:
        return dist
    sizes = np.bincount(assign, minlength=k).astype(np.float64)
    am, bm = a[medoids].astype(np.float64), b[medoids]
    root = np.sqrt(sizes)
    x0 = np.linalg.lstsq(am * root[:, None], bm * root, rcond=None)[0]
    resid = (am @ x0 - bm)[assign]
    return zeta * dist + resid**2


def sample_scores(scores: np.ndarray, s: int, rng: np.random.Generator, n_queries: int = 0) -> Subset:
    """`s` i.i.d. draws with ``p ∝ scores`` (uniform when all are 0), weights ``1/(s p)``, merged. Scores
    whose sum overflows (a huge ζ or huge targets) are an InputError, never a silent uniform sample."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = scores.sum()
    if not np.isfinite(total):
        raise InputError("the sampling scores ζ·dist + residual² overflow float64; lower zeta, or rescale the "
                         "features or targets")
    p = scores / total if total > 0 else np.full(scores.size, 1.0 / scores.size)
    return draw(p, s, rng, n_queries=n_queries)


def weighted_lstsq(a: np.ndarray, b: np.ndarray, subset: Subset) -> np.ndarray:
    """``argmin_x Σ_{i∈S} w_i (⟨a_i, x⟩ − b_i)²`` (minimum-norm when the sample is rank deficient)."""
    root = np.sqrt(subset.weights)
    rows = subset.indices
    return np.linalg.lstsq(a[rows].astype(np.float64) * root[:, None], b[rows] * root, rcond=None)[0]


@register("regression-sensitivity")
@dataclass(frozen=True)
class RegressionSensitivity(MethodBase):
    """Algorithm 2: k-medoids (FasterPAM) sensitivity sampling of regression rows.

    ``k`` medoids (None: :func:`default_k`, the paper's 10 % of the rows clustered), ``zeta`` the
    label-Lipschitz constant ζ of Assumption 8 (None: ζ → ∞, sampling ∝ distance to the medoid, as in the
    paper's Figure 1). s = the budget's total i.i.d. draws, weights ``1/(s p)``. With finite ζ the k
    medoid targets are read (``n_queries = k``). Complexity: :func:`kmedoids_fasterpam` plus O(n k d)
    for the assignment and O(s log n); memory O(min(n, 8192)²) float32 (256 MiB at most) plus O(n).
    """

    k: int | None = None
    zeta: float | None = None
    needs = frozenset({"targets"})
    weighted = True
    weight_total = ("n − k in expectation with ζ → ∞ (the default: the k medoids have p = 0, so the "
                    "draws stand for the other n − k rows), n in expectation with a finite ζ; "
                    + IMPORTANCE_WEIGHTS)
    reference = "Axiotis et al. 2024, arXiv 2402.17327 (Algorithm 2)"

    def __post_init__(self) -> None:
        if self.k is not None and self.k < 1:
            raise InputError(f"k must be ≥ 1 or None (10% of the rows clustered), got {self.k}")
        if self.zeta is not None and self.zeta < 0:
            raise InputError(f"zeta must be ≥ 0 or None (ζ → ∞), got {self.zeta!r}")

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        a = pool.dense_features(self.name)
        k = default_k(pool.n) if self.k is None else self.k
        clustered = min(pool.n, PAM_MAX_ROWS)
        if k > clustered:
            raise InputError(f"k={k} exceeds the {clustered} rows k-medoids clusters (all n = {pool.n} rows, "
                             f"or a sample of {PAM_MAX_ROWS} when n is larger)")
        scores = regression_scores(a, pool.targets, k, self.zeta, rng)
        return sample_scores(scores, budget.total, rng, n_queries=0 if self.zeta is None else k)


@register("leverage")
@dataclass(frozen=True)
class Leverage(MethodBase):
    """Leverage-score sampling: ``p_i = τ_i / Σ τ`` with ``τ_i = ‖U_i‖²`` (U an orthonormal basis of the
    column space of the features, as given — add an intercept column yourself), weights ``1/(s p_i)``.

    Time O(n d²) (thin SVD, or the blocked Gram route for large/sparse input), memory O(n d).
    """

    needs = frozenset()
    weighted = True
    weight_total = UNBIASED_TOTAL
    reference = "Drineas, Mahoney & Muthukrishnan 2006 (leverage-score sampling)"
    scale = "any"

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        return sample_scores(leverage_scores(pool.features), budget.total, rng)
