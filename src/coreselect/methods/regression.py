"""Sampling rows for linear regression: clustering sensitivity (Algorithm 2) and leverage scores.

References: Axiotis et al., "Data-Efficient Learning via Clustering-Based Sensitivity Sampling"
(arXiv 2402.17327), Algorithm 2, Assumption 8 and Section 5.1; k-medoids by FasterPAM (Schubert &
Rousseeuw 2019/2021) or the alternating method with the ``heuristic`` init of scikit-learn-extra's
``KMedoids`` (its defaults, which the paper used), both from the ``kmedoids`` package; leverage-score
sampling (Drineas, Mahoney & Muthukrishnan 2006).

``regression-sensitivity`` returns A ∪ S: the k medoids A with weight 1 (their labels are read exactly)
and s i.i.d. draws S over the other rows with weights ``1/(s p_i)`` (duplicates merged); ``leverage``
returns s i.i.d. draws. In both the weighted squared loss ``Σ w (⟨a, x⟩ − b)²`` is an unbiased estimate
of ``‖Ax − b‖²`` for every x (for regression-sensitivity, of the sum over the medoids and the rows with
``p_i > 0``: every row unless ζ → ∞ and the row coincides with its medoid);
:func:`weighted_lstsq` solves the weighted least squares on the sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.geometry.distances import sq_dists
from coreselect.geometry.neighbors import nearest
from coreselect.geometry.sensitivities import leverage_scores
from coreselect.methods.sensitivity import IMPORTANCE_WEIGHTS, UNBIASED_TOTAL, draw
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

#: k-medoids needs the full dissimilarity matrix of the rows it clusters: at most this many rows
#: (an 8192² float32 matrix is 256 MiB). Larger inputs are clustered on a uniform sample of this many
#: rows and every row is then assigned to its nearest medoid.
PAM_MAX_ROWS = 8192
CLUSTERINGS = ("fasterpam", "alternate")
#: Default share of the label budget spent on medoids (provisional: chosen from a review at matched
#: label budgets on the gas-sensor data, where s/2 medoids + s/2 draws was competitive with leverage
#: sampling from s = 500 up; to be revisited with the medoid-share sweep).
MEDOID_SHARE = 0.5
_BLOCK_ROWS = 65536


def clustered_rows(n: int) -> int:
    """How many rows k-medoids clusters: all n, or a uniform sample of :data:`PAM_MAX_ROWS`."""
    return min(n, PAM_MAX_ROWS)


def default_k(n: int, size: int, medoid_share: float = MEDOID_SHARE) -> int:
    """Medoids for a label budget of `size` on `n` rows: ``round(medoid_share · size)``, at least 1, at
    most ``size − 1`` (so at least one draw) and at most half the rows k-medoids clusters (so the
    medoids still cluster: two clustered rows per medoid on average). The last bound is what makes the
    default valid at any n: above :data:`PAM_MAX_ROWS` rows the clustering sees a sample of 8,192 rows,
    and a k tied to n alone (the paper's 10 % of n) would exceed it beyond n = 81,920. Needs size ≥ 2."""
    return max(1, min(round(medoid_share * size), size - 1, clustered_rows(n) // 2))


def _heuristic_init(diss: np.ndarray, k: int) -> np.ndarray:
    """scikit-learn-extra ``KMedoids(init="heuristic")``: the k rows of smallest total dissimilarity
    (``np.argpartition(diss.sum(axis=1), k - 1)[:k]``, as there)."""
    return np.argpartition(diss.sum(axis=1, dtype=np.float64), k - 1)[:k].astype(np.int64)


def kmedoids_rows(a: np.ndarray, k: int, rng: np.random.Generator, clustering: str = "fasterpam",
                  max_rows: int | None = None, backend: Backend = NUMPY) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Euclidean k-medoids of the rows of `a` (an O(1)-approximate k-median, Algorithm 2 step 1).

    Returns `(medoids (k,) sorted row indices, assign (n,) position of each row's nearest medoid,
    dist (n,) ‖a_i − â_i‖)`. ``clustering="fasterpam"``: FasterPAM, random init seeded from `rng`
    (max 100 iterations); ``"alternate"``: the alternating (Voronoi-iteration) method from the
    ``heuristic`` init, max 300 iterations — scikit-learn-extra's ``KMedoids`` defaults. Both single
    threaded, through the ``kmedoids`` package. They run on all rows when ``n ≤ max_rows`` (default
    :data:`PAM_MAX_ROWS`), else on a uniform sample of `max_rows` rows (CLARA-style), then one exact
    assignment pass (on `backend`'s device). Time O(m² d + iters · m²) for the m clustered rows plus
    O(n k d); memory O(m²) float32 — never an unbounded n × n matrix.
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
    if clustering == "fasterpam":
        result = kmedoids.fasterpam(diss, k, max_iter=100, init="random",
                                    random_state=int(rng.integers(2**31 - 1)), n_cpu=1)
    elif clustering == "alternate":
        result = kmedoids.alternating(diss, _heuristic_init(diss, k), max_iter=300)
    else:
        raise InputError(f"clustering must be one of {CLUSTERINGS}, got {clustering!r}")
    del diss
    medoids = rows[np.sort(np.asarray(result.medoids, dtype=np.int64))]
    assign, d2 = nearest(a, a[medoids], backend)
    assign[medoids] = np.arange(k)
    d2[medoids] = 0
    return medoids, assign, np.sqrt(d2.astype(np.float64))


def _rms_row_norm(a: np.ndarray) -> float:
    """``sqrt(mean_i ‖a_i‖²)`` in float64, over row blocks (no float64 copy of `a`)."""
    total = sum(float(np.einsum("ij,ij->", block, block, dtype=np.float64))
                for block in (a[i:i + _BLOCK_ROWS] for i in range(0, a.shape[0], _BLOCK_ROWS)))
    return math.sqrt(total / a.shape[0])


def regression_scores(a: np.ndarray, b: np.ndarray, medoids: np.ndarray, assign: np.ndarray,
                      dist: np.ndarray, zeta: float | None) -> np.ndarray:
    """Algorithm 2 steps 2–4: ``ζ ‖a_i − â_i‖ + (⟨â_i, x₀⟩ − b̂_i)²`` (unnormalised p) per row.

    `x₀` is the least-squares fit to the medoids weighted by their cluster sizes (step 3). Assumption 8
    asks for ``‖a_i‖ = O(1)`` and ``b_i = O(1)``, so a finite ζ is applied to standardised rows and
    targets: ``a / r`` and ``b / r_b`` with r the root-mean-square row norm and r_b the root-mean-square
    target. Both are uniform rescalings, so the clustering is unchanged; the fit is scale-equivariant,
    so the scores are ``ζ ‖a_i − â_i‖ / r + (⟨â_i, x₀⟩ − b̂_i)² / r_b²`` with x₀ fitted in the data's own
    units. ``zeta=None`` is ζ → ∞ (the paper's experiment): the scores are the distances, the targets
    are not read.
    """
    if zeta is None:
        return dist.copy()
    k = medoids.size
    sizes = np.bincount(assign, minlength=k).astype(np.float64)
    am, bm = a[medoids].astype(np.float64), np.asarray(b, dtype=np.float64)[medoids]
    root = np.sqrt(sizes)
    x0 = np.linalg.lstsq(am * root[:, None], bm * root, rcond=None)[0]
    resid = (am @ x0 - bm)[assign]
    r = _rms_row_norm(a)
    r_b = math.sqrt(float(np.mean(np.square(b, dtype=np.float64))))
    with np.errstate(over="ignore", invalid="ignore"):
        return zeta * dist / (r if r > 0 else 1.0) + (resid / (r_b if r_b > 0 else 1.0)) ** 2


def _probabilities(scores: np.ndarray, support: np.ndarray | None = None) -> np.ndarray:
    """``p ∝ scores`` (uniform over `support`, default all rows, when every score there is 0). Scores
    whose sum overflows (a huge ζ or huge targets) are an InputError, never a silent uniform sample."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = scores.sum()
    if not np.isfinite(total):
        raise InputError("the sampling scores ζ·dist + residual² overflow float64; lower zeta, or rescale the "
                         "features or targets")
    if total > 0:
        return scores / total
    p = np.ones(scores.size) if support is None else support.astype(np.float64)
    return p / p.sum()


def sample_scores(scores: np.ndarray, s: int, rng: np.random.Generator, n_queries: int = 0) -> Subset:
    """`s` i.i.d. draws with ``p ∝ scores`` (uniform when all are 0), weights ``1/(s p)``, merged."""
    return draw(_probabilities(scores), s, rng, n_queries=n_queries)


def sample_medoids_and_draws(scores: np.ndarray, medoids: np.ndarray, s: int, rng: np.random.Generator) -> Subset:
    """A ∪ S: the medoids with weight 1, and `s` i.i.d. draws over the other rows with ``p ∝ scores``
    (zero at the medoids; uniform over the other rows when every score there is 0), weight
    ``1/(s p_i)``, duplicates merged. ``n_queries = k + s``, the label budget.

    For every x, ``E[Σ w (⟨a, x⟩ − b)²] = Σ_A r_i² + Σ_{i∉A} s p_i r_i² / (s p_i)``, i.e. ``‖Ax − b‖²``
    over the medoids and every row with ``p_i > 0``. This is the estimator ``RegressionSensitivity``
    returns. O(n + s log n).
    """
    q = scores.astype(np.float64, copy=True)
    q[medoids] = 0
    others = np.ones(q.size, dtype=bool)
    others[medoids] = False
    if not others.any():
        raise InputError(f"no rows are left to draw from: all {q.size} rows are medoids")
    p = _probabilities(q, support=others)
    draws = rng.choice(p.size, size=s, p=p)
    rows = np.concatenate([medoids, draws])
    weights = np.concatenate([np.ones(medoids.size), 1.0 / (s * p[draws])])
    return Subset.from_draws(rows, weights, p.size, n_queries=int(medoids.size + s))


def weighted_lstsq(a: np.ndarray, b: np.ndarray, subset: Subset) -> np.ndarray:
    """``argmin_x Σ_{i∈S} w_i (⟨a_i, x⟩ − b_i)²`` (minimum-norm when the sample is rank deficient)."""
    root = np.sqrt(subset.weights)
    rows = subset.indices
    return np.linalg.lstsq(a[rows].astype(np.float64) * root[:, None], b[rows] * root, rcond=None)[0]


@register("regression-sensitivity")
@dataclass(frozen=True)
class RegressionSensitivity(MethodBase):
    """Algorithm 2, read as A ∪ S: k-medoids of the rows, the k medoids with weight 1, and s i.i.d.
    draws over the other rows with ``p_i ∝ ζ‖a_i − â_i‖ + (⟨â_i, x₀⟩ − b̂_i)²``, weight ``1/(s p_i)``.

    The budget is the label budget k + s (``n_queries``): ``k`` medoids (None: :func:`default_k`,
    ``medoid_share`` of the budget) and s = budget − k draws. ``zeta``: the label-Lipschitz constant ζ of
    Assumption 8 on standardised rows and targets (:func:`regression_scores`); None is ζ → ∞ (p ∝
    distance to the medoid, the paper's Figure 1). ``clustering``: ``fasterpam`` or ``alternate``
    (scikit-learn-extra's ``KMedoids`` defaults, :func:`kmedoids_rows`). The paper outputs S alone; with
    ζ → ∞ a medoid has p = 0, so rows that k-medoids isolates as singleton medoids (outliers of high
    leverage) would never be in the sample — keeping A keeps them, and the estimate stays unbiased.
    Complexity: :func:`kmedoids_rows` plus O(n k d) for the assignment and O(n + s log n); memory
    O(min(n, 8192)²) float32 (256 MiB at most) plus O(n). `backend`, `device`: where the assignment of
    every row to its nearest medoid runs (:mod:`coreselect.geometry.backend`); k-medoids stays on the CPU.
    """

    k: int | None = None
    zeta: float | None = None
    medoid_share: float = MEDOID_SHARE
    clustering: Literal["fasterpam", "alternate"] = "fasterpam"
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    needs = frozenset({"targets"})
    weighted = True
    weight_total = ("n in expectation: the k medoids weigh 1 each and the draws stand for the other n − k "
                    "rows (with ζ → ∞, for those not at distance 0 from their medoid); " + IMPORTANCE_WEIGHTS)
    reference = "Axiotis et al. 2024, arXiv 2402.17327 (Algorithm 2)"

    def __post_init__(self) -> None:
        if self.k is not None and self.k < 1:
            raise InputError(f"k must be ≥ 1 or None (medoid_share of the budget), got {self.k}")
        if self.zeta is not None and self.zeta < 0:
            raise InputError(f"zeta must be ≥ 0 or None (ζ → ∞), got {self.zeta!r}")
        if not 0 < self.medoid_share < 1:
            raise InputError(f"medoid_share must be in (0, 1), got {self.medoid_share!r}")
        if self.clustering not in CLUSTERINGS:
            raise InputError(f"clustering must be one of {CLUSTERINGS}, got {self.clustering!r}")
        resolve(self.backend, self.device)

    def medoids_and_draws(self, n: int, size: int) -> tuple[int, int]:
        """`(k, s)` for a label budget of `size` on `n` rows; InputError when they do not fit."""
        if size < 2:
            raise InputError(f"regression-sensitivity needs a budget of at least 2 labels (k ≥ 1 medoid + "
                             f"s ≥ 1 draw), got {size}")
        k = default_k(n, size, self.medoid_share) if self.k is None else self.k
        clustered = clustered_rows(n)
        if k > clustered:
            raise InputError(f"k={k} exceeds the {clustered} rows k-medoids clusters (all n = {n} rows, "
                             f"or a sample of {PAM_MAX_ROWS} when n is larger)")
        if k >= size:
            raise InputError(f"k={k} medoids leave no draw in a budget of {size} labels (k + s = budget); "
                             f"give k < {size}")
        return k, size - k

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        k, s = self.medoids_and_draws(pool.n, budget.total)
        a = pool.dense_features(self.name)
        medoids, assign, dist = kmedoids_rows(a, k, rng, self.clustering,
                                              backend=resolve(self.backend, self.device))
        scores = regression_scores(a, pool.targets, medoids, assign, dist, self.zeta)
        return sample_medoids_and_draws(scores, medoids, s, rng)


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
