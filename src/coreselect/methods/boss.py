"""BOSS: diversity–difficulty Balanced One-shot Subset Selection (*BOSS: Diversity-Difficulty Balanced
One-Shot Subset Selection for Data-Efficient Deep Learning*, Eq. 4–6 and Algorithm 1)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry import facility
from coreselect.geometry.backend import BackendName, DeviceName, resolve
from coreselect.methods._perclass import class_budgets
from coreselect.methods.facility_location import IMPORTANCE_ON, GraphOptions, ImportanceOn, Optimizer
from coreselect.methods.prune import HIGHER_IS_HARDER
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

#: Default (peak, α, cutoff β) by subset fraction: the row with the largest fraction ≤ f applies.
#: Below 5%, pure diversity (α = 0) with a 10% AUM cutoff; from 5%, a mild importance (α = 1) peaked at
#: medium difficulty (0.5), the cutoff kept to 30% and dropped beyond. Confirmed on the kNN objective
#: by the CNN sweep on Fashion-MNIST and MNIST (benchmarks/results/boss-schedule-cnn.md): the best mean
#: over the two datasets at 1, 5, 20 and 30%, within the seeds' spread of the best at 10%.
SCHEDULE: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.5, 0.0, 0.1),
    (0.05, 0.5, 1.0, 0.1),
    (0.3, 0.5, 1.0, 0.0),
)


def schedule(fraction: float) -> tuple[float, float, float]:
    """Default `(peak, alpha, cutoff)` for a subset of `fraction` of the data."""
    row = max((r for r in SCHEDULE if r[0] <= fraction), key=lambda r: r[0])
    return row[1], row[2], row[3]


def normalized_difficulty(values: np.ndarray, higher_is_harder: bool) -> np.ndarray:
    """Min–max to [0, 1] with 1 = hardest; a constant signal maps to 0.5 (METHODS.md, BOSS step 2)."""
    d = values if higher_is_harder else -values
    lo, hi = float(d.min()), float(d.max())
    if not hi > lo:
        return np.full(d.size, 0.5)
    return (d - lo) / (hi - lo)


def sine_importance(difficulty: np.ndarray, peak: float, alpha: float) -> np.ndarray:
    """I = ((sin(π(D − c)) + 1) / 2)^α with c = peak + 1.5 (Eq. 4): maximal at D = peak, flat for α = 0."""
    base = (np.sin(np.pi * (difficulty - (peak + 1.5))) + 1) / 2
    return np.power(np.clip(base, 0, 1), alpha)


def beta_importance(difficulty: np.ndarray, a: float, b: float) -> np.ndarray:
    """I = the Beta(a, b) probability density at D (the BOSS authors' code, where Eq. 4's sine is
    commented out). a, b ≥ 1 keep it finite on [0, 1]; its mode (a − 1)/(a + b − 2) is the favoured
    difficulty. Only ratios of I matter to the greedy, so the density's scale is irrelevant."""
    from scipy.stats import beta  # scipy.stats takes seconds to import: only when asked for

    return beta.pdf(difficulty, a, b)


def fill_saturated(chosen: np.ndarray, gains: np.ndarray, importance: np.ndarray) -> np.ndarray:
    """Replace the picks that added nothing (gain 0: F is saturated) by the most important candidates
    not yet chosen (ties: lowest position). F is unchanged; without this, zero-gain ties would fall to
    the lowest positions, whatever their difficulty. O(n log n)."""
    useful = chosen[gains > 0]
    if useful.size == chosen.size:
        return chosen
    rest = np.setdiff1d(np.arange(importance.size), useful)
    rest = rest[np.argsort(-importance[rest], kind="stable")]
    return np.concatenate([useful, rest[: chosen.size - useful.size]])


def after_cutoff(aum: np.ndarray, cutoff: float) -> np.ndarray:
    """Positions kept after dropping the ⌊cutoff·n⌋ lowest-AUM ones (ties: lower position dropped first), sorted."""
    drop = int(np.floor(cutoff * aum.size))
    return np.sort(np.argsort(aum, kind="stable")[drop:])


