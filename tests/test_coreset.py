"""The `coreset` method: allocation, deterministic fraction, weight strategies, unbiasedness, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import coreselect
from coreselect.errors import InputError
from coreselect.geometry.sensitivities import sensitivity
from coreselect.methods.coreset import sample_class


def _data(n: int = 600, d: int = 6, pos: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos).astype(np.int64)
    x = (rng.standard_t(3, size=(n, d)) + y[:, None]).astype(np.float32)
    return x, y


def _multiplicity(s, x, y, shares, kind="unified"):
    """Draw counts recovered from `inv` weights at d = 0: weight = count / (m_c p_i)."""
    counts = np.empty(len(s))
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        p = sensitivity(x[rows], kind)
        p = p / p.sum()
        mine = y[s.indices] == c
        counts[mine] = s.weights[mine] / s.params["unit_weight"] * shares[c] * p[np.searchsorted(rows, s.indices[mine])]
    return counts


def _class_totals(x, y, c, m, d, weighting, kind="unified", seeds=300, uniform_share=0.0):
    """Per-draw class totals of the strategy's own weights (:func:`sample_class`, before the common factor)."""
    scores = sensitivity(x[y == c], kind)
    return np.array([sample_class(scores, m, d, weighting, np.random.default_rng(seed), uniform_share)[1].sum()
                     for seed in range(seeds)])


@pytest.mark.parametrize("kind", ["unified", "leverage", "lewis"])
def test_inv_weighted_class_sizes_are_unbiased(kind):
    x, y = _data(n=300)
    for c, m in ((0, 25), (1, 5)):
        totals = _class_totals(x, y, c, m, 0.0, "inv", kind)
        assert abs(totals.mean() - (y == c).sum()) < 4 * totals.std(ddof=1) / np.sqrt(totals.size)


def test_keep_is_unbiased_with_a_deterministic_part():
    x, y = _data(n=300, seed=1)
    totals = _class_totals(x, y, 0, 34, 0.5, "keep")
    assert abs(totals.mean() - (y == 0).sum()) < 4 * totals.std(ddof=1) / np.sqrt(totals.size)


@pytest.mark.parametrize("weighting, d", [("inv", 0.0), ("keep", 0.5)])
def test_a_uniform_share_keeps_the_estimate_unbiased(weighting, d):
    x, y = _data(n=300, seed=2)
    totals = _class_totals(x, y, 0, 30, d, weighting, uniform_share=0.5)
    assert abs(totals.mean() - (y == 0).sum()) < 4 * totals.std(ddof=1) / np.sqrt(totals.size)


def test_a_uniform_share_bounds_the_weights_and_all_uniform_is_uniform():
    """Draw weights are 1/(m p) with p ≥ α/n_c, so at most n_c/(α m); at α = 1 every draw weighs n_c/m."""
    scores = np.random.default_rng(0).pareto(1.0, size=400) + 1e-6  # heavy-tailed sensitivities
    for alpha in (0.25, 0.5):
        _, w = sample_class(scores, 20, 0.0, "inv", np.random.default_rng(1), alpha)
        assert w.max() <= 400 / (alpha * 20) * (1 + 1e-12)
    _, w = sample_class(scores, 20, 0.0, "inv", np.random.default_rng(1), 1.0)
    np.testing.assert_allclose(w, 400 / 20)
    _, w0 = sample_class(scores, 20, 0.0, "inv", np.random.default_rng(1), 0.0)
    assert w0.max() > 400 / (0.25 * 20)  # without the uniform share the bound does not hold here


def test_inv_is_biased_with_a_deterministic_part():
    """The unbiasedness check has power: inv weights over-count once the top examples are forced in."""
    x, y = _data(n=300)
    totals = _class_totals(x, y, 0, 25, 0.5, "inv", seeds=100)
    assert abs(totals.mean() - (y == 0).sum()) > 4 * totals.std(ddof=1) / np.sqrt(totals.size)


