"""Regression sensitivity (Algorithm 2) and leverage-score sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coreselect
from coreselect.errors import InputError
from coreselect.geometry.sensitivities import leverage_scores
from coreselect.methods.regression import (PAM_MAX_ROWS, default_k, kmedoids_rows, regression_scores,
                                           sample_medoids_and_draws, sample_scores, weighted_lstsq)


def problem(n: int = 300, d: int = 3, seed: int = 0):
    """Clustered rows with an intercept column and a Lipschitz target (Assumption 8)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(scale=5, size=(5, d))
    x = mu[rng.integers(0, 5, n)] + rng.normal(size=(n, d))
    a = np.hstack([x, np.ones((n, 1))]).astype(np.float32)
    coef = rng.normal(size=d + 1)
    b = a.astype(np.float64) @ coef + 0.1 * rng.normal(size=n)
    return a, b


@pytest.mark.parametrize("clustering", ["fasterpam", "alternate"])
def test_kmedoids_returns_k_medoids_that_are_their_own_representatives(clustering):
    a, _ = problem()
    med, assign, dist = kmedoids_rows(a, 5, np.random.default_rng(0), clustering)
    assert med.size == 5 and np.unique(med).size == 5
    assert np.array_equal(assign[med], np.arange(5)) and np.all(dist[med] == 0)
    d_all = np.sqrt(((a[:, None, :] - a[med][None]) ** 2).sum(-1))
    assert np.allclose(dist, d_all.min(1), atol=1e-3)


def test_alternate_is_scikit_learn_extra_kmedoids_with_its_defaults():
    """A plain re-derivation of KMedoids(method="alternate", init="heuristic", max_iter=300)."""
    a, _ = problem(n=200, seed=3)
    diss = np.sqrt(((a[:, None, :].astype(np.float64) - a[None]) ** 2).sum(-1))
    med = np.argpartition(diss.sum(axis=1), 7)[:8]
    for _ in range(300):
        old = med.copy()
        labels = np.argmin(diss[med], axis=0)
        for j in range(med.size):
            members = np.flatnonzero(labels == j)
            costs = diss[np.ix_(members, members)].sum(axis=1)
            if costs.min() < diss[med[j], members].sum():
                med[j] = members[np.argmin(costs)]
        if np.array_equal(old, med):
            break
    got, _, _ = kmedoids_rows(a, 8, np.random.default_rng(0), "alternate")
    np.testing.assert_array_equal(got, np.sort(med))


def test_kmedoids_on_a_sample_when_n_exceeds_the_bound():
    a, _ = problem(n=400)
    med, assign, dist = kmedoids_rows(a, 6, np.random.default_rng(0), max_rows=60)
    assert med.size == 6 and assign.shape == (400,) and dist.shape == (400,)
    with pytest.raises(InputError):
        kmedoids_rows(a, 61, np.random.default_rng(0), max_rows=60)


def test_output_is_the_medoids_with_weight_one_plus_draws_over_the_other_rows():
    a, b = problem()
    sub = coreselect.select("regression-sensitivity", features=a, targets=b, size=60, k=10, seed=0)
    med, _, dist = kmedoids_rows(a, 10, np.random.default_rng(0))  # same seed ⇒ same clustering
    assert np.isin(med, sub.indices).all() and np.all(sub.weights[np.isin(sub.indices, med)] == 1)
    assert sub.n_queries == 60  # k + s: 10 medoids and 50 draws
    assert np.allclose(regression_scores(a, b, med, np.zeros(0, int), dist, None), dist)


