"""CRAIG (Mirzasoleiman, Bilmes & Leskovec, "Coresets for Data-efficient Training of Machine Learning
Models", ICML 2020, Eq. 8–9 and Algorithm 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.geometry import facility
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.geometry.neighbors import nearest
from coreselect.methods._perclass import class_budgets
from coreselect.methods.facility_location import GraphOptions, Optimizer
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset


def represented_counts(x: np.ndarray, chosen: np.ndarray, backend: Backend = NUMPY) -> np.ndarray:
    """Weights of the chosen rows: how many rows of `x` each is nearest to (exact, faiss; ties: first).

    A chosen row that stands for no one (an exact duplicate of another chosen row) counts 1 instead of
    0, and the counts are rescaled to sum to ``len(x)``. Time O(n·m·d), memory O(n).
    """
    who, _ = nearest(x, x[chosen], backend)
    counts = np.bincount(who, minlength=chosen.size).astype(np.float64)
    counts[counts == 0] = 1
    return counts * (x.shape[0] / counts.sum())


@register("craig")
@dataclass(frozen=True)
class CRAIG(MethodBase):
    """Per class, facility location on gradient embeddings with Sim = R − ‖g_i − g_j‖; weights = counts.

    `features` must be last-layer gradient embeddings of the kind `gradient` names
    (:func:`coreselect.geometry.gradients.gradient_embedding`): ``"logits"`` (default) — ``p − y``,
    C-dimensional, the embedding of the official CRAIG code — or ``"full"`` — ``(p − y) ⊗ [h; 1]``, the
    whole last-layer gradient (Mirzasoleiman et al. 2020, §3.2). The method selects on whatever it is
    given; whoever builds the features honours `gradient` (the bench does, because
    ``embedding = "gradients"``). The chosen examples are the lazy-greedy maximisers of
    ``Σ_i max_{j∈S} (R − ‖g_i − g_j‖)`` (CRAIG Eq. 9; R bounds every distance, see
    :mod:`coreselect.geometry.facility`) — over all pairs where the class's block fits `dense_mb` (the
    official dense similarity), over the `neighbors`-NN graph beyond (scope ``"auto"``); the weight of j
    is the number of class members whose nearest chosen gradient is g_j (Eq. 8's γ_j), so each class's
    weights sum to its size and all to n.
    Time and memory: those of facility location per class, plus O(n_c·m_c·d) for the counts. `backend`,
    `device`: where the similarity block or exact graph and the counts' assignment run
    (:mod:`coreselect.geometry.backend`).
    """

    optimizer: Optimizer = "lazy"
    neighbors: int = facility.DEFAULT_NEIGHBORS
    exact: bool = False
    probes: int = 4
    dense_mb: float = facility.DENSE_BYTES / 2**20
    gradient: Literal["logits", "full"] = "logits"
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    needs = frozenset({"labels"})
    weighted = True
    embedding = "gradients"
    reference = "Mirzasoleiman et al. 2020 (CRAIG)"
    scale = "invariant"

    def __post_init__(self) -> None:
        self.options().check()

    def options(self) -> GraphOptions:
        return GraphOptions(similarity="euclidean", scope="auto", optimizer=self.optimizer, neighbors=self.neighbors,
                            exact=self.exact, probes=self.probes, dense_mb=self.dense_mb,
                            backend=resolve(self.backend, self.device))

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        x = pool.dense_features(self.name)
        opts = self.options()
        idx, w = [], []
        for rows, m in class_budgets(pool, budget):
            chosen = np.sort(opts.select(x[rows], m, rng)[0])
            idx.append(rows[chosen])
            w.append(represented_counts(x[rows], chosen, opts.backend))
        return Subset(indices=np.concatenate(idx), weights=np.concatenate(w), n=pool.n)