@pytest.mark.parametrize("weighting", ["keep", "inv", "prop"])
@pytest.mark.parametrize("d", [0.0, 0.5, 1.0])
def test_weights_sum_to_n_by_one_common_factor(weighting, d):
    """Every output sums to n (deterministic=1 with keep used to sum to m); the factor is unit_weight and
    the weights are the strategy's own times it, so the classifier trained on them does not change."""
    x, y = _data(n=200, seed=2)
    s = coreselect.select("coreset", features=x, labels=y, size=20, deterministic=d, weighting=weighting, seed=0)
    assert s.weights.sum() == pytest.approx(200)
    unit = s.params["unit_weight"]
    if weighting == "keep" and d == 1.0:
        assert unit == pytest.approx(200 / 20) and np.allclose(s.weights, unit)
    if weighting == "prop":
        assert unit == pytest.approx(1.0)


def test_draws_sum_exactly_to_the_budget():
    x, y = _data()
    s = coreselect.select("coreset", features=x, labels=y, size=60, weighting="inv", seed=3,
                          allocation="proportional", uniform_share=0.0)
    shares = coreselect.Budget(60, 600).split({0: int((y == 0).sum()), 1: int((y == 1).sum())})
    counts = _multiplicity(s, x, y, shares)
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-6)
    assert round(counts.sum()) == 60
    for c in (0, 1):
        assert round(counts[y[s.indices] == c].sum()) == shares[c]


def test_d1_is_deterministic_top_m_per_class():
    x, y = _data(seed=2)
    a = coreselect.select("coreset", features=x, labels=y, size=50, deterministic=1.0, seed=0,
                          allocation="proportional", weighting="keep")
    b = coreselect.select("coreset", features=x, labels=y, size=50, deterministic=1.0, seed=99,
                          allocation="proportional", weighting="keep")
    np.testing.assert_array_equal(a.indices, b.indices)
    expected = []
    for c, m_c in coreselect.Budget(50, 600).split({0: int((y == 0).sum()), 1: int((y == 1).sum())}).items():
        rows = np.flatnonzero(y == c)
        s = sensitivity(x[rows], "unified")
        expected.append(rows[np.argsort(-s, kind="stable")[:m_c]])
    np.testing.assert_array_equal(a.indices, np.sort(np.concatenate(expected)))
    np.testing.assert_allclose(a.weights, a.params["unit_weight"])  # keep: every pick keeps its prior weight


def test_prop_splits_class_mass_by_d():
    x, y = _data(seed=3)
    s = coreselect.select("coreset", features=x, labels=y, size=80, deterministic=0.5, weighting="prop", seed=0)
    for c in (0, 1):
        assert s.weights[y[s.indices] == c].sum() == pytest.approx((y == c).sum())


def test_balanced_gives_equal_counts_and_a_small_class_all_its_members():
    x, y = _data(seed=4)
    s = coreselect.select("coreset", features=x, labels=y, size=60, allocation="balanced", deterministic=1.0)
    assert np.bincount(y[s.indices]).tolist() == [30, 30]
    small = int((y == 1).sum())
    s = coreselect.select("coreset", features=x, labels=y, size=2 * small + 10, allocation="balanced",
                          deterministic=1.0)
    assert np.bincount(y[s.indices]).tolist() == [small + 10, small]  # the rest goes to the larger class


def test_mapping_of_sizes_and_fractions():
    x, y = _data(seed=5)
    s = coreselect.select("coreset", features=x, labels=y, size=10, allocation={0: 20, 1: 15}, deterministic=1.0)
    assert np.bincount(y[s.indices]).tolist() == [20, 15]
    s = coreselect.select("coreset", features=x, labels=y, size=10, allocation={0: 0.1, 1: 0.5}, deterministic=1.0)
    assert np.bincount(y[s.indices]).tolist() == [round(0.1 * (y == 0).sum()), round(0.5 * (y == 1).sum())]
    with pytest.raises(InputError, match="class 1 has"):
        coreselect.select("coreset", features=x, labels=y, size=10, allocation={0: 5, 1: 10_000})


def test_sparse_features_equal_dense():
    x, y = _data(seed=6)
    x[np.abs(x) < 0.8] = 0
    a = coreselect.select("coreset", features=sp.csr_matrix(x), labels=y, size=40, seed=1)
    b = coreselect.select("coreset", features=x, labels=y, size=40, seed=1)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-6)


