"""k-center greedy (Sener & Savarese, "Active Learning for CNNs: A Core-Set Approach", ICLR 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coreselect.budget import Budget
from coreselect.geometry import sq_norms
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.geometry.greedy import farthest_first
from coreselect.methods._perclass import select_per_class
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset


def kcenter_greedy(x: np.ndarray, m: int, rng: np.random.Generator,
                   initial: np.ndarray | None = None, backend: Backend = NUMPY) -> np.ndarray:
    """`m` new rows of `x` chosen greedily: each is ``argmax_i min_{j∈S} ‖x_i − x_j‖`` (S grows).

    S starts as `initial` (row indices, not returned) or, without one, a uniformly random row (returned
    as the first choice). Only the running minima are kept: time O(m·n·d), memory O(n) beyond `x`.
    Ties go to the lowest index. A torch `backend` keeps the minima on its device
    (:func:`coreselect.geometry.torch_backend.kcenter_greedy`).
    """
    if backend.is_torch:
        from coreselect.geometry import torch_backend

        return torch_backend.kcenter_greedy(x, m, rng, initial, backend.device)
    n = x.shape[0]
    norms = sq_norms(x)
    mins = np.full(n, np.inf, dtype=np.float32)

    def absorb(j: int) -> None:
        d = norms - 2 * (x @ x[j]) + norms[j]
        np.minimum(mins, np.maximum(d, 0), out=mins)
        mins[j] = -1  # chosen: float32 rounding can leave its own distance above 0, so mask it

    return farthest_first(n, m, rng, initial, absorb, lambda: int(np.argmax(mins)))


@register("kcenter")
@dataclass(frozen=True)
class KCenter(MethodBase):
    """k-center greedy coreset of the features (global, or per class with ``per_class=True``).

    Sener & Savarese 2018, Algorithm 1. Unweighted (n/m). Time O(m·n·d), memory O(n) beyond the features.
    `backend`, `device`: where the greedy scan runs (:mod:`coreselect.geometry.backend`).
    """

    per_class: bool = False
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    reference = "Sener & Savarese 2018"
    scale = "invariant"

    def __post_init__(self) -> None:
        resolve(self.backend, self.device)

    def requires(self) -> frozenset[str]:
        return frozenset({"labels"}) if self.per_class else frozenset()

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        x = pool.dense_features(self.name)
        be = resolve(self.backend, self.device)
        if self.per_class:
            idx = select_per_class(pool, budget, lambda rows, m: rows[kcenter_greedy(x[rows], m, rng, backend=be)])
        else:
            idx = kcenter_greedy(x, budget.total, rng, backend=be)
        return Subset.uniform_weights(idx, pool.n)
