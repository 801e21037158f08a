"""Facility location per class (Cornuéjols, Fisher & Nemhauser 1977; greedy: Nemhauser et al. 1978)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry import facility
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.geometry.greedy import OPTIMIZERS, ScaledGains, maximize
from coreselect.methods._perclass import select_per_class
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

Optimizer = Literal["lazy", "naive", "stochastic"]
ImportanceOn = Literal["similarity", "gain"]
IMPORTANCE_ON = ("similarity", "gain")
#: Largest dense block budget: 2**43 MiB are the 2**63 bytes of a 64-bit address space.
MAX_DENSE_MB = 2.0**43


@dataclass(frozen=True)
class GraphOptions:
    """How the facility-location function of one class is built and maximised. `scope`: see
    :mod:`coreselect.geometry.facility`; `importance_on`: where a per-candidate importance enters —
    inside F (``Sim(i, j)·I_j``, BOSS Eq. 5) or on the greedy's marginal gain
    (:class:`~coreselect.geometry.greedy.ScaledGains`); `backend`: what builds the similarity block or
    exact graph (:mod:`coreselect.geometry.backend`)."""

    similarity: facility.Similarity = "cosine"
    scope: facility.Scope = "knn"
    importance_on: ImportanceOn = "similarity"
    optimizer: Optimizer = "lazy"
    neighbors: int = facility.DEFAULT_NEIGHBORS
    exact: bool = False
    probes: int = 4
    dense_mb: float = facility.DENSE_BYTES / 2**20
    epsilon: float = 0.01
    backend: Backend = NUMPY

    def check(self) -> None:
        if self.similarity not in facility.SIMILARITIES:
            raise InputError(f"similarity must be one of {facility.SIMILARITIES}, got {self.similarity!r}")
        if self.scope not in facility.SCOPES:
            raise InputError(f"scope must be one of {facility.SCOPES}, got {self.scope!r}")
        if self.importance_on not in IMPORTANCE_ON:
            raise InputError(f"importance_on must be one of {IMPORTANCE_ON}, got {self.importance_on!r}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.neighbors < 1:
            raise InputError(f"neighbors must be >= 1, got {self.neighbors!r}")
        if self.probes < 1:
            raise InputError(f"probes must be >= 1, got {self.probes!r}")
        if not 0 <= self.dense_mb <= MAX_DENSE_MB:
            raise InputError(f"dense_mb must be in [0, 2**43] (MiB; 2**43 MiB fill a 64-bit address space), "
                             f"got {self.dense_mb!r}")
        if not 0 < self.epsilon < 1:
            raise InputError(f"epsilon must be in (0, 1), got {self.epsilon!r}")

    def select(self, x: np.ndarray, m: int, rng: np.random.Generator,
               importance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions (rows of `x`) of `m` greedy picks over the rows of `x`, in greedy order, and their
        marginal gains (scaled by the importance when it is on the gain)."""
        inside = importance if self.importance_on == "similarity" else None
        fn = facility.build(x, importance=inside, similarity=self.similarity, scope=self.scope,
                            neighbors=self.neighbors, exact=self.exact, probes=self.probes,
                            dense_bytes=int(self.dense_mb * 2**20), seed=int(rng.integers(2**31)),
                            backend=self.backend)
        if importance is not None and inside is None:
            fn = ScaledGains(fn, importance)
        return maximize(fn, m, self.optimizer, rng=rng, epsilon=self.epsilon)


@register("facility-location")
@dataclass(frozen=True)
class FacilityLocationMethod(MethodBase):
    """Per class, greedily maximise F(S) = Σ_i max_{j∈S} Sim(i, j) (pure diversity/representativeness).

    ``similarity="cosine"``: Sim = 0.5 + 0.5·cos ∈ [0, 1] (as BOSS, so BOSS with α = 0 and no cutoff is
    exactly this method under the same scope); ``"euclidean"``: R − ‖x_i − x_j‖. ``scope`` (see
    :mod:`coreselect.geometry.facility`): ``"knn"`` (default) counts Sim only between an example and
    its `neighbors` nearest neighbours — the same objective at every class size, exact kNN up to 2,048
    rows (or with ``exact``), cell probing with `probes` cells beyond; ``"global"``: all pairs, dense;
    ``"auto"``: dense when the n_c×n_c block fits in `dense_mb`, else the kNN graph. ``optimizer``: ``"lazy"`` (exact greedy),
    ``"naive"`` (same result, slow; a reference), ``"stochastic"`` (Mirzasoleiman et al. 2015, ε =
    `epsilon`). Unweighted (n/m). Without labels the whole set is one class.

    Time per class: dense O(n_c²·d + re-evaluations·n_c); kNN graph O(n_c²·d) exact or
    O(n_c·probes·√n_c·d) probed, plus O(n_c·k) per greedy pass over the candidates. Memory: 4·n_c² bytes
    (dense) or O(n_c·k). `backend`, `device`: where the similarity block or the exact kNN graph is built
    (:mod:`coreselect.geometry.backend`); the greedy runs on the CPU.
    """

    similarity: facility.Similarity = "cosine"
    scope: facility.Scope = "knn"
    optimizer: Optimizer = "lazy"
    neighbors: int = facility.DEFAULT_NEIGHBORS
    exact: bool = False
    probes: int = 4
    dense_mb: float = facility.DENSE_BYTES / 2**20
    epsilon: float = 0.01
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    reference = "Cornuéjols et al. 1977; Minoux 1978; Mirzasoleiman et al. 2015"
    scale = "invariant"
    optional = frozenset({"labels"})

    def __post_init__(self) -> None:
        self.options().check()

    def options(self) -> GraphOptions:
        return GraphOptions(similarity=self.similarity, scope=self.scope, optimizer=self.optimizer,
                            neighbors=self.neighbors, exact=self.exact, probes=self.probes, dense_mb=self.dense_mb,
                            epsilon=self.epsilon, backend=resolve(self.backend, self.device))

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        x = pool.dense_features(self.name)
        opts = self.options()
        idx = select_per_class(pool, budget, lambda rows, m: rows[opts.select(x[rows], m, rng)[0]])
        return Subset.uniform_weights(np.sort(idx), pool.n)
