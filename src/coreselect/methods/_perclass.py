"""Running a selection rule class by class under a :class:`Budget`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from coreselect.budget import Budget
from coreselect.pool import Pool


def class_budgets(pool: Pool, budget: Budget) -> list[tuple[np.ndarray, int]]:
    """`[(member rows, m_c)]` for every class with m_c > 0 (one class of all rows without labels)."""
    members = pool.members()
    if pool.labels is None:
        return [(members[0], budget.total)]
    shares = budget.split({c: rows.size for c, rows in members.items()})
    return [(members[c], m) for c, m in shares.items() if m > 0]


def select_per_class(pool: Pool, budget: Budget, pick: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """Concatenate `pick(rows, m_c)` (chosen row indices) over classes; the split is checked first."""
    plan = class_budgets(pool, budget)
    return np.concatenate([np.asarray(pick(rows, m), dtype=np.int64) for rows, m in plan])
