"""BOSS: importance function, cutoff, schedule, equivalence with facility location, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import coreselect
from coreselect.errors import InputError
from coreselect.methods.boss import SCHEDULE, importance, normalized_difficulty, schedule


def data(n: int = 600, classes: int = 3, d: int = 8, seed: int = 0):
    r = np.random.default_rng(seed)
    y = r.integers(classes, size=n)
    x = (r.normal(size=(classes, d))[y] * 2 + r.normal(size=(n, d))).astype(np.float32)
    signals = {"el2n": r.random(n), "aum": r.normal(size=n)}
    return x, y, signals


def test_importance_peaks_at_peak_and_is_flat_for_alpha_zero():
    d = np.linspace(0, 1, 101)
    for peak in (0.0, 0.3, 0.5, 0.8, 1.0):
        imp = importance(d, peak, 2.0)
        assert d[np.argmax(imp)] == pytest.approx(peak)
        assert imp.max() == pytest.approx(1.0)
        assert np.all((imp >= 0) & (imp <= 1))
    np.testing.assert_array_equal(importance(d, 0.7, 0.0), np.ones_like(d))


def test_normalized_difficulty():
    np.testing.assert_allclose(normalized_difficulty(np.array([2.0, 4.0, 3.0]), True), [0, 1, 0.5])
    np.testing.assert_allclose(normalized_difficulty(np.array([2.0, 4.0, 3.0]), False), [1, 0, 0.5])
    np.testing.assert_array_equal(normalized_difficulty(np.full(4, 7.0), True), np.full(4, 0.5))


@pytest.mark.parametrize("dense_mb", [16.0, 0.0])
def test_alpha_zero_without_cutoff_equals_facility_location(dense_mb):
    x, y, sig = data()
    for f in (0.05, 0.2):
        a = coreselect.select("boss", features=x, labels=y, signals=sig, fraction=f, alpha=0.0, cutoff=0.0,
                              dense_mb=dense_mb, seed=4)
        b = coreselect.select("facility-location", features=x, labels=y, fraction=f, dense_mb=dense_mb, seed=4)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.weights, b.weights)


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
    for bad in ({"peak": 1.5}, {"alpha": -1.0}, {"cutoff": 1.0}, {"score": "nonsense"}):
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
