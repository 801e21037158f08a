"""Blocked squared Euclidean and cosine math on float32 arrays (never an n × n matrix)."""

from __future__ import annotations

import numpy as np

from coreselect.geometry.blocks import row_blocks


def sq_norms(x: np.ndarray) -> np.ndarray:
    """Row squared norms, accumulated in float64 and returned as float32."""
    return np.einsum("ij,ij->i", x, x, dtype=np.float64).astype(np.float32)


def sq_dists(x: np.ndarray, y: np.ndarray, x_norms: np.ndarray | None = None,
             y_norms: np.ndarray | None = None) -> np.ndarray:
    """`(len(x), len(y))` squared distances ‖x_i − y_j‖² = ‖x_i‖² − 2⟨x_i, y_j⟩ + ‖y_j‖², clipped at 0.

    One dense block: callers keep `len(x) · len(y)` within the memory budget (see :func:`pairwise_blocks`).
    """
    xn = sq_norms(x) if x_norms is None else x_norms
    yn = sq_norms(y) if y_norms is None else y_norms
    d = x @ y.T
    d *= -2
    d += xn[:, None]
    d += yn[None, :]
    np.maximum(d, 0, out=d)
    return d


def pairwise_blocks(x: np.ndarray, y: np.ndarray, budget: int | None = None):
    """Yield `(start, stop, D)` with `D = sq_dists(x[start:stop], y)`, blocks sized by the memory budget."""
    yn = sq_norms(y)
    xn = sq_norms(x)
    for start, stop in row_blocks(x.shape[0], y.shape[0], budget=budget):
        yield start, stop, sq_dists(x[start:stop], y, xn[start:stop], yn)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Unit-norm rows (float32); all-zero rows stay zero."""
    norms = np.sqrt(sq_norms(x))
    norms[norms == 0] = 1
    return (x / norms[:, None]).astype(np.float32, copy=False)
