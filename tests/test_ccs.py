"""CCS: strata and budgets against the official procedure, the AUM variants, the cutoff, bad options."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coreselect
from coreselect.errors import InputError
from coreselect.methods.ccs import CCS, coverage_sample, default_cutoff, strata_budgets, strata_of
from coreselect.registry import make


def data(n: int = 600, classes: int = 3, d: int = 6, seed: int = 0):
    r = np.random.default_rng(seed)
    y = r.integers(classes, size=n)
    x = (r.normal(size=(classes, d))[y] * 2 + r.normal(size=(n, d))).astype(np.float32)
    return x, y, {"el2n": r.random(n), "aum": r.normal(size=n)}


# ---- the official procedure, re-derived in plain Python from its description ---------------------------


def official_strata(score, strata: int = 50, hi: float | None = None) -> list[list[int]]:
    """Members of stratum k: ``lo + k·step ≤ s < lo + (k+1)·step``, lo = min, hi = max·1.0001 by default."""
    values = [float(v) for v in score]
    lo = min(values)
    if hi is None:
        hi = max(values) * 1.0001
    step = (hi - lo) / strata
    return [[i for i, v in enumerate(values) if lo + k * step <= v < lo + (k + 1) * step] for k in range(strata)]


def official_budgets(counts: list[int], m: int) -> list[int]:
    """Strata by count ascending (ties: lower stratum first), each ``min(count, remaining // strata left)``."""
    order = sorted(range(len(counts)), key=lambda k: (counts[k], k))
    budgets = [0] * len(counts)
    remaining = m
    for visited, k in enumerate(order):
        budgets[k] = min(counts[k], remaining // (len(counts) - visited))
        remaining -= budgets[k]
    return budgets


def scores_with_edge_cases(seed: int, n: int = 400) -> np.ndarray:
    """Random scores (a different shape per seed, maximum > 0), plus ties at the maximum and at the
    minimum and values lying exactly on the official strata edges."""
    r = np.random.default_rng(seed)
    base = [
        lambda: r.normal(1.0, 2.0, n),  # AUM-like, both signs
        lambda: r.integers(0, 10, n).astype(float),  # forgetting-like: many ties
        lambda: r.exponential(0.3, n),  # skewed: dense low strata, sparse top
        lambda: r.normal(size=n).astype(np.float32).astype(float) + 0.5,  # float32-rounded values
    ][seed % 4]()
    lo, top = base.min(), base.max()
    step = (top * 1.0001 - lo) / 50
    on_edges = [lo + k * step for k in r.integers(0, 50, 60)]
    score = np.concatenate([base, [top] * 7, [lo] * 3, [e for e in on_edges if e <= top]])
    return r.permutation(score)


@pytest.mark.parametrize("seed", range(8))
def test_strata_and_budgets_equal_the_official_procedure(seed):
    score = scores_with_edge_cases(seed)
    ref = official_strata(score)
    assert sum(map(len, ref)) == score.size  # the official edges cover everything here
    bins = strata_of(score, 50)
    for k, members in enumerate(ref):
        np.testing.assert_array_equal(np.flatnonzero(bins == k), members)
    counts = [len(members) for members in ref]
    for m in (0, 1, 7, score.size // 10, score.size // 3, score.size - 1, score.size):
        budgets = official_budgets(counts, m)
        np.testing.assert_array_equal(strata_budgets(np.array(counts), m), budgets)
        picked = coverage_sample(score, m, 50, np.random.default_rng(seed))
        assert np.unique(picked).size == m
        assert [np.isin(members, picked).sum() for members in ref] == budgets


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=60), st.data())
def test_strata_budgets_equal_the_official_allocation(sizes, data_):
    m = data_.draw(st.integers(0, sum(sizes) + 5))
    np.testing.assert_array_equal(strata_budgets(np.array(sizes), m), official_budgets(sizes, m))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=60), st.data())
