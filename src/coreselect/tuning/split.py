"""A stratified, seeded validation split carved from a training set (tuning never looks at the test set)."""

from __future__ import annotations

import numpy as np

from coreselect.errors import InputError


def stratified_split(y: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`(train rows, validation rows)`, both sorted: `fraction` of every class (at least 1) goes to validation.

    Time O(n), memory O(n).
    """
    if not 0 < fraction < 1:
        raise InputError(f"validation fraction must be in (0, 1), got {fraction}")
    y = np.asarray(y)
    rng = np.random.default_rng([seed, 1])
    val = [rng.permutation(np.flatnonzero(y == c))[: max(1, round(fraction * (y == c).sum()))]
           for c in np.unique(y)]
    val_rows = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(y.size), val_rows), val_rows
