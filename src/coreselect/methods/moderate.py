"""Moderate coreset (Xia et al., "Moderate Coreset: A Universal Method of Data Selection", ICLR 2023)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coreselect.budget import Budget
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.methods._perclass import select_per_class
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset


def middle_band(values: np.ndarray, m: int) -> np.ndarray:
    """Positions of the `m` values in the middle of the sorted order (ranks ⌊(n−m)/2⌋ … + m)."""
    order = np.argsort(values, kind="stable")
    low = (values.size - m) // 2
    return order[low : low + m]


def median_distances(x: np.ndarray, pool: Pool, backend: Backend = NUMPY) -> np.ndarray:
    """‖x_i − median_{c(i)}‖ with the coordinate-wise median of each example's class (the medians
    sorted out on a torch `backend`'s device give the same distances:
    :func:`coreselect.geometry.torch_backend.median_distances`)."""
    if backend.is_torch:
        from coreselect.geometry import torch_backend

        return torch_backend.median_distances(x, pool.members().values(), pool.n, backend.device)
    d = np.empty(pool.n, dtype=np.float64)
    for rows in pool.members().values():
        xc = x[rows]
        d[rows] = np.linalg.norm(xc - np.median(xc, axis=0), axis=1)
    return d


@register("moderate")
@dataclass(frozen=True)
class Moderate(MethodBase):
    """Keep the examples whose distance to their class median is closest to the median distance.

    Distances use each class's coordinate-wise median (the whole set's without labels). Globally, the
    middle band of all distances is kept; ``per_class=True`` (CW-ERM's usage) takes the band inside
    every class at its budget share. Unweighted (n/m). Time O(n·d + n log n), memory O(n_c·d).
    `backend`, `device`: where the medians are computed (:mod:`coreselect.geometry.backend`).
    """

    per_class: bool = False
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    reference = "Xia et al. 2023"
    scale = "invariant"
    optional = frozenset({"labels"})

    def __post_init__(self) -> None:
        resolve(self.backend, self.device)

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        be = resolve(self.backend, self.device)
        return self.from_distances(pool, budget, median_distances(pool.dense_features(self.name), pool, be))

    def from_distances(self, pool: Pool, budget: Budget, d: np.ndarray) -> Subset:
        """The middle band of the distances `d` to the class medians (globally, or per class)."""
        if self.per_class:
            idx = select_per_class(pool, budget, lambda rows, m: rows[middle_band(d[rows], m)])
        else:
            idx = middle_band(d, budget.total)
        return Subset.uniform_weights(np.sort(idx), pool.n)
