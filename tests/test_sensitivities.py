"""Leverage scores, ℓ1 Lewis weights and unified sensitivities: sums, fixed points, sparse = dense."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from coreselect.errors import InputError
from coreselect.geometry import sensitivities as S


def _deficient(n: int = 400, seed: int = 0) -> np.ndarray:
    """8 columns of rank 5: one duplicated (scaled) column, one constant, one all-zero."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 8))
    a[:, 3] = 2.5 * a[:, 1]
    a[:, 5] = 1.0
    a[:, 6] = 0.0
    a[:, 7] = a[:, 0] - a[:, 2]
    return a


def test_leverage_sums_to_rank_of_x_with_intercept():
    a = _deficient()
    xa = S.with_intercept(a)  # the constant column makes the intercept redundant: rank stays 5
    tau = S.leverage_scores(xa)
    assert np.linalg.matrix_rank(xa) == 5
    assert tau.sum() == pytest.approx(5.0, abs=1e-8)
    assert tau.min() >= 0 and tau.max() <= 1 + 1e-12


def test_leverage_matches_projection_diagonal():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(60, 4))
    hat = a @ np.linalg.solve(a.T @ a, a.T)
    np.testing.assert_allclose(S.leverage_scores(a), np.diag(hat), atol=1e-12)


@pytest.mark.parametrize("route", ["sparse", "large-dense"])
def test_gram_route_matches_svd(route, monkeypatch):
    a = _deficient(seed=2)
    a[np.random.default_rng(3).random(a.shape) < 0.5] = 0.0  # sparse-looking, still rank deficient
    ref = S.leverage_scores(a)
    if route == "sparse":
        got = S.leverage_scores(sp.csr_matrix(a, dtype=np.float32))
    else:
        monkeypatch.setattr(S, "SVD_MAX_ELEMENTS", 0)
        got = S.leverage_scores(a)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert got.sum() == pytest.approx(np.linalg.matrix_rank(a), abs=1e-6)


def test_constant_and_zero_matrices():
    assert S.leverage_scores(np.zeros((5, 3))).sum() == 0
    np.testing.assert_allclose(S.leverage_scores(np.ones((4, 2))), 0.25)
    np.testing.assert_allclose(S.leverage_scores(sp.csr_matrix(np.ones((4, 2)))), 0.25)


def test_lewis_fixed_point_to_1e6():
    xa = S.with_intercept(_deficient(seed=4))
    w = S.lewis_weights(xa)
    again = np.sqrt(w * S.leverage_scores(xa / np.sqrt(w)[:, None]))
    assert np.max(np.abs(again - w)) < 1e-6
    assert w.sum() == pytest.approx(5.0, abs=1e-4)  # Σ w = rank at the fixed point


def test_lewis_sparse_equals_dense():
    a = S.with_intercept(_deficient(seed=5))
    np.testing.assert_allclose(S.lewis_weights(sp.csr_matrix(a)), S.lewis_weights(a), atol=1e-6)


def test_unified_sum_and_prior():
    a = _deficient(seed=6)
    s = S.unified_sensitivity(a)
    assert s.sum() == pytest.approx(2 + 5, abs=1e-8)
    prior = np.random.default_rng(0).uniform(0.5, 2.0, a.shape[0])
    sp_ = S.unified_sensitivity(a, prior)
    assert sp_.sum() == pytest.approx(2 + 5, abs=1e-8)
    assert not np.allclose(sp_, s)
    with pytest.raises(InputError, match="prior"):
        S.unified_sensitivity(a, -prior)


def test_class_sensitivities_scores_each_class_separately():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(300, 3))
    y = np.repeat([0, 1], [200, 100])
    s = S.class_sensitivities(a, y, "leverage")
    assert s[y == 0].sum() == pytest.approx(4.0) and s[y == 1].sum() == pytest.approx(4.0)
    np.testing.assert_allclose(s[y == 1], S.leverage_scores(S.with_intercept(a[y == 1])))


def test_bad_input():
    bad = sp.csr_matrix(np.eye(3))
    bad.data[1] = np.nan
    with pytest.raises(InputError, match="rows \\[1\\]"):
        S.leverage_scores(bad)
    with pytest.raises(InputError, match="NaN"):
        S.unified_sensitivity(np.array([[1.0, np.inf]]))
    with pytest.raises(InputError, match="sensitivity must be"):
        S.sensitivity(np.eye(3), "nope")
    with pytest.raises(InputError, match="iters"):
        S.lewis_weights(np.eye(3), iters=0)


def test_wide_matrices_use_the_row_gram_and_agree_with_the_svd():
    from coreselect.geometry.sensitivities import leverage_scores

    rng = np.random.default_rng(4)
    dense = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 6000))  # rank 3, 6,000 columns
    dense[:, ::7] = 0
    u, s, _ = np.linalg.svd(dense, full_matrices=False)
    expected = np.einsum("ij,ij->i", u[:, :3], u[:, :3])
    wide = sp.csr_matrix(dense)
    np.testing.assert_allclose(leverage_scores(wide), expected, atol=1e-9)
    assert leverage_scores(wide).sum() == pytest.approx(3)
