"""Sensitivity scores for coresets: leverage scores, ℓ1 Lewis weights and the unified f-SVD bound.

References: *Improving Model Classification by Optimizing the Training Dataset* (tuned coresets; arXiv 2507.16729, §2 and §4.1 — sensitivities "leverage",
"lewis", "unified"); ℓp Lewis weights by the fixed point of Cohen & Peng (2015, eq. 1 / Algorithm 1, p = 1).

All scores take a dense array or a scipy-sparse matrix `a (n, d)` (float32 or float64) and return
`(n,) float64`. Two ways to get the row norms of an orthonormal basis U of col(a):

* dense and small (`n·d` within :data:`SVD_MAX_ELEMENTS`): thin SVD of `a` in float64 — the most accurate,
  time O(n d²), memory O(n d);
* sparse or large: the d × d Gram matrix `G = DᵀAᵀAD` of the column-equilibrated matrix (D = 1/column
  norm), its eigen-decomposition `G = VΛVᵀ`, and `U = ADVΛ^{-1/2}` applied in row blocks. Scipy has no
  sparse QR, and the Gram costs one sparse product (O(nnz·d) time, O(d²) memory) instead of densifying a;
  equilibration makes the squared condition number of the Gram harmless for the rank tolerance below.
  Time O(nnz·d + d³ + n d r), memory O(d² + block·r). With more (non-zero) columns than rows, the n × n
  Gram `ADDᵀAᵀ = UΣ²Uᵀ` of the rows gives U directly instead: O(nnz·n + n³) time, O(n²) memory.

Rank is revealed with a relative tolerance (singular values below `σ_max · max(n, d) · eps`, or Gram
eigenvalues below `λ_max · max(n, d) · eps`, are dropped), so rank-deficient, duplicated and constant (or
all-zero) columns are fine: the scores always sum to the numerical rank.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from coreselect.errors import InputError
from coreselect.geometry.blocks import row_blocks

#: Largest dense `n·d` handled by a thin SVD; above it the blocked Gram route keeps memory at O(d²).
SVD_MAX_ELEMENTS = 2**24


def _check(a, name: str = "a"):
    if sp.issparse(a):
        a = sp.csr_matrix(a, dtype=np.float64)
        if a.ndim != 2:
            raise InputError(f"{name} must be 2-D, got shape {a.shape}")
        if not np.isfinite(a.data).all():
            bad = np.unique(np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))[~np.isfinite(a.data)])
            raise InputError(f"{name} has NaN or inf values in rows {bad[:10].tolist()}")
        return a
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise InputError(f"{name} must be 2-D, got shape {a.shape}")
    if not np.isfinite(a).all():
        bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
        raise InputError(f"{name} has NaN or inf values in rows {bad[:10].tolist()}")
    return a


def _scale_rows(a, s: np.ndarray):
    return sp.diags(s) @ a if sp.issparse(a) else a * s[:, None]


def _leverage(a) -> np.ndarray:
    n, d = a.shape
    if n == 0 or d == 0:
        return np.zeros(n)
    eps = np.finfo(np.float64).eps
    if not sp.issparse(a) and n * d <= SVD_MAX_ELEMENTS:
        u, s, _ = np.linalg.svd(a, full_matrices=False)
        if s.size == 0 or s[0] == 0:
            return np.zeros(n)
        u = u[:, s > s[0] * max(n, d) * eps]
        return np.einsum("ij,ij->i", u, u)
    col = np.sqrt(np.asarray(a.multiply(a).sum(axis=0)).ravel() if sp.issparse(a)
                  else np.einsum("ij,ij->j", a, a))
    keep = col > 0
    if not keep.any():
        return np.zeros(n)
    from coreselect.npyio import check_memory

    wide = int(keep.sum()) > n
    side = n if wide else int(keep.sum())
    check_memory(8 * side**2, f"the Gram matrix of {side:,} {'rows' if wide else 'non-zero feature columns'}")
    a = (a[:, np.flatnonzero(keep)] @ sp.diags(1.0 / col[keep])) if sp.issparse(a) else a[:, keep] / col[keep]
    if wide:  # more columns than rows: A Aᵀ = U Σ² Uᵀ gives the basis U itself, in O(n²) memory
        g = a @ a.T
        g = g.toarray() if sp.issparse(g) else g
        lam, v = np.linalg.eigh((g + g.T) / 2)
        u = v[:, lam > lam[-1] * max(n, d) * eps]
        return np.einsum("ij,ij->i", u, u)
    g = a.T @ a
    g = g.toarray() if sp.issparse(g) else g
    lam, v = np.linalg.eigh((g + g.T) / 2)
    # Forming the Gram rounds its eigenvalues (σ²) by ~ max(n, d)·eps·λ_max: drop what is below that.
    ok = lam > lam[-1] * max(n, d) * eps
    b = v[:, ok] / np.sqrt(lam[ok])
    out = np.empty(n)
    for start, stop in row_blocks(n, b.shape[1], itemsize=8):
        u = np.asarray(a[start:stop] @ b)
        out[start:stop] = np.einsum("ij,ij->i", u, u)
    return out


def leverage_scores(a) -> np.ndarray:
    """Statistical leverage `τ_i = ‖U_i‖²` with U an orthonormal basis of the column space of `a`.

    `0 ≤ τ_i ≤ 1` and `Σ τ_i = rank(a)`. No intercept column is added (see :func:`with_intercept`).
    Dense or scipy-sparse `a (n, d)`; complexity in the module docstring. Raises InputError on NaN/inf.
    """
    return _leverage(_check(a))


def with_intercept(a):
    """`[a | 1]`: the design matrix with an intercept column (sparse stays sparse CSR, float64)."""
    a = _check(a)
    ones = np.ones((a.shape[0], 1))
    return sp.hstack([a, sp.csr_matrix(ones)], format="csr") if sp.issparse(a) else np.hstack([a, ones])


def lewis_weights(a, iters: int = 20) -> np.ndarray:
    """ℓ1 Lewis weights of `a` by the fixed point `w ← sqrt(w · τ(W^{-1/2} a))` (Cohen & Peng 2015, p = 1).

    The fixed point is `w_i = τ_i(W^{-1/2} a)`, so `Σ w = rank(a)`. The map is a contraction with factor
    1/2 in log space, so each iteration halves the log-error: 20 iterations from `w = 1` reach ~1e-6
    relative (more `iters` tighten it). Rows that are all zero get weight 0 and stay out of the scaling.
    Time O(iters · leverage), memory as :func:`leverage_scores`.
    """
    if iters < 1:
        raise InputError(f"iters must be ≥ 1, got {iters}")
    a = _check(a)
    w = np.ones(a.shape[0])
    for _ in range(iters):
        pos = w > 0
        scale = np.zeros_like(w)
        scale[pos] = 1.0 / np.sqrt(w[pos])
        w = np.sqrt(w * _leverage(_scale_rows(a, scale)))
    return w


def unified_sensitivity(a, prior: np.ndarray | None = None) -> np.ndarray:
    """Unified f-SVD sensitivity `s_i = 2 w_i / W + ‖U_i‖²`, U an orthonormal basis of `[a | 1] · √w`.

    `w` are prior example weights (1 by default; > 0), `W = Σ w`. The intercept column is appended here.
    `Σ s = 2 + rank([a | 1]·√w)`. Complexity as :func:`leverage_scores` on d + 1 columns.
    """
    a = with_intercept(a)
    n = a.shape[0]
    w = np.ones(n) if prior is None else np.asarray(prior, dtype=np.float64)
    if w.shape != (n,):
        raise InputError(f"prior must have shape ({n},), got {w.shape}")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise InputError(f"prior weights must be finite and > 0; bad rows {np.flatnonzero(~(w > 0))[:10].tolist()}")
    return 2.0 * w / w.sum() + _leverage(_scale_rows(a, np.sqrt(w)))


SENSITIVITIES = ("unified", "leverage", "lewis")


def sensitivity(a, kind: str = "unified", prior: np.ndarray | None = None, lewis_iters: int = 20) -> np.ndarray:
    """One class's sensitivity of kind `unified` | `leverage` | `lewis`, all on `[a | 1]`.

    `prior` only enters `unified` (the others treat every example alike).
    """
    if kind == "unified":
        return unified_sensitivity(a, prior)
    if kind == "leverage":
        return _leverage(with_intercept(a))
    if kind == "lewis":
        return lewis_weights(with_intercept(a), iters=lewis_iters)
    raise InputError(f"sensitivity must be one of {SENSITIVITIES}, got {kind!r}")


def class_sensitivities(a, labels: np.ndarray, kind: str = "unified", prior: np.ndarray | None = None,
                        lewis_iters: int = 20) -> np.ndarray:
    """Per-class sensitivities: each class c scored on its own `[a_c | 1]` (METHODS.md, Tuned coresets).

    Returns `(n,) float64` in the row order of `a`. Time: the sum over classes of one score computation.
    """
    a = _check(a)
    labels = np.asarray(labels)
    if labels.shape != (a.shape[0],):
        raise InputError(f"labels must have shape ({a.shape[0]},), got {labels.shape}")
    out = np.empty(a.shape[0])
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        out[rows] = sensitivity(a[rows], kind, None if prior is None else np.asarray(prior)[rows], lewis_iters)
    return out
