"""Tuned coresets: per-class sensitivity sampling with a deterministic part.

Reference: "Improving Model Classification by Optimizing the Training Dataset" (arXiv 2507.16729),
§2.2 (deterministic sampling and the weight strategies `keep` / `inv` / `prop`), §2.3 (class-wise
allocation), §4.1 (sensitivities). METHODS.md, "Tuned coresets for classification".

Inside class c with budget `m_c`, prior weights `w` (all 1), `W_c = Σ_c w` and sensitivities `s`
(`p_i = s_i / Σ_c s`): the top `k = ⌊d·m_c⌋` by `s` are taken (set D); `m_c − k` draws are made i.i.d.
from the rest ∝ `s` (`p′_i = s_i / Σ_{c∖D} s`); repeated draws are merged by adding their weights.
Weights per draw or deterministic example:

* ``inv``  — `w_i / (m_c p_i)` for every chosen example (the classical estimator; unbiased at d = 0);
* ``keep`` — D keeps `w_i`; a draw gets `w_i / ((m_c − k) p′_i)` (unbiased for every d);
* ``prop`` — the ``keep`` weights of D rescaled to sum to `(k/m_c)·W_c`, those of the draws to
  `(1 − k/m_c)·W_c` (k/m_c is d after rounding, so the class always totals `W_c`).

`d = 0`, ``proportional`` allocation and ``inv`` is the vanilla sensitivity-sampling coreset (``keep``
equals ``inv`` at d = 0).

These weights are in units of the prior weight 1 and need not sum to n (``keep`` at d = 1 sums to m,
``inv`` at d > 0 over-counts the forced examples). The returned subset multiplies them all by one common
factor ``c = n / Σ w`` so that they sum to n exactly (DESIGN.md, weight convention), recorded as
``params["unit_weight"]``: the weight of an example that stands for itself only. A common factor
changes no classifier trained on the weights (training normalises them to mean 1) and keeps the
relative class masses each strategy gives, which is what tuning the allocation acts on; the per-class
estimators above are unbiased before the factor, and the factor turns them into ratio estimators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry.sensitivities import SENSITIVITIES, sensitivity
from coreselect.methods._perclass import class_budgets
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

WEIGHTINGS = ("keep", "inv", "prop")
#: Most ℓ1 Lewis iterations: each halves the log-error (:func:`lewis_weights`), so ~60 exhaust float64.
MAX_LEWIS_ITERS = 100


def mixed(scores: np.ndarray, uniform_share: float) -> np.ndarray:
    """Sampling probabilities ``(1 − α)·s/Σs + α/n`` over `scores` (α = `uniform_share`).

    The uniform part bounds every weight ``1/(m p)`` by ``n/(α m)`` (defensive importance sampling,
    Hesterberg 1995); the estimate stays unbiased for any α, and α = 1 is uniform sampling.
    """
    return (1.0 - uniform_share) * scores / scores.sum() + uniform_share / scores.size


def sample_class(scores: np.ndarray, m: int, deterministic: float, weighting: str,
                 rng: np.random.Generator, uniform_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One class: `(positions, weights)` of `m` picks (deterministic top-k + i.i.d. draws) with prior w = 1.

    Draws follow :func:`mixed` (sensitivities mixed with a `uniform_share` of uniform mass); the
    deterministic top-k follows the sensitivities alone. `positions` index into `scores` and may
    repeat (draws); merge with :meth:`Subset.from_draws`. Time O(n_c log n_c) (the top-k sort),
    memory O(n_c).
    """
    n_c = scores.size
    k = min(int(np.floor(deterministic * m + 1e-9)), m)
    order = np.argsort(-scores, kind="stable")
    top, rest = order[:k], np.sort(order[k:])
    draws_n = m - k
    p = mixed(scores, uniform_share)
    if draws_n and rest.size == 0:
        raise InputError(f"a class of {n_c} examples cannot take {m} picks")
    draws = np.empty(0, dtype=np.int64)
    p_rest = np.empty(0)
    if draws_n:
        p_rest = mixed(scores[rest], uniform_share)
        pick = rng.choice(rest.size, size=draws_n, replace=True, p=p_rest)
        draws, p_rest = rest[pick], p_rest[pick]
    if weighting == "inv":
        w_top, w_draw = 1.0 / (m * p[top]), 1.0 / (m * p[draws])
    else:
        w_top, w_draw = np.ones(k), 1.0 / (draws_n * p_rest) if draws_n else np.empty(0)
        if weighting == "prop":
            if k:
                w_top = w_top * ((k / m) * n_c / w_top.sum())
            if draws_n:
                w_draw = w_draw * ((draws_n / m) * n_c / w_draw.sum())
    return np.concatenate([top, draws]), np.concatenate([w_top, w_draw])


