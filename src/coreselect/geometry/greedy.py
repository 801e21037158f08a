"""Greedy maximisation of a monotone submodular set function: naive, lazy, stochastic.

The function is any object with `n` (ground-set size), `gains(candidates) -> float64 array`,
`gain(j) -> float` (the same arithmetic as `gains`) and `add(j)` — e.g.
:class:`coreselect.geometry.facility.FacilityLocation`. Every optimiser starts from the function's
current state and returns the chosen candidates in selection order with their marginal gains.

* :func:`naive_greedy` — Nemhauser, Wolsey & Fisher 1978: every step evaluates every remaining
  candidate and takes the best (ties to the lowest index). (1 − 1/e)-approximation.
  Time O(m · cost of all gains).
* :func:`lazy_greedy` — Minoux 1978: stale gains are upper bounds (submodularity); only stale
  candidates near the top are re-evaluated, in one vectorised call, and a candidate is taken once it
  is fresh and on top. Returns *exactly* the naive choice, ties included: the order is (gain, −index),
  and a fresh top beats every other candidate's bound, hence its true gain. Time O(n · cost of one
  gain) for the first bounds, then O(frontier + cost of the re-evaluated gains) per step and O(n) per
  refill of the frontier; memory O(n).
* :func:`stochastic_greedy` — Mirzasoleiman et al. 2015, "Lazier than lazy greedy": each step
  evaluates a uniform sample of ⌈(n/m)·ln(1/ε)⌉ remaining candidates; (1 − 1/e − ε) in expectation.
  Time O(n·ln(1/ε) · cost of one gain) in total.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from coreselect.errors import InputError
from coreselect.progress import progress


class SetFunction(Protocol):
    @property
    def n(self) -> int: ...

    def gains(self, candidates: np.ndarray) -> np.ndarray: ...

    def gain(self, j: int) -> float: ...

    def add(self, j: int) -> None: ...


def _check_m(fn: SetFunction, m: int) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 0 <= m <= fn.n:
        raise InputError(f"cannot choose {m!r} of {fn.n} candidates")
    return int(m)


def naive_greedy(fn: SetFunction, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Choose `m` candidates, each the argmax of all current gains (lowest index on ties)."""
    m = _check_m(fn, m)
    taken = np.zeros(fn.n, dtype=bool)
    every = np.arange(fn.n)
    chosen = np.empty(m, dtype=np.int64)
    gains = np.empty(m, dtype=np.float64)
    for t in range(m):
        g = fn.gains(every)
        g[taken] = -np.inf
        j = int(np.argmax(g))
        chosen[t], gains[t] = j, g[j]
        taken[j] = True
        fn.add(j)
    return chosen, gains


class _Frontier:
    """The `size` largest upper bounds (a small array, sorted by candidate index) and the best bound
    left outside it; everything else about lazy greedy happens on this small array, vectorised."""

    def __init__(self, bounds: np.ndarray, size: int) -> None:
        self.bounds = bounds  # (n,) upper bounds of the candidates outside the frontier; -inf = taken
        self.size = size
        self.refill()

    def refill(self, idx: np.ndarray | None = None, ub: np.ndarray | None = None) -> None:
        if idx is not None:
            self.bounds[idx] = ub
        b = self.bounds
        n = b.size
        if self.size < n:
            top = np.argpartition(-b, self.size - 1)[: self.size]
            cut = b[top].min()
            # keep ties at the cut deterministic: every candidate strictly above it, then the lowest
            # indices among those equal to it
            above = np.flatnonzero(b > cut)
            equal = np.flatnonzero(b == cut)[: self.size - above.size]
            self.idx = np.sort(np.concatenate([above, equal]))
        else:
            self.idx = np.arange(n)
        self.ub = b[self.idx].copy()
        self.fresh = np.zeros(self.idx.size, dtype=bool)
        b[self.idx] = -np.inf
        rest = int(np.argmax(b)) if n else 0
        self.out_value, self.out_index = (float(b[rest]), rest) if n and b[rest] > -np.inf else (-np.inf, n)
        b[self.idx] = self.ub


