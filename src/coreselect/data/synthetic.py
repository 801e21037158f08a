"""Datasets that need no files: the four-moons toy and scikit-learn's bundled digits."""

from __future__ import annotations

import numpy as np

from coreselect.data.dataset import Dataset
from coreselect.data.split import split_indices
from coreselect.errors import InputError

#: Offset of the second pair of moons; one pair spans x in [-1, 2], so the pairs touch at the tips.
MOON_SHIFT = (3.0, 0.0)


def four_moons(n: int = 2000, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two pairs of interleaving half-moons side by side: features ``(n, 2)`` float32, classes 0..3 int64.

    Classes 0/1 are the left pair and 2/3 the right pair; Gaussian `noise` makes neighbouring moons
    overlap slightly. Rows are shuffled; the same `seed` always gives identical arrays.
    """
    from sklearn.datasets import make_moons

    if int(n) < 4:
        raise InputError(f"four_moons needs n >= 4, got {n}")
    if not noise >= 0:
        raise InputError(f"noise must be >= 0, got {noise}")
    n = int(n)
    rng = np.random.default_rng(seed)
    seed_a, seed_b = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
    xa, ya = make_moons(n // 2, noise=noise, random_state=seed_a)
    xb, yb = make_moons(n - n // 2, noise=noise, random_state=seed_b)
    x = np.vstack([xa, xb + np.asarray(MOON_SHIFT)])
    y = np.concatenate([ya, yb + 2])
    order = rng.permutation(n)
    return x[order].astype(np.float32), y[order].astype(np.int64)


def four_moons_dataset(seed: int = 0, n: int = 2000, n_test: int = 1000, noise: float = 0.1) -> Dataset:
    """`four_moons` as a `Dataset`: `n` training and `n_test` test points drawn together from `seed`."""
    if int(n_test) < 1:
        raise InputError(f"n_test must be >= 1, got {n_test}")
    x, y = four_moons(int(n) + int(n_test), noise=noise, seed=seed)
    n = int(n)
    return Dataset("four-moons", x[:n], y[:n], x[n:], y[n:], "classification", 4, None)


def digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, 10 classes), pixels scaled to [0, 1], stratified split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    train, test = split_indices(len(y), test_fraction, seed, strata=y)
    return Dataset("digits", x[train], y[train], x[test], y[test], "classification", 10, (1, 8, 8))