def sample_coreset(plan: Sequence[tuple[np.ndarray, int, np.ndarray]], n: int, deterministic: float,
                   weighting: str, rng: np.random.Generator, uniform_share: float = 0.0) -> Subset:
    """Merge :func:`sample_class` over `plan = [(class rows, m_c, class scores)]` into one Subset whose
    weights sum to n: the strategy's weights times ``unit_weight = n / Σ w`` (module docstring).

    The scores are computed once and reused here, which is what makes grid tuning cheap.
    """
    idx, w = [], []
    for rows, m, scores in plan:
        pos, weights = sample_class(scores, m, deterministic, weighting, rng, uniform_share)
        idx.append(rows[pos])
        w.append(weights)
    weights = np.concatenate(w)
    unit = n / weights.sum()
    return Subset.from_draws(np.concatenate(idx), weights * unit, n, params={"unit_weight": float(unit)})


def class_scores(pool: Pool, kind: str, lewis_iters: int = 20) -> dict[int, np.ndarray]:
    """`{class: sensitivities of its rows}` (rows in :meth:`Pool.members` order), each on `[X_c | 1]`."""
    return {c: sensitivity(pool.features[rows], kind, lewis_iters=lewis_iters)
            for c, rows in pool.members().items()}


def check_classes(pool: Pool) -> None:
    if pool.labels is None:
        raise InputError("method 'coreset' needs labels")
    classes = list(pool.members())
    if len(classes) < 2:
        raise InputError(f"method 'coreset' needs at least two classes; labels hold only {classes}")


@register("coreset")
@dataclass(frozen=True)
class Coreset(MethodBase):
    """Per-class sensitivity coreset with a deterministic fraction and a weight strategy (module docstring).

    Parameters: ``sensitivity`` (``unified`` | ``leverage`` | ``lewis``), ``deterministic`` d ∈ [0, 1],
    ``weighting`` (``keep`` | ``inv`` | ``prop``), ``uniform_share`` α ∈ [0, 1] (:func:`mixed`),
    ``lewis_iters`` (1–100). The strategy's weights are scaled by one common factor to sum to n
    (recorded as ``params["unit_weight"]``, module docstring); a classifier trained through
    ``sample_weight`` should normalise them (the tuner does, to mean 1). The class split comes from the
    front door's ``allocation`` (``proportional``, ``balanced``, ``{class: size or fraction}``); without
    one it is ``balanced``.

    Defaults — balanced classes, α = 0.75, d = 0, ``prop`` — were chosen by a sweep against uniform
    sampling on three tabular sets with logistic regression and XGBoost
    (``benchmarks/results/coreset-defaults.md``): they hold uniform's level in every cell and beat it in
    most, where the paper's vanilla setting (``coreset-vanilla``) loses to it. The gain comes from the
    balanced class budgets with the class masses kept by the weights; on those sets α = 1 (no
    sensitivities) is as good.
    Dense or CSR features. Time: the per-class sensitivity (O(nnz·d + d³) per class, × ``lewis_iters``
    for ``lewis``) plus O(n log n) sampling; memory O(n + d²) beyond the features.
    """

    sensitivity: Literal["unified", "leverage", "lewis"] = "unified"
    deterministic: float = 0.0
    weighting: Literal["keep", "inv", "prop"] = "prop"
    lewis_iters: int = 20
    uniform_share: float = 0.75

    needs = frozenset({"labels"})
    weighted = True
    reference = "Improving Model Classification by Optimizing the Training Dataset (arXiv 2507.16729)"
    scale = "any"
    default_allocation = "balanced"

    def __post_init__(self) -> None:
        if self.sensitivity not in SENSITIVITIES:
            raise InputError(f"sensitivity must be one of {SENSITIVITIES}, got {self.sensitivity!r}")
        if self.weighting not in WEIGHTINGS:
            raise InputError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if not 0.0 <= self.deterministic <= 1.0:
            raise InputError(f"deterministic must be a fraction in [0, 1], got {self.deterministic!r}")
        if not 0.0 <= self.uniform_share <= 1.0:
            raise InputError(f"uniform_share must be a fraction in [0, 1], got {self.uniform_share!r}")
        if not 1 <= self.lewis_iters <= MAX_LEWIS_ITERS:
            raise InputError(f"lewis_iters must be in [1, {MAX_LEWIS_ITERS}] (each iteration halves the "
                             f"log-error: beyond ~60 float64 cannot change), got {self.lewis_iters!r}")

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        check_classes(pool)
        plan = class_budgets(pool, budget)  # checks every class share before any heavy work
        plan = [(rows, m, sensitivity(pool.features[rows], self.sensitivity, lewis_iters=self.lewis_iters))
                for rows, m in plan]
        return self.sample(plan, pool.n, rng)

    def sample(self, plan: Sequence[tuple[np.ndarray, int, np.ndarray]], n: int, rng: np.random.Generator) -> Subset:
        """:func:`sample_coreset` with this method's parameters, over `plan = [(class rows, m_c, scores)]`."""
        return sample_coreset(plan, n, float(self.deterministic), self.weighting, rng, float(self.uniform_share))


@register("coreset-vanilla")
@dataclass(frozen=True)
class VanillaCoreset(Coreset):
    """The paper's baseline, by name: plain sensitivity sampling — no deterministic part (d = 0), no
    uniform share, ``inv`` weights and, without an ``allocation``, proportional class budgets. Its
    parameters are :class:`Coreset`'s; only the defaults differ."""

    deterministic: float = 0.0
    weighting: Literal["keep", "inv", "prop"] = "inv"
    uniform_share: float = 0.0

    default_allocation = "proportional"
