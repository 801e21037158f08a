"""Per-epoch selection policies for :class:`~coreselect.train.DynamicSampler` (numpy only).

A policy decides, at the start of every epoch, which examples the epoch trains on and the factor each
one's loss is multiplied by (:class:`EpochPlan`). It is one small protocol, :class:`Policy`: a method
``plan(epoch, losses, rng)``, where `losses` ``(n,)`` float64 holds the latest per-example loss the
training loop reported (NaN for an example never observed) and `rng` is the epoch's own generator.
The sampler builds the named policies with the run's size `n` and epoch count `epochs`
(:func:`make_policy`); any object with that method can be passed instead.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from coreselect import registry
from coreselect.api import run
from coreselect.budget import Budget
from coreselect.checks import is_integer, is_real
from coreselect.errors import InputError
from coreselect.pool import Pool


@dataclass(frozen=True)
class EpochPlan:
    """What one epoch trains on: unique example `indices (k,)` and the loss `weights (k,) > 0`."""

    indices: np.ndarray
    weights: np.ndarray


class Policy(Protocol):
    """Chooses each epoch's examples and loss weights; see the module docstring."""

    def plan(self, epoch: int, losses: np.ndarray, rng: np.random.Generator) -> EpochPlan: ...


def _full(n: int) -> EpochPlan:
    return EpochPlan(np.arange(n, dtype=np.int64), np.ones(n))


@dataclass(frozen=True)
class InfoBatch:
    """InfoBatch (Qin et al., "InfoBatch: Lossless Training Speed Up by Unbiased Dynamic Data Pruning",
    ICLR 2024): soft pruning with expectation rescaling, annealed.

    At epoch t, with H the latest losses and H̄ their mean over the observed examples, each example with
    H(z) < H̄ is pruned with probability r = `prune_ratio` and, when kept, its loss is multiplied by
    γ = 1/(1 − r); every other example is kept with weight 1. So for fixed losses
    E[Σ_kept γ(z)·H(z)] = Σ_z H(z): the rescaled epoch loss is unbiased for the full-data one. The last
    ⌈δ·E⌉ of the E `epochs` (δ = `delta`; the paper's δ is 1 − ours, the share of pruned epochs) train
    on every example with weight 1 (annealing). An example never observed counts as high-loss (kept), as
    the official code's initial score intends; the first epoch is therefore full.

    The number kept among the low-loss examples is (1 − r)·|low| rounded at random (down or up with the
    probabilities that make its mean exact), so each is kept with probability exactly 1 − r; the official
    code rounds down. Time O(n) per epoch.
    """

    n: int
    epochs: int
    prune_ratio: float = 0.5
    delta: float = 0.125

    def __post_init__(self) -> None:
        if not (is_real(self.prune_ratio) and 0 <= self.prune_ratio < 1):
            raise InputError(f"prune_ratio must be a number in [0, 1), got {self.prune_ratio!r}")
        if not (is_real(self.delta) and 0 <= self.delta <= 1):
            raise InputError(f"delta must be a number in [0, 1], got {self.delta!r}")

    @property
    def pruned_epochs(self) -> int:
        """How many leading epochs may prune: ⌊(1 − δ)·E⌋ (the official code's count)."""
        return math.floor((1 - self.delta) * self.epochs + 1e-9)

    def plan(self, epoch: int, losses: np.ndarray, rng: np.random.Generator) -> EpochPlan:
        seen = ~np.isnan(losses)
        if epoch >= self.pruned_epochs or self.prune_ratio == 0 or not seen.any():
            return _full(self.n)
        low = np.flatnonzero(losses < losses[seen].mean())  # NaN compares False: unseen are kept
        expected = (1 - self.prune_ratio) * low.size
        count = math.floor(expected) + int(rng.random() < expected - math.floor(expected))
        kept_low = rng.choice(low, size=count, replace=False)
        keep = np.ones(self.n, dtype=bool)
        keep[low] = False
        keep[kept_low] = True
        weights = np.ones(self.n)
        weights[kept_low] = 1 / (1 - self.prune_ratio)
        indices = np.flatnonzero(keep)
        return EpochPlan(indices, weights[indices])


