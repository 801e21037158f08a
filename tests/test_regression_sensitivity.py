"""Regression sensitivity (Algorithm 2) and leverage-score sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coreselect
from coreselect.errors import InputError
from coreselect.geometry.sensitivities import leverage_scores
from coreselect.methods.regression import kmedoids_fasterpam, regression_scores, sample_scores, weighted_lstsq


def problem(n: int = 300, d: int = 3, seed: int = 0):
    """Clustered rows with an intercept column and a Lipschitz target (Assumption 8)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(scale=5, size=(5, d))
    x = mu[rng.integers(0, 5, n)] + rng.normal(size=(n, d))
    a = np.hstack([x, np.ones((n, 1))]).astype(np.float32)
    coef = rng.normal(size=d + 1)
    b = a.astype(np.float64) @ coef + 0.1 * rng.normal(size=n)
    return a, b


def test_kmedoids_returns_k_medoids_that_are_their_own_representatives():
    a, _ = problem()
    med, assign, dist = kmedoids_fasterpam(a, 5, np.random.default_rng(0))
    assert med.size == 5 and np.unique(med).size == 5
    assert np.array_equal(assign[med], np.arange(5)) and np.all(dist[med] == 0)
    d_all = np.sqrt(((a[:, None, :] - a[med][None]) ** 2).sum(-1))
    assert np.allclose(dist, d_all.min(1), atol=1e-3)


def test_kmedoids_on_a_sample_when_n_exceeds_the_bound():
    a, _ = problem(n=400)
    med, assign, dist = kmedoids_fasterpam(a, 6, np.random.default_rng(0), max_rows=60)
    assert med.size == 6 and assign.shape == (400,) and dist.shape == (400,)
    with pytest.raises(InputError):
        kmedoids_fasterpam(a, 61, np.random.default_rng(0), max_rows=60)


def test_zeta_infinity_samples_by_distance_only_and_never_a_medoid():
    a, b = problem()
    rng = np.random.default_rng(0)
    scores = regression_scores(a, b, 10, None, rng)
    med, _, dist = kmedoids_fasterpam(a, 10, np.random.default_rng(0))
    assert np.allclose(scores, dist)
    sub = coreselect.select("regression-sensitivity", features=a, targets=b, size=200, k=10, seed=0)
    assert not np.isin(sub.indices, med).any()  # same seed ⇒ same FasterPAM run as above
    assert sub.n_queries == 0


def test_finite_zeta_reads_the_medoid_targets_and_gives_medoids_positive_probability():
    a, b = problem()
    scores = regression_scores(a, b, 10, 1.0, np.random.default_rng(0))
    assert np.all(scores > 0)
    sub = coreselect.select("regression-sensitivity", features=a, targets=b, size=50, k=10, zeta=1.0, seed=0)
    assert sub.n_queries == 10


def test_leverage_weighted_squared_loss_is_unbiased():
    a, b = problem(n=200)
    x = np.random.default_rng(5).normal(size=a.shape[1])
    resid2 = (a.astype(np.float64) @ x - b) ** 2
    scores = leverage_scores(a)
    ests = []
    for seed in range(2000):
        sub = sample_scores(scores, 30, np.random.default_rng(seed))
        ests.append(np.dot(sub.weights, resid2[sub.indices]))
    assert abs(np.mean(ests) - resid2.sum()) / resid2.sum() < 0.02


def test_regression_sensitivity_estimator_is_exactly_unbiased_for_finite_zeta():
    # E[Σ_S w r²] = Σ_i s·p_i · r_i² / (s·p_i) = Σ r² as soon as every p_i > 0 (finite ζ)
    a, b = problem(n=200)
    scores = regression_scores(a, b, 8, 2.0, np.random.default_rng(0))
    p = scores / scores.sum()
    assert np.all(p > 0)
    x = np.random.default_rng(5).normal(size=a.shape[1])
    resid2 = (a.astype(np.float64) @ x - b) ** 2
    assert np.isclose(np.sum(p * resid2 / p), resid2.sum())


@pytest.mark.parametrize("method,params", [("regression-sensitivity", {"k": 20}),
                                           ("regression-sensitivity", {"k": 20, "zeta": 5.0}),
                                           ("leverage", {})])
def test_sample_fit_close_to_full_fit(method, params):
    a, b = problem(n=500)
    full = np.linalg.lstsq(a.astype(np.float64), b, rcond=None)[0]
    sub = coreselect.select(method, features=a, targets=b, size=150, seed=0, **params)
    coef = weighted_lstsq(a, b, sub)
    r_full = np.sum((a @ full - b) ** 2)
    r_sub = np.sum((a @ coef - b) ** 2)
    assert r_sub < 1.5 * r_full


def test_leverage_probabilities_follow_leverage_scores():
    a, b = problem()
    a = a.copy()
    a[7] = [40, -40, 40, 1]  # a high-leverage outlier row
    counts = np.zeros(a.shape[0])
    for seed in range(50):
        sub = coreselect.select("leverage", features=a, size=30, seed=seed)
        counts[sub.indices] += 1
    assert counts[7] == 50  # τ_7 ≈ 1, so it is drawn in (almost) every sample of 30
    tau = leverage_scores(a)
    assert np.isclose(tau.sum(), a.shape[1])


def test_weighted_lstsq_with_all_rows_equals_lstsq():
    a, b = problem()
    sub = coreselect.select("uniform", features=a, size=a.shape[0])
    assert np.allclose(weighted_lstsq(a, b, sub), np.linalg.lstsq(a.astype(np.float64), b, rcond=None)[0])


def test_deterministic():
    a, b = problem()
    for method, params in (("regression-sensitivity", {"k": 10}), ("leverage", {})):
        s1 = coreselect.select(method, features=a, targets=b, size=40, seed=3, **params)
        s2 = coreselect.select(method, features=a, targets=b, size=40, seed=3, **params)
        assert s1 == s2


def test_default_k_is_ten_percent():
    a, b = problem(n=200)
    sub = coreselect.select("regression-sensitivity", features=a, targets=b, size=40, zeta=1.0, seed=0)
    assert sub.n_queries == 20


def test_bad_input():
    a, b = problem()
    with pytest.raises(InputError, match="exceeds"):
        coreselect.select("regression-sensitivity", features=a, targets=b, size=10, k=301)
    with pytest.raises(InputError, match="k must be"):
        coreselect.select("regression-sensitivity", features=a, targets=b, size=10, k=0)
    with pytest.raises(InputError, match="zeta"):
        coreselect.select("regression-sensitivity", features=a, targets=b, size=10, zeta=-1.0)
    with pytest.raises(InputError, match="targets"):
        coreselect.select("regression-sensitivity", features=a, size=10)
    for size in (0, -1):
        with pytest.raises(InputError):
            coreselect.select("leverage", features=a, size=size)
    bad = a.copy()
    bad[3, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        coreselect.select("leverage", features=bad, size=10)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(20, 60), k=st.integers(1, 6), s=st.integers(1, 40), seed=st.integers(0, 2**16),
       zeta=st.one_of(st.none(), st.floats(0.1, 10)))
def test_properties(n, k, s, seed, zeta):
    a, b = problem(n=n, seed=seed)
    sub = coreselect.select("regression-sensitivity", features=a, targets=b, size=min(s, n), k=k, zeta=zeta,
                            seed=seed)
    assert 1 <= len(sub) <= min(s, n)
    assert np.unique(sub.indices).size == len(sub)
    assert np.all(sub.weights > 0) and np.all(np.isfinite(sub.weights))
