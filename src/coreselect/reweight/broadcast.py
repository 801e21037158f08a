"""Weight broadcasting: every example takes the weight of its nearest coreset example(s).

Step 3 of CW-ERM ("The Power of Few: Accelerating and Enhancing Data Reweighting with Coreset
Selection", 2024, §3): after the coreset has been reweighted, the weights are propagated to the full
set by nearest neighbour in feature space. ``k = 1`` copies the weight of the nearest coreset example;
``k > 1`` averages the `k` nearest with inverse-distance weights; with `labels`, an example only looks
at coreset examples of its own class.

Why the class restriction matters under label noise: a per-example weight learned from the loss says
whether *that* example's label looks wrong. With symmetric noise the flip of an example is independent
of its features, so the nearest coreset example in a label-agnostic feature space carries no
information about it. Restricted to the example's (observed) class, the nearest coreset example of a
flipped example is most likely one with the same wrong label in the same region, whose learned weight
is low.

No torch here. Time O(n·m·d) (exact faiss flat search of n queries against m coreset rows); memory
O(n·k) for the results plus one block of query rows at a time (the features are not copied).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coreselect.errors import InputError
from coreselect.geometry.blocks import row_blocks
from coreselect.geometry.neighbors import knn


def _features(name: str, x: Any) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not a numeric array ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise InputError(f"{name} must be a 2-D array (rows, d) with d >= 1, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def row_indices(name: str, rows: Any, n: int) -> np.ndarray:
    """`rows` as distinct int64 row indices in ``[0, n)`` (a non-empty 1-D array), else an InputError
    naming `name`."""
    idx = np.asarray(rows)
    if idx.ndim != 1 or idx.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D array, got shape {idx.shape}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"{name} must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    bad = (idx < 0) | (idx >= n)
    if bad.any():
        raise InputError(f"{name} out of range [0, {n}): {idx[bad][:5].tolist()} ({int(bad.sum())} in all)")
    if np.unique(idx).size != idx.size:
        raise InputError(f"{name} has repeated entries")
    return idx


def _check(
    features: Any, coreset_indices: Any, coreset_weights: Any, k: int, labels: Any, coreset_features: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    x = _features("features", features)
    n, d = x.shape
    idx = row_indices("coreset_indices", coreset_indices, n)
    w = np.asarray(coreset_weights, dtype=np.float64)
    if w.shape != idx.shape:
        raise InputError(f"coreset_weights must have shape {idx.shape} (one per coreset index), got {w.shape}")
    nonfinite = ~np.isfinite(w)
    if nonfinite.any():
        raise InputError(
            f"coreset_weights has NaN or inf at positions {np.flatnonzero(nonfinite)[:5].tolist()}"
            f" ({int(nonfinite.sum())} in all)"
        )
    if (w < 0).any():
        raise InputError(f"coreset_weights must be >= 0; {int((w < 0).sum())} are negative")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= idx.size:
        raise InputError(f"k must be an integer in [1, {idx.size}] (the coreset size), got {k!r}")
    y = None
    if labels is not None:
        y = np.asarray(labels)
        if y.shape != (n,):
            raise InputError(f"labels must have shape ({n},) (one per row of features), got {y.shape}")
    if coreset_features is None:
        c = x[idx]
    else:
        c = _features("coreset_features", coreset_features)
        if c.shape[1] != d:
            raise InputError(
                f"coreset_features have width {c.shape[1]} but features have width {d}: "
                "both must come from the same feature model"
            )
        if c.shape[0] != idx.size:
            raise InputError(f"coreset_features must have {idx.size} rows (one per coreset index), got {c.shape[0]}")
    if not np.isfinite(c).all():
        raise InputError("coreset features contain NaN or inf")
    return x, idx, w, y, np.ascontiguousarray(c, dtype=np.float32)


def _combine(sqdist: np.ndarray, neighbours: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Inverse-distance average of the neighbours' weights; exact matches (distance 0) take over."""
    if neighbours.shape[1] == 1:
        return w[neighbours[:, 0]]
    dist = np.sqrt(np.maximum(sqdist.astype(np.float64), 0.0))
    exact = dist == 0
    inv = np.divide(1.0, dist, out=np.zeros_like(dist), where=~exact)
    a = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64), inv)
    return (a * w[neighbours]).sum(axis=1) / a.sum(axis=1)


def _nearest_weights(
    x: np.ndarray, rows: np.ndarray | None, centers: np.ndarray, w: np.ndarray, k: int
) -> np.ndarray:
    """Broadcast weights for the `rows` of `x` (all when None) against `centers`, one memory-bounded
    block of query rows at a time."""
    count = x.shape[0] if rows is None else rows.size
    out = np.empty(count, dtype=np.float64)
    for start, stop in row_blocks(count, x.shape[1]):
        block = x[start:stop] if rows is None else x[rows[start:stop]]
        block = np.ascontiguousarray(block, dtype=np.float32)
        if not np.isfinite(block).all():
            raise InputError("features contain NaN or inf")
        sqdist, nb = knn(centers, k, queries=block)
        out[start:stop] = _combine(sqdist, nb, w)
    return out


def broadcast(
    features: Any,
    coreset_indices: Any,
    coreset_weights: Any,
    k: int = 1,
    labels: Any = None,
    *,
    coreset_features: Any = None,
) -> np.ndarray:
    """Weights ``(n,)`` for every row of `features` from the weights of the coreset rows.

    `features` ``(n, d)``: the feature-space positions of all examples; `coreset_indices` ``(m,)``
    distinct rows of the coreset and `coreset_weights` ``(m,)`` ≥ 0 their (e.g. Meta-Weight-Net) weights.
    ``k = 1``: each example takes the weight of its nearest coreset example (exact L2, faiss), so a
    coreset example gets its own weight back. ``k > 1``: the `k` nearest coreset examples averaged with
    weights ``1 / distance`` (an exact match, distance 0, takes the weight of the matches alone). With
    `labels` ``(n,)``, only coreset examples of the same label are candidates (at most as many as the
    class has in the coreset); every class present in `labels` must then have one in the coreset.
    `coreset_features` ``(m, d)`` replaces ``features[coreset_indices]`` when the coreset was embedded
    separately (same feature model, so the same width d).

    Deterministic. Time O(n·m·d), memory O(n·k) plus one bounded block of query rows.
    """
    x, idx, w, y, centers = _check(features, coreset_indices, coreset_weights, k, labels, coreset_features)
    if y is None:
        return _nearest_weights(x, None, centers, w, int(k))
    out = np.empty(x.shape[0], dtype=np.float64)
    coreset_labels = y[idx]
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        members = np.flatnonzero(coreset_labels == c)
        if members.size == 0:
            raise InputError(
                f"labels: class {c.item()!r} ({rows.size} examples) has no coreset example; broadcast without "
                "labels, or choose a coreset with every class"
            )
        out[rows] = _nearest_weights(x, rows, centers[members], w[members], min(int(k), members.size))
    return out
