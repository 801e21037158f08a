"""Last-layer gradient embeddings (CRAIG, Mirzasoleiman et al. 2020, §3.2; GradMatch, Killamsetty et al. 2021).

For logits ``z = W h + b`` and cross-entropy, ``∂CE/∂z = p − y`` (p = softmax(z), y one-hot), so the
gradient w.r.t. ``(W, b)`` is the outer product ``(p − y) ⊗ [h; 1]``.
"""

from __future__ import annotations

import numpy as np

from coreselect.errors import InputError


def last_layer_gradients(logits: np.ndarray, labels: np.ndarray,
                         penultimate: np.ndarray | None = None) -> np.ndarray:
    """Per-example last-layer gradients as float32 rows.

    Without `penultimate`: ``p − onehot(y)``, shape (n, C). With `penultimate` h (n, d): the flattened
    ``(p − y) ⊗ [h; 1]``, shape (n, C·(d+1)), entry ``c·(d+1) + k``. Softmax in float64, max-shifted.
    Time O(n·C·d), memory O(n·C·d) for the result.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise InputError(f"logits must be (n, C) with n >= 1 and C >= 2, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise InputError("logits contain NaN or inf")
    n, c = z.shape
    y = np.asarray(labels).reshape(-1)
    if y.shape[0] != n:
        raise InputError(f"labels has {y.shape[0]} rows but logits have {n}")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= c:
        raise InputError(f"labels must be integers in [0, {c}), got dtype {y.dtype}, range "
                         f"[{y.min()}, {y.max()}]")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(n), y] -= 1
    if penultimate is None:
        return p.astype(np.float32)
    h = np.asarray(penultimate, dtype=np.float32)
    if h.ndim != 2 or h.shape[0] != n:
        raise InputError(f"penultimate must be (n, d) with n = {n}, got shape {h.shape}")
    if not np.isfinite(h).all():
        raise InputError("penultimate contains NaN or inf")
    h1 = np.concatenate([h, np.ones((n, 1), dtype=np.float32)], axis=1)
    return (p.astype(np.float32)[:, :, None] * h1[:, None, :]).reshape(n, c * (h.shape[1] + 1))
