"""`Budget`: how many examples to select, and how that number splits over classes."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coreselect.checks import is_integer, is_real
from coreselect.errors import InputError

#: ``"proportional"``, ``"balanced"`` or ``{class: size or fraction}``, classes named by their values.
Allocation = str | Mapping[Hashable, float]
ALLOCATIONS = ("proportional", "balanced")


def _largest_remainder(quotas: np.ndarray, total: int) -> np.ndarray:
    """Integers close to `quotas` that sum to exactly `total` (Hamilton's method; ties to the lower index)."""
    base = np.floor(quotas).astype(np.int64)
    short = total - int(base.sum())
    if short > 0:
        order = np.argsort(-(quotas - base), kind="stable")
        base[order[:short]] += 1
    return base


def balanced_split(sizes: np.ndarray, total: int) -> np.ndarray:
    """Equal integer shares of `total` over classes of `sizes`, as far as the classes allow.

    Every class gets ``min(size, L)`` for the highest level L that fits, and the remainder goes one each
    to the largest classes with room (ties to the lower index): with no class smaller than its share this
    is an equal split with the remainder on the largest classes; a smaller class gives all its members and
    the others share the rest equally (water-filling). Needs ``total ≤ Σ sizes``.
    """
    low, high = 0, int(sizes.max(initial=0))
    while low < high:  # the highest level L with Σ min(sizes, L) ≤ total
        mid = (low + high + 1) // 2
        if int(np.minimum(sizes, mid).sum()) <= total:
            low = mid
        else:
            high = mid - 1
    shares = np.minimum(sizes, low).astype(np.int64)
    room = np.argsort(-sizes, kind="stable")
    room = room[shares[room] < sizes[room]]
    shares[room[: total - int(shares.sum())]] += 1
    return shares


def check_allocation(allocation: Any) -> Allocation:
    """`allocation` checked: one of :data:`ALLOCATIONS`, or a mapping of classes to sizes (integers ≥ 0)
    or fractions (finite numbers ≥ 0; the fractions' upper bound is checked when the budget is split)."""
    if isinstance(allocation, str):
        if allocation not in ALLOCATIONS:
            raise InputError(f"allocation must be one of {ALLOCATIONS} or a mapping, got {allocation!r}")
        return allocation
    if not isinstance(allocation, Mapping):
        raise InputError(f"allocation must be one of {ALLOCATIONS} or a mapping {{class: size}}, "
                         f"got a {type(allocation).__name__}")
    bad = {c: v for c, v in allocation.items() if not (is_real(v) and math.isfinite(v) and v >= 0)}
    if bad:
        raise InputError(f"allocation values must be sizes or fractions (finite numbers >= 0), got {bad}")
    return allocation


@dataclass(frozen=True)
class Budget:
    """Select `total` of `n` examples; `allocation` splits it over classes.

    * ``"proportional"`` (default): class c gets ``total · n_c / n``, rounded by largest remainder.
    * ``"balanced"``: an equal share per class (remainder to the largest classes); a class with fewer
      members than its share gives them all and the other classes share the rest (:func:`balanced_split`).
    * a mapping ``{class: size}`` (ints) or ``{class: fraction of that class}`` (floats in [0, 1]);
      the mapped sizes then replace `total` (classes left out get nothing). Classes are named by their
      values: ``{"cat": 10, "dog": 5}`` for string labels.

    Rounding always sums to exactly `total`; a class with fewer members than its proportional or mapped
    share is an error.
    """

    total: int
    n: int
    allocation: Allocation = field(default="proportional")

    def __post_init__(self) -> None:
        """Check the fields (:meth:`from_request` checks a request before it is rounded to a total)."""
        if not is_integer(self.n) or self.n < 1:
            raise InputError(f"n must be a positive integer, got {self.n!r}")
        if not is_integer(self.total) or not 0 <= self.total <= self.n:
            raise InputError(f"total must be an integer in [0, n] = [0, {self.n}], got {self.total!r}")
        check_allocation(self.allocation)

    @classmethod
    def from_request(
        cls,
        n: int,
        fraction: float | None = None,
        size: int | None = None,
        allocation: Allocation = "proportional",
    ) -> Budget:
        """Check the request (:func:`coreselect.checks.is_integer`: a size is an integer, never 5.0)."""
        if not is_integer(n) or n < 1:
            raise InputError(f"n must be a positive integer, got {n!r}")
        if (fraction is None) == (size is None):
            raise InputError("give exactly one of fraction or size")
        if fraction is not None:
            if not is_real(fraction) or (isinstance(fraction, float) and math.isnan(fraction)):
                raise InputError(f"fraction must be a number in (0, 1], got {fraction!r}")
            if not 0 < fraction <= 1:  # compared before any float conversion: 10**400 is refused, not overflowed
                raise InputError(f"fraction must be in (0, 1], got {fraction}")
            total = max(1, round(float(fraction) * n))
        else:
            if not is_integer(size):
                raise InputError(f"size must be an integer, got {size!r}")
            if not 1 <= size <= n:
                raise InputError(f"size must be in [1, n] = [1, {n}], got {size}")
            total = int(size)
        return cls(total=total, n=n, allocation=check_allocation(allocation))

    def split(self, class_sizes: Mapping[Any, int]) -> dict[Any, int]:
        """Per-class budgets `{class: m_c}` summing to :attr:`total` (or the mapping's sum)."""
        labels = list(class_sizes)
        sizes = np.array([class_sizes[c] for c in labels], dtype=np.int64)
        if isinstance(self.allocation, Mapping):
            shares = self._mapped(labels, sizes)
        elif self.allocation == "balanced":
            shares = balanced_split(sizes, self.total)
        else:
            shares = _largest_remainder(sizes * (self.total / sizes.sum()), self.total)
        over = shares > sizes
        if over.any():
            c = labels[int(np.flatnonzero(over)[0])]
            raise InputError(
                f"class {c} has {class_sizes[c]} members but its share of the budget is "
                f"{int(shares[labels.index(c)])} ({self.allocation if isinstance(self.allocation, str) else 'mapping'}"
                " allocation); lower the budget or use proportional allocation"
            )
        if shares.sum() < 1:
            raise InputError("the allocation selects no example at all")
        return dict(zip(labels, shares.tolist()))

    def _mapped(self, labels: list[Any], sizes: np.ndarray) -> np.ndarray:
        mapping = dict(self.allocation)  # type: ignore[arg-type]
        unknown = set(mapping) - set(labels)
        if unknown:
            raise InputError(f"allocation names classes that do not exist: {sorted(unknown, key=str)}; "
                             f"classes: {labels}")
        values = np.array([mapping.get(c, 0) for c in labels], dtype=np.float64)
        if all(is_integer(v) for v in mapping.values()):
            return values.astype(np.int64)
        if np.any(values > 1):
            raise InputError("an allocation of fractions needs values in [0, 1] (or give integer sizes)")
        return np.round(values * sizes).astype(np.int64)
