"""BOSS: importance function, cutoff, schedule, equivalence with facility location, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import coreselect
from coreselect.errors import InputError
from coreselect.methods.boss import SCHEDULE, normalized_difficulty, schedule, sine_importance


def data(n: int = 600, classes: int = 3, d: int = 8, seed: int = 0):
    r = np.random.default_rng(seed)
    y = r.integers(classes, size=n)
    x = (r.normal(size=(classes, d))[y] * 2 + r.normal(size=(n, d))).astype(np.float32)
    signals = {"el2n": r.random(n), "aum": r.normal(size=n)}
    return x, y, signals


def test_importance_peaks_at_peak_and_is_flat_for_alpha_zero():
    d = np.linspace(0, 1, 101)
    for peak in (0.0, 0.3, 0.5, 0.8, 1.0):
        imp = sine_importance(d, peak, 2.0)
        assert d[np.argmax(imp)] == pytest.approx(peak)
        assert imp.max() == pytest.approx(1.0)
        assert np.all((imp >= 0) & (imp <= 1))
    np.testing.assert_array_equal(sine_importance(d, 0.7, 0.0), np.ones_like(d))


def test_normalized_difficulty():
    np.testing.assert_allclose(normalized_difficulty(np.array([2.0, 4.0, 3.0]), True), [0, 1, 0.5])
    np.testing.assert_allclose(normalized_difficulty(np.array([2.0, 4.0, 3.0]), False), [1, 0, 0.5])
    np.testing.assert_array_equal(normalized_difficulty(np.full(4, 7.0), True), np.full(4, 0.5))


@pytest.mark.parametrize("similarity", ["knn", "global"])
def test_alpha_zero_without_cutoff_equals_facility_location_under_the_same_similarity(similarity):
    x, y, sig = data()
    for f in (0.05, 0.2):
        a = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=f, alpha=0.0, cutoff=0.0,
                              similarity=similarity, seed=4)
        b = coreselect.select("facility-location", features=x, labels=y, fraction=f, scope=similarity, seed=4)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.weights, b.weights)
    other = "global" if similarity == "knn" else "knn"
    c = coreselect.select("facility-location", features=x, labels=y, fraction=0.2, scope=other, seed=4)
    assert not np.array_equal(a.indices, c.indices)  # the two similarities are different objectives


def _knn_masked_dense_greedy(x: np.ndarray, imp: np.ndarray, m: int, k: int) -> np.ndarray:
    """The greedy on the *dense* definition of BOSS's kNN objective: Sim(i, j) = 0.5 + 0.5·cos when j
    is among the k nearest (by cosine, self included) of i, else 0 — built by brute force."""
    from coreselect.geometry.facility import from_dense
    from coreselect.geometry.greedy import lazy_greedy

    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = u.astype(np.float64) @ u.T.astype(np.float64)
    near = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    sim = np.zeros_like(cos, dtype=np.float32)
    rows = np.repeat(np.arange(x.shape[0]), k)
    sim[rows, near.ravel()] = (0.5 + 0.5 * cos[rows, near.ravel()]).astype(np.float32)
    np.fill_diagonal(sim, 1.0)
    return lazy_greedy(from_dense(sim.T.copy(), imp), m)[0]  # candidate-major: row j = Sim(·, j)


def test_one_objective_whatever_the_class_size():
    """A 2,000-row class: the small-class path (exact kNN), the large-class path forced to exact kNN, and
    a brute-force dense matrix of the same kNN similarity all give the same greedy picks."""
    from coreselect.methods.facility_location import GraphOptions

    r = np.random.default_rng(3)
    x = np.maximum(r.normal(size=(2000, 12)) + r.normal(size=(8, 12))[r.integers(8, size=2000)] * 2, 0)
    x = x.astype(np.float32) + 0.01
    imp = r.random(2000) ** 2
    small = GraphOptions(scope="knn").select(x, 60, np.random.default_rng(0), imp)[0]
    large = GraphOptions(scope="knn", dense_mb=0.0, exact=True).select(x, 60, np.random.default_rng(0), imp)[0]
    np.testing.assert_array_equal(small, large)
    np.testing.assert_array_equal(np.sort(small), np.sort(_knn_masked_dense_greedy(x, imp, 60, 32)))


def test_knn_similarity_does_not_crowd_where_the_global_one_does():
    """Non-negative (ReLU-like) features, one class in two far-apart clusters, importance high only in
    the first: with all-pairs similarity (≥ 0.5 everywhere) the important picks "represent" the second
    cluster too; restricted to neighbourhoods, the second cluster keeps its own picks."""
    r = np.random.default_rng(0)
    a = np.abs(r.normal(size=(300, 6))) + np.array([8, 0, 0, 0, 0, 0])
    b = np.abs(r.normal(size=(300, 6))) + np.array([0, 0, 0, 0, 0, 8])
    x = np.vstack([a, b]).astype(np.float32)
    el2n = np.concatenate([np.full(300, 0.5), np.zeros(300)]) + r.random(600) * 0.01
    sig = {"el2n": el2n, "aum": np.zeros(600)}
    picked_b = {}
    for similarity in ("knn", "global"):
        s = coreselect.select("boss", features=x, labels=np.zeros(600, int), signals=sig, size=20, peak=0.8,
                              alpha=1.0, cutoff=0.0, similarity=similarity, seed=0)
        picked_b[similarity] = int((s.indices >= 300).sum())
    assert picked_b["knn"] >= 5 and picked_b["global"] <= 1, picked_b


def test_beta_importance_and_importance_on_the_gain():
    from scipy.stats import beta

    from coreselect.methods.boss import beta_importance

    d = np.linspace(0, 1, 11)
    np.testing.assert_allclose(beta_importance(d, 3.0, 2.0), beta.pdf(d, 3.0, 2.0))
    x, y, sig = data(900)
    mean_d = {}
    for a, b in ((6.0, 1.0), (1.0, 6.0)):
        s = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, importance="beta",
                              beta_a=a, beta_b=b, cutoff=0.0, seed=0)
        assert s.params["importance"] == "beta" and s.params["beta_a"] == a
        mean_d[a] = np.mean([normalized_difficulty(sig["el2n"][y == c], True)[np.isin(np.flatnonzero(y == c),
                            s.indices)].mean() for c in range(3)])
    assert mean_d[6.0] > mean_d[1.0] + 0.2, mean_d  # Beta(6, 1) favours hard examples, Beta(1, 6) easy ones
    inside = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, alpha=4.0, cutoff=0.0, seed=0)
    on_gain = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, alpha=4.0, cutoff=0.0,
                                importance_on="gain", seed=0)
    assert len(on_gain) == len(inside) and not np.array_equal(on_gain.indices, inside.indices)
    flat = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, alpha=0.0, cutoff=0.0,
                             importance_on="gain", seed=0)
    fl = coreselect.select("facility-location", features=x, labels=y, fraction=0.1, seed=0)
    np.testing.assert_array_equal(flat.indices, fl.indices)


@pytest.mark.parametrize("peak", [0.0, 1.0, 0.75])
def test_mean_difficulty_moves_toward_the_peak_as_alpha_grows(peak):
    x, y, sig = data(900)
    means = []
    for alpha in (0.0, 1.0, 4.0, 16.0):
        s = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, peak=peak, alpha=alpha,
                              cutoff=0.0, seed=0)
        d = np.concatenate([normalized_difficulty(sig["el2n"][y == c], True)[np.isin(np.flatnonzero(y == c),
                            s.indices)] for c in range(3)])
        means.append(abs(d.mean() - peak))
    assert all(b <= a + 0.01 for a, b in itertools.pairwise(means)), means  # toward the peak (up to noise)
    assert means[-1] < means[0] - 0.1, means


def test_cutoff_drops_the_lowest_aum_per_class():
    x, y, sig = data()
    s = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.2, cutoff=0.5, seed=0)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        threshold = np.sort(sig["aum"][rows])[int(0.5 * rows.size)]
        assert np.all(sig["aum"][np.intersect1d(s.indices, rows)] >= threshold)


def test_schedule_defaults_are_used_and_overridable():
    x, y, sig = data()
    s = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, seed=0)
    assert s.method == "boss" and len(s) == 60 and s.weights.sum() == pytest.approx(600)
    assert schedule(0.1) == next((p, a, c) for f, p, a, c in reversed(SCHEDULE) if f <= 0.1)
    t = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, peak=0.2, alpha=3.0,
                          cutoff=0.2, seed=0)
    assert t.params["peak"] == 0.2 and t.params["alpha"] == 3.0 and t.params["cutoff"] == 0.2
    for f in np.linspace(0.001, 1, 200):
        peak, alpha, cutoff = schedule(f)
        assert 0 <= peak <= 1 and alpha >= 0 and 0 <= cutoff < 1
        assert f + cutoff <= 1 + 1e-12  # the default never leaves a class short of its budget


def test_other_difficulty_scores():
    x, y, sig = data()
    sig = {**sig, "forgetting": np.random.default_rng(0).integers(0, 5, size=600).astype(float)}
    s = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, score="forgetting", seed=0)
    assert len(s) == 60
    with pytest.raises(InputError, match="forgetting"):
        coreselect.select("boss", features=x, labels=y, signals={"aum": sig["aum"], "el2n": sig["el2n"]},
                          fraction=0.1, score="forgetting")


def test_deterministic():
    x, y, sig = data(3000, d=16)
    kw = {"features": x, "labels": y, "signals": sig, "fraction": 0.1, "dense_mb": 0.0}
    a = coreselect.select("boss", seed=7, **kw)
    b = coreselect.select("boss", seed=7, **kw)
    np.testing.assert_array_equal(a.indices, b.indices)


def test_bad_and_degenerate_input():
    x, y, sig = data()
    # a cutoff that leaves a class fewer members than its budget
    with pytest.raises(InputError, match="cutoff"):
        coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.6, cutoff=0.5)
    for bad in ({"peak": 1.5}, {"alpha": -1.0}, {"cutoff": 1.0}, {"score": "nonsense"}, {"similarity": "cosine"},
                {"importance": "gauss"}, {"importance": "beta", "beta_a": 0.5}, {"importance_on": "loss"}):
        with pytest.raises(InputError):
            coreselect.select("boss", features=x, labels=y, signals=sig, fraction=0.1, **bad)
    with pytest.raises(InputError, match="aum"):
        coreselect.select("boss", features=x, labels=y, signals={"el2n": sig["el2n"]}, fraction=0.1)
    with pytest.raises(InputError, match="labels"):
        coreselect.select("boss", features=x, signals=sig, fraction=0.1)
    # constant difficulty, duplicate points, identical features, a class of one example
    cases = [
        (x, y, {"el2n": np.ones(600), "aum": np.zeros(600)}),
        (np.repeat(x[:300], 2, axis=0), np.repeat(y[:300], 2), {k: np.repeat(v[:300], 2) for k, v in sig.items()}),
        (np.ones_like(x), y, sig),
        (x, np.where(np.arange(600) == 5, 9, y), sig),
    ]
    for xc, yc, sc in cases:
        for alpha in (0.0, 2.0):
            s = coreselect.select("boss", features=xc, labels=yc, signals=sc, fraction=0.1, alpha=alpha,
                                  allocation="proportional", seed=0)
            assert len(s) == 60 and np.all(np.isfinite(s.weights)) and np.unique(s.indices).size == 60
    one = coreselect.select("boss", features=x[:1], labels=y[:1], signals={k: v[:1] for k, v in sig.items()},
                            size=1, cutoff=0.0)
    assert one.indices.tolist() == [0]
