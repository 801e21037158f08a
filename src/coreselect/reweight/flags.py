"""Which examples a set of learned weights calls suspect: the lower of two groups of weights.

Meta-Weight-Net with a trusted meta set gives mislabelled examples low weights and clean ones high
weights; the two groups are separated by Otsu's threshold (Otsu 1979, "A threshold selection method
from gray-level histograms"): the cut of the sorted weights that maximises the between-group variance
``w₀·w₁·(μ₀ − μ₁)²``. On weights without two groups the cut still falls somewhere: read the weights
before acting on the flags. No torch here; time O(m log m).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coreselect.errors import InputError


def split_threshold(weights: Any) -> float:
    """Otsu's threshold of the 1-D `weights`: the midpoint between the two sorted neighbours at the
    cut maximising the between-group variance (the first such cut on ties); values below it form the low
    group. Equal weights give their common value (nothing below it)."""
    w = np.sort(np.asarray(weights, dtype=np.float64).reshape(-1))
    if w.size == 0 or not np.isfinite(w).all():
        raise InputError("weights must be a non-empty array of finite numbers")
    if w[0] == w[-1]:
        return float(w[0])
    count = np.arange(1, w.size)  # size of the low group for a cut after each position
    low = np.cumsum(w)[:-1] / count
    high = (w.sum() - low * count) / (w.size - count)
    between = count * (w.size - count) * (high - low) ** 2
    between[w[1:] == w[:-1]] = -1.0  # a cut between equal values separates nothing
    cut = int(np.argmax(between))
    return float((w[cut] + w[cut + 1]) / 2)