def test_budget_split_by_medoid_share_and_default_k_at_any_n():
    a, b = problem(n=200)
    sub = coreselect.select("regression-sensitivity", features=a, targets=b, size=40, zeta=1.0, seed=0)
    assert sub.n_queries == 40 and (sub.weights == 1).sum() >= 20  # default: 20 medoids + 20 draws
    quarter = coreselect.select("regression-sensitivity", features=a, targets=b, size=40, medoid_share=0.25)
    assert (quarter.weights == 1).sum() >= 10
    assert [default_k(n, size) for n, size in ((200, 2), (200, 40), (200, 200), (10**7, 10**5))] == \
        [1, 20, 100, PAM_MAX_ROWS // 2]


def _estimates(a, b, zeta, s, draws, x):
    """Σ w r² of `draws` samples of select's estimator (one clustering, as select makes)."""
    med, assign, dist = kmedoids_rows(a, 20, np.random.default_rng(0))
    scores = regression_scores(a, b, med, assign, dist, zeta)
    resid2 = (a.astype(np.float64) @ x - b) ** 2
    rng = np.random.default_rng(1)
    ests = np.empty(draws)
    for t in range(draws):
        sub = sample_medoids_and_draws(scores, med, s, rng)
        ests[t] = sub.weights @ resid2[sub.indices]
    return ests, resid2.sum()


@pytest.mark.parametrize("zeta", [None, 1.0])
def test_weighted_squared_loss_is_unbiased(zeta):
    """Over 2,000 draws the mean of Σ_{A∪S} w r² is within 1% of ‖Ax − b‖² (x: a fixed perturbed fit)."""
    a, b = problem(n=300)
    x = np.linalg.lstsq(a.astype(np.float64), b, rcond=None)[0] + np.random.default_rng(5).normal(scale=0.05,
                                                                                                   size=a.shape[1])
    ests, total = _estimates(a, b, zeta, 60, 2000, x)
    assert abs(ests.mean() - total) / total < 0.01


def test_finite_zeta_applies_to_standardised_rows_and_targets():
    """Scaling the features or the targets by a constant leaves p (and so the sample) unchanged."""
    a, b = problem()
    med, assign, dist = kmedoids_rows(a, 10, np.random.default_rng(0))
    base = regression_scores(a, b, med, assign, dist, 2.0)
    scaled = regression_scores(a * 1e3, b * 1e-2, med, assign, dist * 1e3, 2.0)
    np.testing.assert_allclose(base / base.sum(), scaled / scaled.sum(), rtol=1e-5)
    s1 = coreselect.select("regression-sensitivity", features=a, targets=b, size=50, zeta=2.0, seed=4)
    s2 = coreselect.select("regression-sensitivity", features=a * 8, targets=b / 4, size=50, zeta=2.0, seed=4)
    np.testing.assert_array_equal(s1.indices, s2.indices)
    np.testing.assert_allclose(s1.weights, s2.weights, rtol=1e-6)


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


def test_bad_input():
    a, b = problem()
    with pytest.raises(InputError, match="exceeds"):
        coreselect.select("regression-sensitivity", features=a, targets=b, size=10, k=301)
    with pytest.raises(InputError, match="no draw"):
        coreselect.select("regression-sensitivity", features=a, targets=b, size=10, k=10)
    with pytest.raises(InputError, match="at least 2 labels"):
        coreselect.select("regression-sensitivity", features=a, targets=b, size=1)
    with pytest.raises(InputError, match="medoid_share"):
        coreselect.select("regression-sensitivity", features=a, targets=b, size=10, medoid_share=1.0)
    with pytest.raises(InputError, match="clustering"):
        coreselect.select("regression-sensitivity", features=a, targets=b, size=10, clustering="pam")
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
       zeta=st.one_of(st.none(), st.floats(0.1, 10)), clustering=st.sampled_from(["fasterpam", "alternate"]))
def test_properties(n, k, s, seed, zeta, clustering):
    a, b = problem(n=n, seed=seed)
    size = min(k + s, n)
    sub = coreselect.select("regression-sensitivity", features=a, targets=b, size=size, k=min(k, size - 1),
                            zeta=zeta, clustering=clustering, seed=seed)
    assert min(k, size - 1) < len(sub) <= size and sub.n_queries == size
    assert np.unique(sub.indices).size == len(sub)
    assert np.all(sub.weights > 0) and np.all(np.isfinite(sub.weights))
