"""Score pruning: keep the hardest (or easiest) examples by a training-dynamics signal.

EL2N and GraNd: Paul et al., "Deep Learning on a Data Diet", NeurIPS 2021; forgetting: Toneva et al.,
ICLR 2019; AUM: Pleiss et al., NeurIPS 2020.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.methods._perclass import select_per_class
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.signals import HIGHER_IS_HARDER
from coreselect.subset import Subset


def hardness(values: np.ndarray, higher_is_harder: bool) -> np.ndarray:
    return values if higher_is_harder else -values


def top(score: np.ndarray, m: int) -> np.ndarray:
    """Positions of the `m` largest scores (ties to the lowest position)."""
    return np.argsort(-score, kind="stable")[:m]


@register("prune")
@dataclass(frozen=True)
class Prune(MethodBase):
    """Keep the `m` hardest (``keep="hard"``) or easiest examples by `signal`, globally or per class.

    Direction is known for el2n, grand, forgetting, loss (higher = harder) and aum (lower = harder);
    other signals need `higher_is_harder`. Unweighted (n/m). Time O(n log n), memory O(n).

    Paul et al. prune the easiest examples and keep most of the data. Kept to small fractions, the
    hardest examples alone train far worse models than random ones (benchmarks/results/scoreboard.md,
    by EL2N, AUM or forgetting alike: Fashion-MNIST 0.14–0.18 against 0.61 at 1% and below random up to
    20–30%; MNIST far below at 1–5%, level or above from 10%; the BOSS paper's Table 2 finds the same
    with EL2N on CIFAR).
    """

    signal: str = "el2n"
    keep: Literal["hard", "easy"] = "hard"
    per_class: bool = False
    higher_is_harder: bool | None = None
    reference = "Paul et al. 2021; Toneva et al. 2019; Pleiss et al. 2020"
    scale = "any"

    def __post_init__(self) -> None:
        if self.keep not in ("hard", "easy"):
            raise InputError(f"keep must be 'hard' or 'easy', got {self.keep!r}")
        if self.higher_is_harder is None and self.signal not in HIGHER_IS_HARDER:
            raise InputError(
                f"unknown direction for signal {self.signal!r}: set higher_is_harder "
                f"(known: {', '.join(HIGHER_IS_HARDER)})"
            )

    def requires(self) -> frozenset[str]:
        return frozenset({self.signal} | ({"labels"} if self.per_class else set()))

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        up = HIGHER_IS_HARDER.get(self.signal) if self.higher_is_harder is None else self.higher_is_harder
        score = hardness(pool.signals[self.signal], bool(up))
        if self.keep == "easy":
            score = -score
        if self.per_class:
            idx = select_per_class(pool, budget, lambda rows, m: rows[top(score[rows], m)])
        else:
            idx = top(score, budget.total)
        return Subset.uniform_weights(np.sort(idx), pool.n)
