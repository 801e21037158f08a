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


@pytest.fixture
def files(tmp_path, blobs):
    """The blobs saved as ``x.npy`` and ``y.npy`` in `tmp_path`, with a random per-example signal saved as
    both ``el2n.npy`` and ``loss.npy``."""
    x, y = blobs
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    values = np.random.default_rng(0).random(len(x))
    np.save(tmp_path / "el2n.npy", values)
    np.save(tmp_path / "loss.npy", values)
    return tmp_path
