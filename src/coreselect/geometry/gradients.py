"""Last-layer gradient embeddings (CRAIG, Mirzasoleiman et al. 2020, §3.2; GradMatch, Killamsetty et al. 2021).

For logits ``z = W h + b`` and cross-entropy, ``∂CE/∂z = p − y`` (p = softmax(z), y one-hot), so the
gradient w.r.t. ``(W, b)`` is the outer product ``(p − y) ⊗ [h; 1]``. :func:`gradient_embedding` builds
the three kinds CRAIG and GradMatch select on (:data:`GRADIENT_KINDS`).
"""

from __future__ import annotations

import numpy as np

from coreselect.errors import InputError

#: The gradient embeddings of :func:`gradient_embedding`: ``"logits"`` (``p − y``, C columns: the
#: official CRAIG code's), ``"full"`` (``(p − y) ⊗ [h; 1]``, C·(d+1) columns) and
#: ``"per_class_gradient"`` (each example's own class's row of the full gradient, d+1 columns: CORDS's
#: default for GradMatch, its ``PerClassPerGradient``).
GRADIENT_KINDS = ("logits", "full", "per_class_gradient")


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
    h1 = _with_bias(penultimate, n)
    return (p.astype(np.float32)[:, :, None] * h1[:, None, :]).reshape(n, c * h1.shape[1])


def _with_bias(penultimate: np.ndarray, n: int) -> np.ndarray:
    """``[h; 1]`` as float32 ``(n, d+1)``, after checking `penultimate` is a finite ``(n, d)`` array."""
    h = np.asarray(penultimate, dtype=np.float32)
    if h.ndim != 2 or h.shape[0] != n:
        raise InputError(f"penultimate must be (n, d) with n = {n}, got shape {h.shape}")
    if not np.isfinite(h).all():
        raise InputError("penultimate contains NaN or inf")
    return np.concatenate([h, np.ones((n, 1), dtype=np.float32)], axis=1)


def gradient_embedding(kind: str, logits: np.ndarray, labels: np.ndarray,
                       penultimate: np.ndarray | None = None) -> np.ndarray:
    """The last-layer gradient embedding of `kind` (:data:`GRADIENT_KINDS`) as float32 rows.

    ``"logits"``: ``p − y`` (n, C); ``"full"``: ``(p − y) ⊗ [h; 1]`` (n, C·(d+1)), as
    :func:`last_layer_gradients`; ``"per_class_gradient"``: ``(p_{y_i} − 1)·[h_i; 1]`` (n, d+1), the
    gradient w.r.t. the weights and bias of example i's own class — the slice GradMatch matches when it
    runs class by class (Killamsetty et al. 2021; CORDS's ``PerClassPerGradient``), C× smaller than
    ``"full"``. `penultimate` h (n, d) is required by the last two. Time and memory O(n·D), D the width.
    """
    if kind not in GRADIENT_KINDS:
        raise InputError(f"unknown gradient embedding {kind!r}; choose one of {', '.join(GRADIENT_KINDS)}")
    if kind != "logits" and penultimate is None:
        raise InputError(f"the {kind!r} gradient embedding needs the penultimate features")
    if kind == "full":
        return last_layer_gradients(logits, labels, penultimate)
    e = last_layer_gradients(logits, labels)
    if kind == "logits":
        return e
    n = e.shape[0]
    own = e[np.arange(n), np.asarray(labels).reshape(-1)]  # p_y − 1
    return own[:, None] * _with_bias(penultimate, n)
