"""Sensitivity sampling (Algorithms 1 and 3): unbiasedness, query counting, accuracy, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coreselect
from coreselect.errors import InputError
from coreselect.geometry.clustering import dz_seeding_order, kmedian, representatives
from coreselect.methods.sensitivity import (
    balanced_lambda,
    build_proxy,
    draw,
    probabilities,
    sample_size,
    sensitivity_rounds,
)
from coreselect.oracle import Oracle


def clustered(n_per: int = 100, centers: int = 6, d: int = 4, seed: int = 0):
    """Well-separated Gaussian blobs and a Lipschitz loss ``ℓ(e) = a_c + ‖e − μ_c‖`` (a_c per blob)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(scale=20, size=(centers, d))
    lab = np.repeat(np.arange(centers), n_per)
    x = (mu[lab] + rng.normal(size=(lab.size, d))).astype(np.float32)
    level = rng.uniform(0.5, 20, size=centers)
    loss = level[lab] + np.linalg.norm(x - mu[lab], axis=1)
    return x, loss


class Recorder:
    """A callable oracle that remembers every call."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.calls: list[np.ndarray] = []

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        self.calls.append(np.asarray(idx).copy())
        return self.values[idx]

    @property
    def asked(self) -> np.ndarray:
        return np.concatenate(self.calls) if self.calls else np.empty(0, np.int64)


def estimate(subset, loss):
    return float(np.dot(subset.weights, loss[subset.indices]))


def test_unbiased_over_2000_draws():
    x, loss = clustered(n_per=40)
    proxy = build_proxy(x, Oracle(loss, x.shape[0]), 6, 2, np.random.default_rng(0))
    p = probabilities(proxy, balanced_lambda(proxy))
    ests = [estimate(draw(p, 30, np.random.default_rng(seed)), loss) for seed in range(2000)]
    assert abs(np.mean(ests) - loss.sum()) / loss.sum() < 0.01
    # and exactly: E[Σ_S wℓ] = Σ_e s·p_e · ℓ_e / (s·p_e) = Σ ℓ whenever p > 0 where ℓ > 0
    assert np.all(p[loss > 0] > 0)


def test_front_door_is_unbiased_too():
    x, loss = clustered(n_per=30, centers=4)
    ests = [estimate(coreselect.select("sensitivity", features=x, oracle=loss, size=40, k=4, z=1, seed=s), loss)
            for s in range(60)]
    assert abs(np.mean(ests) - loss.sum()) / loss.sum() < 0.03


@pytest.mark.parametrize("z", [1, 2])
def test_oracle_called_with_exactly_k_distinct_indices(z):
    x, loss = clustered()
    rec = Recorder(loss)
    sub = coreselect.select("sensitivity", features=x, oracle=rec, size=50, k=12, z=z, seed=0)
    assert len(rec.calls) == 1
    assert rec.asked.size == 12 and np.unique(rec.asked).size == 12
    assert sub.n_queries == 12


def test_exactly_k_queries_with_fewer_distinct_points_than_k():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(5, 3)).astype(np.float32)
    x = np.repeat(base, 40, axis=0)  # only 5 distinct points, k = 8
    rec = Recorder(np.abs(x[:, 0]) + 1)
    sub = coreselect.select("sensitivity", features=x, oracle=rec, size=20, k=8, seed=0)
    assert np.unique(rec.asked).size == 8 == rec.asked.size
    assert sub.n_queries == 8


def test_rounds_query_r_times_k_never_more():
    x, loss = clustered()
    rec = Recorder(loss)
    sub = coreselect.select("sensitivity", features=x, oracle=rec, size=40, k=7, rounds=3, seed=0)
    assert [c.size for c in rec.calls] == [7, 7, 7]
    assert np.unique(rec.asked).size == 21
    assert sub.n_queries == 21


def test_sensitivity_rounds_returns_one_subset_per_round():
    x, loss = clustered()
    rec = Recorder(loss)
    subs = sensitivity_rounds(x, rec, size=40, k=5, rounds=4, seed=3)
    assert [s.n_queries for s in subs] == [5, 10, 15, 20]
    assert np.unique(rec.asked).size == 20
    # each round's clustering cost shrinks (A grows along the prefix order)
    costs = [s.params["clustering_cost"] for s in subs]
    assert all(a >= b for a, b in zip(costs, costs[1:]))
    last = coreselect.select("sensitivity", features=x, oracle=loss, size=40, k=5, rounds=4, seed=3)
    assert np.array_equal(last.indices, subs[-1].indices) and np.allclose(last.weights, subs[-1].weights)


def test_error_below_uniform_at_every_s_on_clusterable_lipschitz_loss():
    x, loss = clustered(n_per=150)
    n, total = x.shape[0], loss.sum()
    sizes = (10, 30, 100, 300)
    sens = {s: [] for s in sizes}
    unif = {s: [] for s in sizes}
    for seed in range(40):
        rng = np.random.default_rng(seed)
        proxy = build_proxy(x, Oracle(loss, n), 6, 1, rng)
        p = probabilities(proxy, balanced_lambda(proxy))
        for s in sizes:
            sens[s].append(abs(estimate(draw(p, s, rng), loss) - total) / total)
            u = rng.choice(n, s, replace=False)
            unif[s].append(abs(loss[u].sum() * n / s - total) / total)
    for s in sizes:
        assert np.median(sens[s]) < np.median(unif[s]), s


def test_one_spike_loss_does_not_crash_and_reports_a_large_error():
    x, _ = clustered()
    loss = np.zeros(x.shape[0])
    loss[123] = 1000.0  # not Hölder: zero everywhere but one point
    errs = []
    for seed in range(5):
        sub = coreselect.select("sensitivity", features=x, oracle=loss, size=20, k=5, seed=seed)
        assert np.all(np.isfinite(sub.weights)) and np.all(sub.weights > 0)
        errs.append(abs(estimate(sub, loss) - loss.sum()) / loss.sum())
    assert np.median(errs) > 0.5  # honestly bad: the spike is almost never sampled


def test_constant_zero_loss_gives_uniform_like_distance_sampling():
    x, _ = clustered()
    sub = coreselect.select("sensitivity", features=x, oracle=np.zeros(x.shape[0]), size=30, k=5, seed=0)
    assert len(sub) > 0 and np.all(sub.weights > 0)


def test_deterministic_for_a_seed():
    x, loss = clustered()
    for kw in ({}, {"z": 1}, {"rounds": 2}):
        a = coreselect.select("sensitivity", features=x, oracle=loss, size=50, k=6, seed=7, **kw)
        b = coreselect.select("sensitivity", features=x, oracle=loss, size=50, k=6, seed=7, **kw)
        assert a == b
    c = coreselect.select("sensitivity", features=x, oracle=loss, size=50, k=6, seed=8)
    assert not np.array_equal(a.indices, c.indices)


def test_explicit_lambda_and_default_k():
    x, loss = clustered()
    rec = Recorder(loss)
    sub = coreselect.select("sensitivity", features=x, oracle=rec, size=50, lam=0.0, seed=0)
    assert sub.n_queries == 10  # ⌈50 / 5⌉
    assert sub.params["lam"] == 0.0 and sub.params["lam_used"] == 0.0
    auto = coreselect.select("sensitivity", features=x, oracle=loss, size=50, seed=0)
    assert auto.params["lam"] is None and auto.params["lam_used"] > 0  # the λ derived is kept
    assert auto.params["clustering_cost"] > 0


@pytest.mark.parametrize(
    "kwargs, oracle, match",
    [
        ({"k": 1000}, None, "exceeds"),
        ({"k": 100, "rounds": 7}, None, "exceeds"),
        ({"k": 0}, None, "k and rounds"),
        ({"z": 3}, None, "z must be"),
        ({"lam": -1.0}, None, "lam"),
        ({"lam": float("nan")}, None, "lam"),
        ({"k": 5}, lambda idx: -np.ones(len(idx)), "negative"),
        ({"k": 5}, lambda idx: np.full(len(idx), np.nan), "NaN"),
        ({"k": 5}, lambda idx: np.ones(len(idx) + 1), "values for"),
    ],
)
def test_bad_input(kwargs, oracle, match):
    x, loss = clustered()
    with pytest.raises(InputError, match=match):
        coreselect.select("sensitivity", features=x, oracle=loss if oracle is None else oracle, size=20,
                          seed=0, **kwargs)


def test_bad_sample_size_and_missing_oracle():
    x, loss = clustered()
    for size in (0, -3):
        with pytest.raises(InputError):
            coreselect.select("sensitivity", features=x, oracle=loss, size=size, k=5)
    with pytest.raises(InputError, match="oracle"):
        coreselect.select("sensitivity", features=x, size=20, k=5)
    with pytest.raises(InputError, match="oracle"):
        coreselect.select("sensitivity", features=x, oracle=loss[:-1], size=20, k=5)
    with pytest.raises(InputError, match="size"):
        sensitivity_rounds(x, loss, size=0, k=3, rounds=2)


def test_sample_size_from_eps():
    assert sample_size(0.1) == int(np.ceil((2 + 2 * 0.1 / 3) / 0.01))
    with pytest.raises(InputError):
        sample_size(0)


def test_dz_seeding_order_is_distinct_prefix_and_deterministic():
    x, _ = clustered()
    a = dz_seeding_order(x, 30, 2, np.random.default_rng(0))
    b = dz_seeding_order(x, 30, 2, np.random.default_rng(0))
    assert np.array_equal(a, b) and np.unique(a).size == 30
    # D^2 seeding hits every well-separated blob within the first few picks
    blobs = a[:10] // 100
    assert np.unique(blobs).size == 6
    # sampled variant returns indices of the full data
    c = dz_seeding_order(x, 5, 1, np.random.default_rng(0), max_rows=50)
    assert c.max() < x.shape[0] and np.unique(c).size == 5


def test_kmedian_finds_the_blobs_and_beats_random_centers():
    x, _ = clustered()
    centers = kmedian(x, 6, np.random.default_rng(0))
    cost = np.sqrt(((x[:, None, :] - centers[None]) ** 2).sum(-1)).min(1).sum()
    rand = x[np.random.default_rng(1).choice(x.shape[0], 6, replace=False)]
    cost_rand = np.sqrt(((x[:, None, :] - rand[None]) ** 2).sum(-1)).min(1).sum()
    assert cost < cost_rand
    assert cost / x.shape[0] < 2.5  # ≈ E‖N(0, I_4)‖ ≈ 1.9 when every blob has its own center


def test_representatives_are_k_distinct_rows():
    x, _ = clustered()
    for z in (1, 2):
        rows = representatives(x, 9, z, np.random.default_rng(0))
        assert rows.size == 9 and np.unique(rows).size == 9


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(20, 80), k=st.integers(1, 8), s=st.integers(1, 60), z=st.sampled_from([1, 2]),
       seed=st.integers(0, 2**16))
def test_properties(n, k, s, z, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    loss = rng.exponential(size=n)
    rec = Recorder(loss)
    sub = coreselect.select("sensitivity", features=x, oracle=rec, size=min(s, n), k=k, z=z, seed=seed)
    assert 1 <= len(sub) <= min(s, n)
    assert np.unique(sub.indices).size == len(sub)
    assert sub.indices.min() >= 0 and sub.indices.max() < n
    assert np.all(sub.weights > 0) and np.all(np.isfinite(sub.weights))
    assert sub.n_queries == k == np.unique(rec.asked).size == rec.asked.size