@dataclass(frozen=True)
class RandomBudget:
    """The baseline: a fresh uniform random subset of a fixed size every epoch, without replacement,
    weights 1. Give exactly one of `fraction` (of n) or `size`. Time O(n) per epoch."""

    n: int
    epochs: int
    fraction: float | None = None
    size: int | None = None
    budget: Budget = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", Budget.from_request(self.n, fraction=self.fraction, size=self.size))

    def plan(self, epoch: int, losses: np.ndarray, rng: np.random.Generator) -> EpochPlan:
        indices = np.sort(rng.choice(self.n, size=self.budget.total, replace=False))
        return EpochPlan(indices, np.ones(indices.size))


@dataclass(eq=False)
class Reselect:
    """Adaptive re-selection (CRAIG, Mirzasoleiman et al. 2020; GradMatch, Killamsetty et al. 2021, as
    CORDS runs them): every `every` epochs (R; CORDS: 20), the registered one-shot `method` (e.g.
    ``"craig"``, ``"gradmatch"``, ``"facility-location"``, ``"boss"``) with `method_params` selects a
    budget of `fraction` or `size` from the :class:`~coreselect.Pool` that ``pool(epoch)`` returns — the
    loop's callback, which embeds the data with the current model (last-layer gradients for CRAIG and
    GradMatch, :func:`coreselect.geometry.gradients.last_layer_gradients`) and adds the signals the
    method needs. Epochs in between train on that subset. Loss weights are the subset's weights
    normalised to mean 1 (the training convention). Selection also happens at the first epoch planned
    (epoch 0, or the epoch a resumed run starts at). Cost: the method's, once per R epochs.
    """

    n: int
    epochs: int
    method: str = ""
    pool: Callable[[int], Pool] | None = None
    every: int = 20
    fraction: float | None = None
    size: int | None = None
    method_params: Mapping[str, Any] = field(default_factory=dict)
    budget: Budget = field(init=False, repr=False)
    _impl: Any = field(init=False, repr=False)
    _current: EpochPlan | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if not self.method:
            raise InputError("method is required: the name of a registered selection method")
        if not callable(self.pool):
            raise InputError(f"pool must be a callable pool(epoch) -> coreselect.Pool, got {self.pool!r}")
        if not (is_integer(self.every) and self.every >= 1):
            raise InputError(f"every must be an integer >= 1, got {self.every!r}")
        self._impl = registry.make(self.method, self.method_params)
        self.budget = Budget.from_request(self.n, fraction=self.fraction, size=self.size)

    def plan(self, epoch: int, losses: np.ndarray, rng: np.random.Generator) -> EpochPlan:
        if self._current is not None and epoch % self.every:
            return self._current
        assert self.pool is not None
        pool = self.pool(epoch)
        if not isinstance(pool, Pool):
            raise InputError(f"pool({epoch}) must return a coreselect.Pool, got {type(pool).__name__}")
        if pool.n != self.n:
            raise InputError(f"pool({epoch}) has {pool.n} examples, the sampler {self.n}")
        subset = run(self._impl, pool, self.budget, seed=int(rng.integers(2**31)))
        self._current = EpochPlan(subset.indices, subset.weights / subset.weights.mean())
        return self._current


POLICIES: dict[str, type] = {"infobatch": InfoBatch, "random": RandomBudget, "reselect": Reselect}


def make_policy(name: str, n: int, epochs: int, params: Mapping[str, Any]) -> Policy:
    """The policy registered as `name` for `n` examples and `epochs` epochs, with its `params`; unknown
    names and bad parameters are an :class:`InputError` naming the policy and the parameter."""
    if name not in POLICIES:
        raise InputError(f"unknown policy {name!r}; available: {', '.join(sorted(POLICIES))}")
    cls = POLICIES[name]
    accepted = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in ("n", "epochs")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InputError(f"policy {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                         f"parameters: {', '.join(accepted)}")
    try:
        return cls(n=n, epochs=epochs, **params)
    except InputError as exc:
        raise InputError(f"policy {name!r}: {exc}") from None
