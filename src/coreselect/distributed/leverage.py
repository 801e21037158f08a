"""Leverage scores from Dask's tall-skinny QR, and the methods built on them: ``leverage`` and ``coreset``.

``τ_i = ‖U_i‖²`` for an orthonormal basis U of col(A). :func:`dask.array.linalg.tsqr` reduces the chunks'
QR factors to the d × d factor R of A (Demmel et al. 2012, "Communication-optimal parallel and
sequential QR"); with R = U_R Σ Vᵀ, ``U = A V Σ⁻¹`` restricted to the singular values above
``σ_max · max(n, d) · eps`` (the rank rule of :mod:`coreselect.geometry.sensitivities`), so every chunk
computes its rows' scores from the d × r matrix ``V Σ⁻¹`` alone. Only R travels to the client: O(d²).
Time O(n d²) in parallel over the chunks plus O(d³); memory O(chunk · d) per task.

The ``coreset`` sensitivities (arXiv 2507.16729 §4.1, as :func:`coreselect.geometry.sensitivities.sensitivity`
composes them) are, per class c on ``[X_c | 1]``: ``leverage`` τ; ``unified`` ``2/n_c + τ``; ``lewis`` the
fixed point ``w ← sqrt(w · τ(W^{-1/2}[X_c | 1]))`` (Cohen & Peng 2015), one tsqr per iteration. The
sampling then is :meth:`coreselect.methods.coreset.Coreset.sample` on the client, from the O(n) scores.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from coreselect.budget import Budget
from coreselect.distributed import backend
from coreselect.methods._perclass import class_budgets
from coreselect.methods.coreset import Coreset, check_classes
from coreselect.methods.regression import Leverage
from coreselect.pool import Pool
from coreselect.subset import Subset


def _scores_block(block: np.ndarray, basis: np.ndarray) -> np.ndarray:
    u = block @ basis
    return np.einsum("ij,ij->i", u, u)


def _prepare(a: da.Array, intercept: bool, scale: np.ndarray | None) -> da.Array:
    a = a.astype(np.float64)
    if intercept:
        a = da.concatenate([a, da.ones((a.shape[0], 1), chunks=(a.chunks[0], 1))], axis=1)
    if scale is not None:
        a = a * da.from_array(scale, chunks=a.chunks[0])[:, None]
    return a.rechunk({1: -1})


def _basis(r: np.ndarray, n: int) -> np.ndarray | None:
    """``V Σ⁻¹`` over the numerical rank of R (None when R is 0)."""
    _, sv, vt = np.linalg.svd(r)
    if sv.size == 0 or sv[0] == 0:
        return None
    keep = sv > sv[0] * max(n, r.shape[1]) * np.finfo(np.float64).eps
    return vt[keep].T / sv[keep]


def leverage_many(arrays: list[da.Array], intercept: bool = False,
                  scales: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Leverage scores of each array (rows × `scales`, with an intercept column when asked), all arrays'
    tsqr in one computation and all their score passes in a second."""
    prepared = [_prepare(a, intercept, None if scales is None else s) for a, s in
                zip(arrays, scales or [None] * len(arrays))]
    rs = dask.compute(*[da.linalg.tsqr(a)[1] for a in prepared])
    scores = []
    for a, r in zip(prepared, rs):
        basis = _basis(r, a.shape[0])
        scores.append(da.zeros(a.shape[0], chunks=a.chunks[0]) if basis is None
                      else a.map_blocks(_scores_block, basis, drop_axis=1, dtype=np.float64))
    return list(dask.compute(*scores))


def leverage(a: da.Array) -> da.Array:
    """Leverage scores (n,) float64 of `a`, lazy except for the tsqr of R, which is computed here."""
    a = _prepare(a, False, None)
    basis = _basis(da.linalg.tsqr(a)[1].compute(), a.shape[0])
    if basis is None:
        return da.zeros(a.shape[0], chunks=a.chunks[0])
    return a.map_blocks(_scores_block, basis, drop_axis=1, dtype=np.float64)


def class_sensitivities(classes: list[da.Array], kind: str, lewis_iters: int) -> list[np.ndarray]:
    """Each class's sensitivity of kind ``unified`` | ``leverage`` | ``lewis`` on ``[a | 1]`` (prior w = 1);
    the classes run side by side."""
    if kind == "leverage":
        return leverage_many(classes, intercept=True)
    if kind == "unified":
        return [2.0 / a.shape[0] + t for a, t in zip(classes, leverage_many(classes, intercept=True))]
    ws = [np.ones(a.shape[0]) for a in classes]
    for _ in range(lewis_iters):
        scales = []
        for w in ws:
            sc = np.zeros_like(w)
            sc[w > 0] = 1.0 / np.sqrt(w[w > 0])
            scales.append(sc)
        ws = [np.sqrt(w * t) for w, t in zip(ws, leverage_many(classes, intercept=True, scales=scales))]
    return ws


def select_coreset(method: Coreset, x: da.Array, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
    """Per class: sensitivities by tsqr on the class's rows, then the single-machine sampling on the client."""
    check_classes(pool)
    plan = class_budgets(pool, budget)
    scores = class_sensitivities([x[rows] for rows, _ in plan], method.sensitivity, method.lewis_iters)
    return method.sample([(rows, m, sc) for (rows, m), sc in zip(plan, scores)], pool.n, rng)


def select_leverage(method: Leverage, x: da.Array, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
    """Leverage-score sampling: τ by tsqr, s i.i.d. draws split over chunks, weights ``Στ / (s τ_i)``."""
    s = budget.total
    tau = leverage(x)
    rows, t, total = backend.iid_draws(tau, s, rng)
    return Subset.from_draws(rows, total / (s * t), pool.n)
