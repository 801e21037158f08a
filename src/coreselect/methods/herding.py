"""Kernel herding on the features (Welling, "Herding Dynamical Weights to Learn", ICML 2009)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coreselect.budget import Budget
from coreselect.geometry import sq_norms
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.geometry.greedy import herding_order
from coreselect.methods._perclass import select_per_class
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset


def herd(x: np.ndarray, m: int, backend: Backend = NUMPY) -> np.ndarray:
    """`m` distinct rows: step k picks ``argmin_x ‖k·μ − Σ_{j<k} x_j − x‖`` over rows not yet chosen.

    μ is the mean of `x`. Deterministic (ties to the lowest index). Time O(m·n·d), memory O(n + d).
    A torch `backend` scores the rows on its device (:func:`coreselect.geometry.torch_backend.herd`).
    """
    if backend.is_torch:
        from coreselect.geometry import torch_backend

        return torch_backend.herd(x, m, backend.device)
    norms = sq_norms(x).astype(np.float64)
    taken = np.zeros(x.shape[0], dtype=bool)

    def closest_unchosen(target: np.ndarray) -> int:
        score = norms - 2 * (x @ target.astype(np.float32))  # ‖target − x‖² up to a constant
        score[taken] = np.inf
        j = int(np.argmin(score))
        taken[j] = True
        return j

    return herding_order(x, m, closest_unchosen)


@register("herding")
@dataclass(frozen=True)
class Herding(MethodBase):
    """Herding towards each class mean (the whole set's mean without labels); unweighted (n/m).

    Welling 2009, as used for coresets by DeepCore (Guo et al. 2022) — with argmin, the method's
    definition. Time O(Σ_c m_c·n_c·d), memory O(n_c·d) for one class's rows. `backend`, `device`: where
    the scores are computed (:mod:`coreselect.geometry.backend`).
    """

    backend: BackendName = "auto"
    device: DeviceName = "auto"

    reference = "Welling 2009"
    scale = "invariant"
    optional = frozenset({"labels"})

    def __post_init__(self) -> None:
        resolve(self.backend, self.device)

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        x = pool.dense_features(self.name)
        be = resolve(self.backend, self.device)
        idx = select_per_class(pool, budget, lambda rows, m: rows[herd(x[rows], m, be)])
        return Subset.uniform_weights(idx, pool.n)
