"""Baseline methods: invariants (hypothesis), exactness against naive references, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coreselect
from coreselect.methods.herding import herd
from coreselect.methods.kcenter import kcenter_greedy
from coreselect.methods.moderate import middle_band

BASELINES = {
    "uniform": {},
    "uniform-stratified": {"stratified": True},
    "kcenter": {},
    "kcenter-per-class": {"per_class": True},
    "herding": {},
    "moderate": {},
    "moderate-per-class": {"per_class": True},
    "prune": {"signal": "el2n"},
    "prune-easy-per-class": {"signal": "aum", "keep": "easy", "per_class": True},
}
PER_CLASS = {"uniform-stratified", "kcenter-per-class", "herding", "moderate-per-class", "prune-easy-per-class"}


def _run(variant, x, y, signals, **budget):
    return coreselect.select(variant.split("-")[0], features=x, labels=y, signals=signals, **budget,
                             **BASELINES[variant])


@st.composite
def problems(draw):
    n = draw(st.integers(20, 120))
    d = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, draw(st.integers(1, 4)), size=n)
    signals = {"el2n": rng.random(n), "aum": rng.normal(size=n)}
    return x, y, signals, draw(st.integers(1, n)), seed


@pytest.mark.parametrize("variant", sorted(BASELINES))
@settings(max_examples=25, deadline=None)
@given(problem=problems())
def test_invariants(variant, problem):
    x, y, signals, m, seed = problem
    s = _run(variant, x, y, signals, size=m, seed=seed)
    assert len(s) == m  # exact size
    assert np.unique(s.indices).size == m and s.indices.min() >= 0 and s.indices.max() < len(x)
    assert np.all(s.weights > 0) and np.isclose(s.weights.sum(), len(x))
    if variant in PER_CLASS:  # per-class budgets are the proportional split
        expected = coreselect.Budget(m, len(x)).split({c: int((y == c).sum()) for c in np.unique(y)})
        got = {c: int((y[s.indices] == c).sum()) for c in expected}
        assert got == expected
    again = _run(variant, x, y, signals, size=m, seed=seed)
    assert again == s  # same seed, same inputs ⇒ same subset


def _naive_kcenter(x, first, m):
    d = np.linalg.norm(x[:, None, :].astype(np.float64) - x[None, :, :], axis=2)
    chosen = [first]
    while len(chosen) < m:
        chosen.append(int(np.argmax(d[:, chosen].min(axis=1))))
    return chosen


def _naive_herding(x, m):
    x = x.astype(np.float64)
    mu, total, chosen = x.mean(axis=0), np.zeros(x.shape[1]), []
    for k in range(1, m + 1):
        cost = np.linalg.norm(k * mu - total - x, axis=1)
        cost[chosen] = np.inf
        chosen.append(int(np.argmin(cost)))
        total += x[chosen[-1]]
    return chosen


@pytest.mark.parametrize("seed", range(5))
def test_kcenter_matches_naive(seed):
    x = np.random.default_rng(seed).normal(size=(150, 5)).astype(np.float32)
    got = kcenter_greedy(x, 25, np.random.default_rng(seed))
    assert got.tolist() == _naive_kcenter(x, int(got[0]), 25)


def test_kcenter_initial_set_is_respected():
    x = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    got = kcenter_greedy(x, 5, np.random.default_rng(0), initial=np.array([7, 9]))
    full = _naive_kcenter(x, 7, 8)
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    chosen = [7, 9]
    for _ in range(5):
        chosen.append(int(np.argmax(d[:, chosen].min(axis=1))))
    assert got.tolist() == chosen[2:] and 7 not in got and len(full) == 8


@pytest.mark.parametrize("seed", range(5))
def test_herding_matches_naive(seed):
    x = np.random.default_rng(seed).normal(size=(120, 6)).astype(np.float32)
    assert herd(x, 30).tolist() == _naive_herding(x, 30)


def test_herding_mean_converges_faster_than_random(blobs):
    x, _ = blobs
    chosen = herd(x, 30)
    herd_err = np.linalg.norm(x[chosen].mean(0) - x.mean(0))
    rng = np.random.default_rng(0)
    rand_err = np.median([np.linalg.norm(x[rng.choice(len(x), 30, replace=False)].mean(0) - x.mean(0))
                          for _ in range(50)])
    assert herd_err < rand_err / 3


def test_moderate_takes_middle_band():
    values = np.array([9.0, 1.0, 5.0, 3.0, 7.0, 2.0, 8.0])
    assert sorted(values[middle_band(values, 3)].tolist()) == [3.0, 5.0, 7.0]


def test_prune_keeps_hardest_and_easiest(blobs):
    x, y = blobs
    el2n = np.random.default_rng(1).random(len(x))
    hard = coreselect.select("prune", features=x, signals={"el2n": el2n}, size=10)
    assert set(hard.indices) == set(np.argsort(-el2n)[:10])
    aum = el2n - 0.5
    hard_aum = coreselect.select("prune", features=x, signals={"aum": aum}, size=10, signal="aum")
    assert set(hard_aum.indices) == set(np.argsort(aum)[:10])  # low margin = hard
    easy = coreselect.select("prune", features=x, signals={"el2n": el2n}, size=10, keep="easy")
    assert set(easy.indices) == set(np.argsort(el2n)[:10])


def test_prune_unknown_signal_needs_direction(blobs):
    with pytest.raises(coreselect.InputError, match="higher_is_harder"):
        coreselect.select("prune", features=blobs[0], signals={"mine": np.ones(600)}, size=5, signal="mine")
    s = coreselect.select("prune", features=blobs[0], signals={"mine": np.arange(600.0)}, size=5, signal="mine",
                          higher_is_harder=True)
    assert sorted(s.indices) == [595, 596, 597, 598, 599]


def test_class_smaller_than_its_share(blobs):
    x, y = blobs
    y = y.copy()
    y[:3] = 5  # class 5 has 3 members
    with pytest.raises(coreselect.InputError, match="class 5 has 3 members"):  # a mapping asks for more
        coreselect.select("uniform", features=x, labels=y, size=60, stratified=True, allocation={5: 10})
    s = coreselect.select("uniform", features=x, labels=y, size=60, stratified=True, allocation="balanced")
    assert len(s) == 60 and np.sum(y[s.indices] == 5) == 3  # balanced: all three, the rest to the others


@pytest.mark.parametrize("seed", range(20))
def test_kcenter_selecting_every_row_never_repeats(seed):
    # float32 rounding can leave a chosen row's distance to itself above 0; it must still not be re-picked
    x = np.random.default_rng(seed).normal(size=(40, 1)).astype(np.float32)
    x[5] = x[6]  # a duplicate point too
    got = kcenter_greedy(x, 40, np.random.default_rng(seed))
    assert sorted(got.tolist()) == list(range(40))