def lazy_greedy(fn: SetFunction, m: int, frontier: int = 256, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """The naive greedy's choice, re-evaluating only stale candidates that might be on top.

    Minoux's accelerated greedy, vectorised: the `frontier` largest upper bounds live in a small array
    (indices ascending); per step the (at most `batch`) stale entries with the largest bounds that reach
    the best fresh gain are re-evaluated in one :meth:`gains` call until the arg-max of the frontier (lowest index on ties) is
    fresh and beats the best bound outside; when the outside wins, the frontier is refilled (O(n)).
    Any set of re-evaluations keeps every stored value an upper bound, so the choice stays exact.
    """
    m = _check_m(fn, m)
    chosen = np.empty(m, dtype=np.int64)
    gains = np.empty(m, dtype=np.float64)
    if m == 0:
        return chosen, gains
    f = _Frontier(fn.gains(np.arange(fn.n)), max(1, min(frontier, fn.n)))
    for t in progress(range(m), total=m, desc="lazy greedy"):
        while True:
            p = int(np.argmax(f.ub))
            v, j = f.ub[p], int(f.idx[p])
            if v < f.out_value or (v == f.out_value and f.out_index < j):
                f.refill(f.idx, f.ub)
                continue
            if f.fresh[p]:
                break
            floor = max(f.out_value, f.ub[f.fresh].max() if f.fresh.any() else -np.inf)
            stale = np.flatnonzero(~f.fresh & (f.ub >= floor) & (f.ub > -np.inf))
            if stale.size > batch:
                stale = stale[np.argpartition(-f.ub[stale], batch - 1)[:batch]]
            f.ub[stale] = fn.gains(f.idx[stale])
            f.fresh[stale] = True
        chosen[t], gains[t] = j, v
        fn.add(j)
        f.ub[p] = -np.inf
        f.bounds[j] = -np.inf
        f.fresh[:] = False
    return chosen, gains


def stochastic_greedy(fn: SetFunction, m: int, rng: np.random.Generator,
                      epsilon: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Each step: the best of ⌈(n/m)·ln(1/ε)⌉ remaining candidates drawn uniformly (ties: the first drawn)."""
    m = _check_m(fn, m)
    if not 0 < epsilon < 1:
        raise InputError(f"epsilon must be in (0, 1), got {epsilon}")
    chosen = np.empty(m, dtype=np.int64)
    gains = np.empty(m, dtype=np.float64)
    if m == 0:
        return chosen, gains
    size = max(1, math.ceil(fn.n / m * math.log(1 / epsilon)))
    remaining = np.arange(fn.n)
    for t in progress(range(m), total=m, desc="stochastic greedy"):
        left = fn.n - t
        pos = np.sort(rng.choice(left, size=min(size, left), replace=False))
        g = fn.gains(remaining[pos])
        p = int(pos[np.argmax(g)])
        j = int(remaining[p])
        chosen[t], gains[t] = j, float(g.max())
        remaining[p] = remaining[left - 1]  # swap-remove: remaining[:left-1] stays the untaken set
        fn.add(j)
    return chosen, gains


def farthest_first(n: int, m: int, rng: np.random.Generator, initial: np.ndarray | None,
                   absorb: Callable[[int], None], farthest: Callable[[], int]) -> np.ndarray:
    """The k-center greedy's order (Gonzalez 1985; Sener & Savarese 2018), whatever holds the running
    minima: `absorb(j)` folds row j's distances into them (and masks j), `farthest()` returns the row
    with the largest minimum. S starts as `initial` (not returned) or a uniformly random row (returned
    first); `m` rows come back in the order they were chosen."""
    chosen = np.empty(m, dtype=np.int64)
    start = 0
    if initial is None or len(initial) == 0:
        chosen[0] = rng.integers(n)
        absorb(int(chosen[0]))
        start = 1
    else:
        for j in np.asarray(initial, dtype=np.int64):
            absorb(int(j))
    for t in progress(range(start, m), total=m - start, desc="k-center"):
        j = farthest()
        chosen[t] = j
        absorb(j)
    return chosen


def herding_order(x: np.ndarray, m: int, closest_unchosen: Callable[[np.ndarray], int]) -> np.ndarray:
    """Kernel herding's order (Welling 2009), whatever scores the rows: step k takes
    ``closest_unchosen(k·μ − Σ_{j<k} x_j)``, the row not yet chosen nearest that float64 target (the
    callback marks it chosen). μ and the running sum are float64; `m` rows in the order chosen."""
    mu = x.mean(axis=0, dtype=np.float64)
    total = np.zeros(x.shape[1], dtype=np.float64)
    chosen = np.empty(m, dtype=np.int64)
    for k in range(1, m + 1):
        j = closest_unchosen(k * mu - total)
        chosen[k - 1] = j
        total += x[j]
    return chosen


class ScaledGains:
    """A set function whose marginal gains are `fn`'s multiplied by a fixed ``priority_j ≥ 0`` per
    candidate: greedy then takes ``argmax_j priority_j · Δ_j F(S)``. The importance-weighted greedy of
    the BOSS authors' optimiser (importance on the gain, not inside F). Each scaled gain still only
    decreases as S grows, so lazy greedy stays exactly the naive choice; the picks no longer carry
    the (1 − 1/e) guarantee for F, which this rule does not maximise."""

    def __init__(self, fn: SetFunction, priority: np.ndarray) -> None:
        if priority.shape != (fn.n,):
            raise InputError(f"priority has shape {priority.shape}, expected ({fn.n},)")
        self.fn, self.priority = fn, np.asarray(priority, dtype=np.float64)

    @property
    def n(self) -> int:
        return self.fn.n

    def gains(self, candidates: np.ndarray) -> np.ndarray:
        return self.fn.gains(candidates) * self.priority[candidates]

    def gain(self, j: int) -> float:
        return self.fn.gain(j) * float(self.priority[j])

    def add(self, j: int) -> None:
        self.fn.add(j)


OPTIMIZERS = ("lazy", "naive", "stochastic")


def maximize(fn: SetFunction, m: int, optimizer: str = "lazy", rng: np.random.Generator | None = None,
             epsilon: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Run the named optimiser (``"lazy"``, ``"naive"`` or ``"stochastic"``, which needs `rng`)."""
    if optimizer == "lazy":
        return lazy_greedy(fn, m)
    if optimizer == "naive":
        return naive_greedy(fn, m)
    if optimizer == "stochastic":
        if rng is None:
            raise InputError("stochastic greedy needs a random generator")
        return stochastic_greedy(fn, m, rng, epsilon)
    raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
