"""Uniform random selection: the baseline every other method must beat."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coreselect.budget import Budget
from coreselect.methods._perclass import select_per_class
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset


@register("uniform")
@dataclass(frozen=True)
class Uniform(MethodBase):
    """Uniform sampling without replacement; ``stratified=True`` samples each class to its budget share.

    Weights are n/m (unweighted). Time O(n), memory O(n).
    """

    stratified: bool = False
    reference = "random baseline"
    scale = "any"

    def requires(self) -> frozenset[str]:
        return frozenset({"labels"}) if self.stratified else frozenset()

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        if self.stratified:
            idx = select_per_class(pool, budget, lambda rows, m: rng.choice(rows, m, replace=False))
        else:
            idx = rng.choice(pool.n, budget.total, replace=False)
        return Subset.uniform_weights(np.sort(idx), pool.n)
