"""Seeded train/test splits, optionally stratified by class."""

from __future__ import annotations

import numpy as np

from coreselect.errors import InputError


def split_indices(
    n: int, test_fraction: float, seed: int, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and test row indices for `n` rows; the same `seed` always gives the same split.

    With `strata` (one class per row) each class sends ``round(test_fraction * count)`` of its rows to
    the test side, so a class with a single row stays in train.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise InputError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    if strata is None:
        groups = [np.arange(n)]
    else:
        if len(strata) != n:
            raise InputError(f"strata has {len(strata)} entries for {n} rows")
        _, codes = np.unique(strata, return_inverse=True)
        order = np.argsort(codes, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    test = []
    for members in groups:
        k = int(np.floor(test_fraction * len(members) + 0.5))
        test.append(rng.permutation(members)[:k])
    test_idx = np.sort(np.concatenate(test)) if test else np.empty(0, np.int64)
    mask = np.ones(n, bool)
    mask[test_idx] = False
    train_idx = np.flatnonzero(mask)
    if train_idx.size == 0 or test_idx.size == 0:
        raise InputError(
            f"cannot split {n} rows with test_fraction={test_fraction}: "
            f"{train_idx.size} would be for training and {test_idx.size} for testing"
        )
    return train_idx, test_idx.astype(np.int64)