def test_strata_budgets_sum_and_respect_sizes(sizes, data_):
    sizes = np.array(sizes)
    m = data_.draw(st.integers(0, int(sizes.sum())))
    take = strata_budgets(sizes, m)
    assert take.sum() == m
    assert np.all(take <= sizes) and np.all(take >= 0)


def test_strata_budgets_smallest_first_and_ties_lower_stratum_first():
    # strata of 2, 10, 30 with m = 21: 2 (all of the smallest), then ⌊19/2⌋ = 9, then the remaining 10
    np.testing.assert_array_equal(strata_budgets(np.array([30, 2, 10]), 21), [10, 2, 9])
    np.testing.assert_array_equal(strata_budgets(np.array([5, 5]), 5), [2, 3])
    np.testing.assert_array_equal(strata_budgets(np.array([0, 5, 0, 5, 0]), 5), [0, 2, 0, 3, 0])


@pytest.mark.parametrize("shift", [-3.0, -1.0])
def test_a_maximum_at_or_below_zero_widens_the_top_edge_by_a_ten_thousandth_of_the_range(shift):
    r = np.random.default_rng(1)
    score = np.concatenate([r.uniform(-5, 0, 300), [0.0, 0.0]]) + shift + 1  # max = shift + 1 ≤ 0
    lo, top = score.min(), score.max()
    assert sum(map(len, official_strata(score))) < score.size  # the official edges leave the maximum out
    ref = official_strata(score, hi=top + 1e-4 * (top - lo))
    assert sum(map(len, ref)) == score.size
    bins = strata_of(score, 50)
    for k, members in enumerate(ref):
        np.testing.assert_array_equal(np.flatnonzero(bins == k), members)


def test_a_constant_score_is_one_stratum_and_a_huge_range_is_scaled():
    assert strata_of(np.full(30, -2.0), 50).tolist() == [49] * 30  # the top stratum
    const = coverage_sample(np.ones(30), 10, 50, np.random.default_rng(0))
    assert np.unique(const).size == 10
    huge = np.concatenate([[-1.7e308, 1.7e308], np.random.default_rng(2).uniform(-1, 1, 100) * 1e308])
    np.testing.assert_array_equal(strata_of(huge, 50), strata_of(huge / 4, 50))
    assert set(strata_of(huge, 50)[:2]) == {0, 49}


def test_coverage_sample_spreads_over_strata():
    score = np.concatenate([np.zeros(900), np.linspace(0.5, 1, 100)])  # one dense stratum, many sparse ones
    picked = coverage_sample(score, 100, 50, np.random.default_rng(0))
    assert np.unique(picked).size == 100
    assert (score[picked] > 0).sum() > 50  # sparse strata are not starved by the dense one


# ---- the method ---------------------------------------------------------------------------------------


def test_ccs_cutoff_and_defaults():
    x, _, sig = data()
    s = coreselect.select("ccs", features=x, signals=sig, fraction=0.1, seed=0)
    assert len(s) == 60 and s.weights.sum() == pytest.approx(600)
    dropped = np.argsort(sig["aum"], kind="stable")[: int(default_cutoff(0.1) * 600)]
    assert not np.intersect1d(dropped, s.indices).size
    assert default_cutoff(0.1) == 0.3 and default_cutoff(0.2) == 0.1 and default_cutoff(0.3) == 0.1
    assert default_cutoff(0.5) == 0.0 and default_cutoff(0.9) == 0.0 and default_cutoff(0.01) == 0.3
    t = coreselect.select("ccs", features=x, signals=sig, fraction=0.1, score="el2n", cutoff=0.0, seed=0)
    assert len(t) == 60


