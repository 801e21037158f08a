"""Imbalanced variants of a binary dataset: keep a seeded random fraction of the positive class.

The tuned-coresets paper (arXiv 2507.16729, §4) is about imbalanced data (credit-card fraud has 0.17%
positives); a9a has 24%, so benchmarks thin its positives out. Time O(n), memory O(n).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coreselect.errors import InputError


def keep_fraction_for_share(y: np.ndarray, share: float, positive: int = 1) -> float:
    """The fraction of positives to keep so that positives make up `share` of the result."""
    y = np.asarray(y)
    n_pos = int((y == positive).sum())
    n_neg = y.size - n_pos
    if not 0 < share < 1:
        raise InputError(f"positive share must be in (0, 1), got {share}")
    if n_pos == 0 or n_neg == 0:
        raise InputError(f"labels need both the positive class {positive} and another class")
    keep = share * n_neg / ((1 - share) * n_pos)
    if keep > 1:
        raise InputError(f"positives already make up {n_pos / y.size:.4g} < {share} of the data")
    return keep


def make_imbalanced(x: Any, y: np.ndarray, keep_fraction: float, positive: int = 1,
                    seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray]:
    """`(x[rows], y[rows], rows)`: every non-positive row plus a seeded random `keep_fraction` of positives.

    `rows` are sorted, so the original order is kept; at least one positive always stays. `x` may be a
    dense array or a scipy-sparse matrix.
    """
    y = np.asarray(y)
    if x.shape[0] != y.shape[0]:
        raise InputError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    if isinstance(keep_fraction, bool) or not 0 < keep_fraction <= 1:
        raise InputError(f"keep_fraction must be in (0, 1], got {keep_fraction!r}")
    pos = np.flatnonzero(y == positive)
    if pos.size == 0:
        raise InputError(f"labels have no example of the positive class {positive}")
    k = max(1, round(keep_fraction * pos.size))
    kept = np.random.default_rng(seed).choice(pos, size=k, replace=False)
    rows = np.sort(np.concatenate([np.flatnonzero(y != positive), kept]))
    return x[rows], y[rows], rows
