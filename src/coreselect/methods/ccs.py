"""Coverage-centric coreset selection (Zheng et al., "Coverage-centric Coreset Selection for High
Pruning Rates", ICLR 2023, Algorithm 1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.methods.boss import after_cutoff
from coreselect.methods.prune import HIGHER_IS_HARDER
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

#: The paper's CIFAR-10 cutoffs β by fraction (METHODS.md); the nearest tabulated fraction applies.
CUTOFFS: tuple[tuple[float, float], ...] = ((0.1, 0.3), (0.2, 0.1), (0.3, 0.1), (0.5, 0.0))


def default_cutoff(fraction: float) -> float:
    """β of the tabulated fraction nearest to `fraction` (ties: the smaller fraction); 0 from 0.5 up."""
    if fraction >= 0.5:
        return 0.0
    return min(CUTOFFS, key=lambda r: (abs(r[0] - fraction), r[0]))[1]


def strata_budgets(sizes: np.ndarray, m: int) -> np.ndarray:
    """Visit strata from smallest to largest, giving each ``min(size, ⌊remaining / strata left⌋)``.

    Sums to `m` whenever ``sizes.sum() ≥ m`` (the largest strata come last and absorb the rest).
    Ties in size: lower stratum first. O(K log K).
    """
    take = np.zeros(sizes.size, dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    remaining = m
    for left, s in zip(range(sizes.size, 0, -1), order):
        take[s] = min(int(sizes[s]), remaining // left)
        remaining -= take[s]
    return take


def coverage_sample(score: np.ndarray, m: int, strata: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of `m` examples: `strata` equal-width bins of `score` over [min, max], budgets by
    :func:`strata_budgets` over the non-empty bins, uniform sampling without replacement inside each."""
    lo, hi = float(score.min()), float(score.max())
    if hi > lo:
        bins = np.minimum(((score - lo) / (hi - lo) * strata).astype(np.int64), strata - 1)
    else:
        bins = np.zeros(score.size, dtype=np.int64)
    order = np.argsort(bins, kind="stable")
    sizes = np.bincount(bins, minlength=strata)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    nonempty = np.flatnonzero(sizes)
    take = strata_budgets(sizes[nonempty], m)
    picked = [rng.choice(order[starts[b]:starts[b + 1]], size=int(t), replace=False)
              for b, t in zip(nonempty, take) if t > 0]
    return np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)


@register("ccs")
@dataclass(frozen=True)
class CCS(MethodBase):
    """Drop the ⌊β·n⌋ lowest-AUM examples, then sample evenly across `strata` difficulty strata.

    (1) hard cutoff by AUM (β = `cutoff`, default by fraction from the paper's CIFAR-10 table);
    (2) `strata` = 50 equal-width strata of the difficulty `score` (AUM by default; el2n, forgetting,
    grand, loss selectable) over [min, max] of the kept examples; (3) strata visited from smallest to
    largest, each given ``min(size, ⌊remaining / strata left⌋)``; (4) uniform sampling inside each.
    Global over the pool (the paper's form). Unweighted (n/m). Time O(n log n), memory O(n).
    """

    cutoff: float | None = None
    score: str = "aum"
    strata: int = 50
    reference = "Zheng et al. 2023 (CCS)"
    scale = "any"

    def __post_init__(self) -> None:
        if self.cutoff is not None and not 0 <= self.cutoff < 1:
            raise InputError(f"cutoff must be in [0, 1), got {self.cutoff}")
        if self.score not in HIGHER_IS_HARDER:
            raise InputError(f"score must be one of {', '.join(HIGHER_IS_HARDER)}, got {self.score!r}")
        if self.strata < 1:
            raise InputError(f"strata must be >= 1, got {self.strata!r}")

    def requires(self) -> frozenset[str]:
        return frozenset({"aum", self.score})

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        if self.strata > pool.n:  # more strata than examples: empty bins, and memory for each
            raise InputError(f"strata must be at most the number of examples ({pool.n}), got {self.strata}")
        beta = default_cutoff(budget.total / budget.n) if self.cutoff is None else self.cutoff
        keep = after_cutoff(pool.signals["aum"], beta)
        if keep.size < budget.total:
            raise InputError(
                f"only {keep.size} of {pool.n} examples remain after the AUM cutoff {beta}, fewer than "
                f"the budget {budget.total}; lower the cutoff"
            )
        chosen = keep[coverage_sample(pool.signals[self.score][keep], budget.total, self.strata, rng)]
        return Subset.uniform_weights(np.sort(chosen), pool.n)