@register("boss")
@dataclass(frozen=True)
class BOSS(MethodBase):
    """Per class: AUM cutoff, then greedy facility location with difficulty importance (Eq. 5).

    For class c with budget m_c (the Budget split of the class sizes): drop the ⌊β·n_c⌋ lowest-AUM
    members; normalise the difficulty signal `score` of the rest to D ∈ [0, 1] (1 = hardest; constant →
    0.5); importance ``I_j = ((sin(π(D_j − c)) + 1)/2)^α`` with ``c = peak + 1.5`` (``importance="sine"``,
    Eq. 4), or the Beta(`beta_a`, `beta_b`) density of D (``"beta"``, the authors' code); maximise
    ``F(S) = Σ_i max_{j∈S} Sim(i, j)·I_j`` with ``Sim = 0.5 + 0.5·cos`` over the kept members by lazy
    greedy. The paper never defines Sim beyond local uses (METHODS.md, BOSS step 4):
    ``similarity="knn"`` (default) counts it only between an example and its `neighbors` nearest
    neighbours — one objective at every class size (exact kNN up to 2,048 rows or with ``exact``), and
    no crowding; ``"global"`` takes all pairs, as the authors' code does (on ReLU features every pair
    then has Sim ≥ 0.5, and a few high-importance picks "represent" everyone). ``importance_on="gain"``
    moves I from inside F to the greedy's marginal gain (``argmax_j I_j·Δ_j F``; the authors' optimiser
    supports both). `peak`, `alpha`, `cutoff` left as None come from :func:`schedule` by fraction. Once
    F is saturated (every remaining gain is 0), the rest of the class budget goes to the most important
    remaining members (:func:`fill_saturated`). α = 0 and β = 0 give exactly ``facility-location`` with
    ``scope`` equal to this `similarity`. Unweighted (n/m).

    A class whose kept members are fewer than its budget is an InputError (lower the cutoff).
    Time and memory: those of facility location on each class (O(n_c·k) for the kNN graph, O(n_c²) for
    all pairs). `backend`, `device`: where the similarity graph or block is built
    (:mod:`coreselect.geometry.backend`).
    """

    peak: float | None = None
    alpha: float | None = None
    cutoff: float | None = None
    score: str = "el2n"
    similarity: Literal["knn", "global"] = "knn"
    importance: Literal["sine", "beta"] = "sine"
    beta_a: float = 2.0
    beta_b: float = 2.0
    importance_on: ImportanceOn = "similarity"
    optimizer: Optimizer = "lazy"
    neighbors: int = facility.DEFAULT_NEIGHBORS
    exact: bool = False
    probes: int = 4
    dense_mb: float = facility.DENSE_BYTES / 2**20
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    reference = "BOSS: diversity-difficulty balanced one-shot subset selection (anonymous, under review)"
    scale = "invariant"

    def __post_init__(self) -> None:
        if self.peak is not None and not 0 <= self.peak <= 1:
            raise InputError(f"peak must be in [0, 1] (c = peak + 1.5 ∈ [1.5, 2.5]), got {self.peak}")
        if self.alpha is not None and not self.alpha >= 0:
            raise InputError(f"alpha must be >= 0, got {self.alpha}")
        if self.cutoff is not None and not 0 <= self.cutoff < 1:
            raise InputError(f"cutoff must be in [0, 1), got {self.cutoff}")
        if self.score not in HIGHER_IS_HARDER:
            raise InputError(f"score must be one of {', '.join(HIGHER_IS_HARDER)}, got {self.score!r}")
        if self.similarity not in ("knn", "global"):
            raise InputError(f"similarity must be 'knn' or 'global', got {self.similarity!r}")
        if self.importance not in ("sine", "beta"):
            raise InputError(f"importance must be 'sine' or 'beta', got {self.importance!r}")
        if not (self.beta_a >= 1 and self.beta_b >= 1):
            raise InputError(f"beta_a and beta_b must be >= 1 (a bounded density), got {self.beta_a}, {self.beta_b}")
        if self.importance_on not in IMPORTANCE_ON:
            raise InputError(f"importance_on must be one of {IMPORTANCE_ON}, got {self.importance_on!r}")
        self.options().check()

    def options(self) -> GraphOptions:
        return GraphOptions(similarity="cosine", scope=self.similarity, importance_on=self.importance_on,
                            optimizer=self.optimizer, neighbors=self.neighbors, exact=self.exact, probes=self.probes,
                            dense_mb=self.dense_mb, backend=resolve(self.backend, self.device))

    def weigh(self, difficulty: np.ndarray, peak: float, alpha: float) -> np.ndarray:
        """The importance of members with normalised `difficulty` (sine of Eq. 4, or the Beta density)."""
        if self.importance == "beta":
            return beta_importance(difficulty, self.beta_a, self.beta_b)
        return sine_importance(difficulty, peak, alpha)

    def requires(self) -> frozenset[str]:
        return frozenset({"labels", "aum", self.score})

    def resolved(self, fraction: float) -> tuple[float, float, float]:
        """(peak, alpha, cutoff) actually used at `fraction`: given values, else the schedule's."""
        peak, alpha, cutoff = schedule(fraction)
        return (peak if self.peak is None else self.peak, alpha if self.alpha is None else self.alpha,
                cutoff if self.cutoff is None else self.cutoff)

    def plan(self, pool: Pool, budget: Budget) -> tuple[BOSS, list[tuple[np.ndarray, int, np.ndarray]]]:
        """This BOSS with (peak, α, cutoff) fixed for the budget's fraction, and per class the members
        kept by the AUM cutoff, the class budget and the kept members' importance. Every class is checked
        before any greedy runs: one keeping fewer members than its budget is an InputError. O(n log n)."""
        peak, alpha, cutoff = self.resolved(budget.total / budget.n)
        aum, signal = pool.signals["aum"], pool.signals[self.score]
        plan = []
        for rows, m in class_budgets(pool, budget):
            keep = rows[after_cutoff(aum[rows], cutoff)]
            if keep.size < m:
                raise InputError(
                    f"class {pool.class_name(pool.labels[rows[0]])}: {keep.size} of {rows.size} members "
                    f"remain after the AUM cutoff {cutoff}, fewer than its budget {m}; lower the cutoff"
                )
            d = normalized_difficulty(signal[keep], HIGHER_IS_HARDER[self.score])
            plan.append((keep, m, self.weigh(d, peak, alpha)))
        return dataclasses.replace(self, peak=peak, alpha=alpha, cutoff=cutoff), plan

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        x = pool.dense_features(self.name)
        _, plan = self.plan(pool, budget)
        opts = self.options()
        chosen = []
        for keep, m, imp in plan:
            picked, gains = opts.select(x[keep], m, rng, imp)
            chosen.append(keep[fill_saturated(picked, gains, imp)])
        return Subset.uniform_weights(np.sort(np.concatenate(chosen)), pool.n)