def test_determinism_and_recorded_params():
    x, y = _data(seed=7)
    a = coreselect.select("coreset", features=x, labels=y, size=40, seed=5, deterministic=0.25)
    b = coreselect.select("coreset", features=x, labels=y, size=40, seed=5, deterministic=0.25)
    c = coreselect.select("coreset", features=x, labels=y, size=40, seed=6, deterministic=0.25)
    assert a == b and a != c
    assert a.params["deterministic"] == 0.25 and a.method == "coreset"


def test_bad_input():
    x, y = _data(seed=8)
    with pytest.raises(InputError, match="at least two classes"):
        coreselect.select("coreset", features=x, labels=np.zeros_like(y), size=10)
    with pytest.raises(InputError, match="labels"):
        coreselect.select("coreset", features=x, size=10)
    bad = sp.csr_matrix(x)
    bad.data[5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        coreselect.select("coreset", features=bad, labels=y, size=10)
    with pytest.raises(InputError, match="deterministic"):
        coreselect.select("coreset", features=x, labels=y, size=10, deterministic=1.5)
    with pytest.raises(InputError, match="weighting"):
        coreselect.select("coreset", features=x, labels=y, size=10, weighting="sqrt")
    with pytest.raises(InputError, match="sensitivity"):
        coreselect.select("coreset", features=x, labels=y, size=10, sensitivity="gradnorm")
    with pytest.raises(InputError, match="uniform_share"):
        coreselect.select("coreset", features=x, labels=y, size=10, uniform_share=1.5)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 40), d=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
       weighting=st.sampled_from(["keep", "inv", "prop"]), seed=st.integers(0, 2**16))
def test_sample_class_properties(m, d, weighting, seed):
    scores = np.random.default_rng(seed).pareto(1.5, size=50) + 1e-3
    pos, w = sample_class(scores, m, d, weighting, np.random.default_rng(seed))
    k = int(np.floor(d * m + 1e-9))
    assert pos.size == m  # exactly m picks before duplicates are merged
    assert np.unique(pos[:k]).size == k and not np.isin(pos[k:], pos[:k]).any()
    assert np.all(w > 0) and np.all(np.isfinite(w))
    if weighting == "prop":
        assert w.sum() == pytest.approx(50.0)


@settings(max_examples=15, deadline=None)
@given(size=st.integers(2, 80), d=st.sampled_from([0.0, 0.5, 1.0]),
       allocation=st.sampled_from(["proportional", "balanced"]), seed=st.integers(0, 1000))
def test_subset_properties(size, d, allocation, seed):
    x, y = _data(n=300, seed=9)
    s = coreselect.select("coreset", features=x, labels=y, size=size, deterministic=d, allocation=allocation,
                          seed=seed)
    assert np.unique(s.indices).size == len(s) <= size
    assert np.all(s.weights > 0) and s.weights.sum() == pytest.approx(300)
    if d == 1.0:
        assert len(s) == size


def test_defaults_are_the_swept_ones_and_vanilla_is_the_papers():
    """The defaults chosen by benchmarks/coreset_defaults.py, and the paper's baseline by name."""
    x, y = _data(seed=9)
    s = coreselect.select("coreset", features=x, labels=y, size=60, seed=0)
    assert (s.params["uniform_share"], s.params["deterministic"], s.params["weighting"]) == (0.75, 0.0, "prop")
    assert s.params["allocation"] == "balanced" and np.bincount(y[s.indices]).min() > 0
    for c in (0, 1):  # prop keeps every class's mass
        assert s.weights[y[s.indices] == c].sum() == pytest.approx((y == c).sum())
    v = coreselect.select("coreset-vanilla", features=x, labels=y, size=60, seed=0)
    assert (v.params["uniform_share"], v.params["deterministic"], v.params["weighting"]) == (0.0, 0.0, "inv")
    assert "allocation" not in v.params  # proportional
    same = coreselect.select("coreset", features=x, labels=y, size=60, seed=0, uniform_share=0.0,
                             weighting="inv", allocation="proportional")
    np.testing.assert_array_equal(v.indices, same.indices)
    np.testing.assert_allclose(v.weights, same.weights)