def test_aum_prob_drives_the_cutoff():
    x, _, sig = data(n=200)
    r = np.random.default_rng(5)
    sig["aum_prob"] = r.permutation(200) * 0.01  # ranks unrelated to the logit AUM's
    low_logit = set(np.argsort(sig["aum"])[:50])
    low_prob = set(np.argsort(sig["aum_prob"])[:50])
    assert len(low_logit & low_prob) < 25
    for aum, low in (("logit", low_logit), ("prob", low_prob)):
        # β = 0.25 keeps 150 = the budget: the subset is exactly what the cutoff kept
        s = coreselect.select("ccs", features=x, signals=sig, fraction=0.75, cutoff=0.25, aum=aum, seed=0)
        assert set(s.indices) == set(range(200)) - low
    prob_only = {"aum_prob": sig["aum_prob"]}
    s = coreselect.select("ccs", features=x, signals=prob_only, fraction=0.75, cutoff=0.25, aum="prob")
    assert set(s.indices) == set(range(200)) - low_prob
    with pytest.raises(InputError, match="signal 'aum'"):
        coreselect.select("ccs", features=x, signals=prob_only, fraction=0.1)


def test_score_aum_means_the_chosen_aum_variant():
    assert make("ccs", {}).requires() == {"aum"}
    assert make("ccs", {"aum": "prob"}).requires() == {"aum_prob"}
    assert make("ccs", {"aum": "prob", "score": "el2n"}).requires() == {"aum_prob", "el2n"}
    assert make("ccs", {"score": "aum_prob"}).requires() == {"aum", "aum_prob"}
    # aum_prob: 190 examples at 0, 10 at 1 — two strata, the small one taken whole (min(10, ⌊20/2⌋));
    # the logit AUM is uniform, and would give those ten about one place in twenty
    x, _, sig = data(n=200)
    sig["aum"] = np.random.default_rng(3).random(200)
    sig["aum_prob"] = np.zeros(200)
    ten = np.random.default_rng(4).choice(200, 10, replace=False)
    sig["aum_prob"][ten] = 1.0
    kw = {"features": x, "signals": sig, "size": 20, "cutoff": 0.0, "seed": 0}
    prob = coreselect.select("ccs", aum="prob", **kw)
    assert set(ten) <= set(prob.indices)
    np.testing.assert_array_equal(prob.indices, coreselect.select("ccs", aum="prob", score="aum_prob", **kw).indices)
    np.testing.assert_array_equal(prob.indices, coreselect.select("ccs", score="aum_prob", **kw).indices)
    assert np.isin(ten, coreselect.select("ccs", **kw).indices).sum() < 5


@pytest.mark.parametrize("value", ["Prob", "", "aum_prob", None, 1, True])
def test_bad_aum_values_are_input_errors_naming_the_parameter(value):
    x, _, sig = data()
    with pytest.raises(InputError, match="aum"):
        coreselect.select("ccs", features=x, signals=sig, fraction=0.1, aum=value)
    with pytest.raises(InputError, match="aum must be"):
        CCS(aum=value)


def test_ccs_deterministic_and_bad_input():
    x, _, sig = data()
    a = coreselect.select("ccs", features=x, signals=sig, fraction=0.2, seed=3)
    b = coreselect.select("ccs", features=x, signals=sig, fraction=0.2, seed=3)
    np.testing.assert_array_equal(a.indices, b.indices)
    with pytest.raises(InputError, match="cutoff"):
        coreselect.select("ccs", features=x, signals=sig, fraction=0.8, cutoff=0.5)
    with pytest.raises(InputError, match="cutoff"):
        coreselect.select("ccs", features=x, signals=sig, fraction=0.1, cutoff=1.0)
    with pytest.raises(InputError, match="strata"):
        coreselect.select("ccs", features=x, signals=sig, fraction=0.1, strata=0)
    with pytest.raises(InputError, match="strata"):
        coreselect.select("ccs", features=x, signals=sig, fraction=0.1, strata=601)
    with pytest.raises(InputError, match="score"):
        coreselect.select("ccs", features=x, signals=sig, fraction=0.1, score="margin")
    with pytest.raises(InputError, match="aum"):
        coreselect.select("ccs", features=x, signals={"el2n": sig["el2n"]}, fraction=0.1, score="el2n")
    const = coreselect.select("ccs", features=x, signals={"aum": np.zeros(600)}, fraction=0.1, seed=0)
    assert len(const) == 60
