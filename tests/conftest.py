"""Shared fixtures: small synthetic data."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def blobs():
    """600 float32 points in 8-D, three labelled Gaussian blobs of unequal size (300, 200, 100)."""
    rng = np.random.default_rng(0)
    sizes = (300, 200, 100)
    centers = rng.normal(scale=4, size=(3, 8))
    x = np.concatenate([rng.normal(size=(s, 8)) + c for s, c in zip(sizes, centers)]).astype(np.float32)
    y = np.repeat(np.arange(3), sizes)
    return x, y
