"""Facility-location engine: the set function, its dense and sparse forms, and the greedy optimisers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coreselect.errors import InputError
from coreselect.geometry import facility
from coreselect.geometry.cellknn import cell_knn
from coreselect.geometry.greedy import lazy_greedy, maximize, naive_greedy, stochastic_greedy
from coreselect.geometry.neighbors import knn, recall


def blobs(n: int, d: int = 8, centres: int = 6, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    c = r.normal(size=(centres, d)) * 3
    return (c[r.integers(centres, size=n)] + r.normal(size=(n, d))).astype(np.float32)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, draw(st.integers(1, 4)))).astype(np.float32)
    if draw(st.booleans()):
        x = np.round(x)  # duplicate rows and exact ties
    importance = r.random(n) if draw(st.booleans()) else None
    weights = r.random(n) if draw(st.booleans()) else None
    return {"x": x, "importance": importance, "weights": weights,
                "similarity": draw(st.sampled_from(facility.SIMILARITIES)),
                "dense": draw(st.booleans()), "k": draw(st.integers(1, 6)), "m": draw(st.integers(0, n)),
                "frontier": draw(st.integers(1, 8)), "batch": draw(st.integers(1, 5))}


def build(p: dict) -> facility.FacilityLocation:
    return facility.build(p["x"], p["importance"], p["weights"], similarity=p["similarity"], neighbors=p["k"],
                          exact=True, scope="global" if p["dense"] else "knn")


@settings(max_examples=150, deadline=None)
@given(problems())
def test_lazy_greedy_equals_naive_greedy(p):
    fn = build(p)
    a = naive_greedy(fn, p["m"])
    fn.reset()
    b = lazy_greedy(fn, p["m"], frontier=p["frontier"], batch=p["batch"])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@settings(max_examples=60, deadline=None)
@given(problems())
def test_objective_monotone_and_gains_non_increasing(p):
    fn = build(p)
    chosen, gains = lazy_greedy(fn, p["m"])
    assert np.all(gains >= 0)
    assert np.all(np.diff(gains) <= 1e-9)  # submodularity along the greedy path
    values = [fn.evaluate(chosen[:t]) for t in range(chosen.size + 1)]
    assert np.all(np.diff(values) >= -1e-9)
    np.testing.assert_allclose(np.diff(values), gains, rtol=1e-6, atol=1e-6)
    assert np.unique(chosen).size == chosen.size


def test_sparse_never_exceeds_dense_and_matches_it_with_full_neighbourhoods():
    x = blobs(300)
    rng = np.random.default_rng(1)
    s = rng.choice(300, size=30, replace=False)
    dense = facility.build(x, scope="global")
    for sim in facility.SIMILARITIES:
        dense = facility.build(x, similarity=sim, scope="global")
        full = facility.build(x, similarity=sim, neighbors=300, exact=True, scope="knn")
        small = facility.build(x, similarity=sim, neighbors=5, exact=True, scope="knn")
        assert full.sparse and small.sparse and not dense.sparse
        assert full.evaluate(s) == pytest.approx(dense.evaluate(s), rel=1e-6)
        assert small.evaluate(s) <= dense.evaluate(s) + 1e-6
        assert dense.evaluate(s) == pytest.approx(facility.dense_value(x, s, similarity=sim), rel=1e-6)


def test_sparse_greedy_is_close_to_dense_greedy_on_the_dense_objective():
    """The documented gap: on clustered data at 10%, greedy on a 16-NN graph (approximate kNN) loses
    under 1% of the dense objective that greedy on the dense function reaches."""
    x = blobs(3000, d=16, centres=20)
    m = 300
    dense, _ = lazy_greedy(facility.build(x, scope="global"), m)
    sparse, _ = lazy_greedy(facility.build(x, neighbors=16, scope="knn"), m)
    ref = facility.dense_value(x, dense)
    got = facility.dense_value(x, sparse)
    assert got >= 0.99 * ref
    # and the sparse value of a subset is a lower bound of its dense value
    fn = facility.build(x, neighbors=16, scope="knn")
    assert fn.evaluate(sparse) <= got + 1e-6


def test_importance_and_weights_enter_the_objective():
    x = blobs(50)
    imp = np.linspace(0, 1, 50)
    w = np.linspace(1, 2, 50)
    s = np.array([3, 17, 40])
    fn = facility.build(x, importance=imp, weights=w, scope="global")
    assert fn.evaluate(s) == pytest.approx(facility.dense_value(x, s, importance=imp, weights=w), rel=1e-6)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = 0.5 + 0.5 * xn @ xn[s].T
    assert fn.evaluate(s) == pytest.approx(float(w @ (sim * imp[s]).max(axis=1)), rel=1e-5)


def test_stochastic_greedy_is_deterministic_and_close_to_lazy():
    x = blobs(1000)
    fn = facility.build(x, scope="global")
    lazy, _ = lazy_greedy(fn, 50)
    fn.reset()
    a, _ = stochastic_greedy(fn, 50, np.random.default_rng(3))
    fn.reset()
    b, _ = stochastic_greedy(fn, 50, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert np.unique(a).size == 50
    assert fn.evaluate(a) >= 0.97 * fn.evaluate(lazy)


def test_cell_knn_includes_self_is_deterministic_and_finds_most_neighbours():
    x = blobs(5000, d=16, centres=30)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    v1, i1 = cell_knn(xn, 10, seed=0)
    v2, i2 = cell_knn(xn, 10, seed=0)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(v1, v2)
    _, exact = knn(xn, 10, metric="ip", exact=True)
    assert recall(i1, exact) > 0.8
    _, il2 = cell_knn(x, 10, metric="l2")
    assert (il2[:, 0] == np.arange(5000)).mean() > 0.99


def test_cell_knn_orders_equal_similarities_by_row_index():
    # exact ties (every row has four identical copies) come back in row order, whatever the cells or a
    # partial sort did, so the graph does not depend on the process's thread settings
    base = blobs(400, d=8, centres=10)
    x = np.repeat(base, 4, axis=0)[np.random.default_rng(0).permutation(1600)]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    v, i = cell_knn(x, 6, seed=0)
    tied = (v[:, 1:] == v[:, :-1]) & (i[:, 1:] >= 0)
    assert tied.sum() > 1000
    assert (i[:, 1:][tied] > i[:, :-1][tied]).all()


def test_degenerate_inputs_are_well_defined():
    same = np.ones((20, 3), dtype=np.float32)
    zeros = np.zeros((20, 3), dtype=np.float32)
    for x in (same, zeros):
        for dense in (True, False):
            fn = facility.build(x, scope="global" if dense else "knn", neighbors=4, exact=True)
            chosen, gains = lazy_greedy(fn, 5)
            np.testing.assert_array_equal(chosen, np.arange(5))  # all ties: lowest indices
            assert np.all(np.isfinite(gains)) and np.isfinite(fn.value())
    one = facility.build(np.array([[1.0, 2.0]], dtype=np.float32))
    assert lazy_greedy(one, 1)[0].tolist() == [0]


def test_bad_input():
    x = blobs(10)
    with pytest.raises(InputError):
        facility.build(np.array([[np.nan, 1.0]], dtype=np.float32))
    with pytest.raises(InputError):
        facility.build(x, importance=-np.ones(10))
    with pytest.raises(InputError):
        facility.build(x, weights=np.ones(9))
    with pytest.raises(InputError):
        facility.build(x, similarity="manhattan")
    with pytest.raises(InputError):
        facility.build(x, neighbors=0)
    fn = facility.build(x)
    with pytest.raises(InputError):
        lazy_greedy(fn, 11)
    with pytest.raises(InputError):
        maximize(fn, 3, optimizer="fastest")
    with pytest.raises(InputError):
        maximize(fn, 3, optimizer="stochastic")


def test_optimizers_through_maximize():
    x = blobs(200)
    fn = facility.build(x)
    a = maximize(fn, 10, "lazy")[0]
    fn.reset()
    b = maximize(fn, 10, "naive")[0]
    np.testing.assert_array_equal(a, b)
    fn.reset()
    c = maximize(fn, 10, "stochastic", rng=np.random.default_rng(0))[0]
    assert c.size == 10


def test_facility_location_method_through_the_front_door():
    import coreselect

    x = blobs(600)
    y = np.repeat(np.arange(3), 200)
    a = coreselect.select("facility-location", features=x, labels=y, fraction=0.05, optimizer="lazy", seed=0)
    b = coreselect.select("facility-location", features=x, labels=y, fraction=0.05, optimizer="naive", seed=0)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(a) == 30 and a.weights.sum() == pytest.approx(600)
    for c in range(3):
        assert np.isin(a.indices, np.flatnonzero(y == c)).sum() == 10
    s1 = coreselect.select("facility-location", features=x, fraction=0.05, optimizer="stochastic", seed=5)
    s2 = coreselect.select("facility-location", features=x, fraction=0.05, optimizer="stochastic", seed=5)
    np.testing.assert_array_equal(s1.indices, s2.indices)
    for bad in ({"optimizer": "fast"}, {"similarity": "l1"}, {"neighbors": 0}, {"epsilon": 1.5}):
        with pytest.raises(InputError):
            coreselect.select("facility-location", features=x, fraction=0.05, **bad)


def test_scopes_and_the_memory_check_of_the_global_one(monkeypatch):
    x = blobs(300)
    assert not facility.build(x, scope="global").sparse and facility.build(x, scope="knn").sparse
    assert not facility.build(x, scope="auto").sparse  # 300² floats fit the default 16 MB block
    assert facility.build(x, scope="auto", dense_bytes=0).sparse
    with pytest.raises(InputError, match="scope must be one of"):
        facility.build(x, scope="dense")
    monkeypatch.setattr("coreselect.npyio.available_memory", lambda: 1000)
    with pytest.raises(InputError, match=r"all-pairs similarity of 300 rows \(scope='global'\) needs"):
        facility.build(x, scope="global")


def test_importance_on_the_gain_lazy_equals_naive_and_differs_from_inside():
    from coreselect.geometry.greedy import ScaledGains

    x = blobs(400, seed=2)
    imp = np.random.default_rng(1).random(400)
    lazy = lazy_greedy(ScaledGains(facility.build(x, scope="global"), imp), 30)
    naive = naive_greedy(ScaledGains(facility.build(x, scope="global"), imp), 30)
    np.testing.assert_array_equal(lazy[0], naive[0])
    np.testing.assert_array_equal(lazy[1], naive[1])
    inside = lazy_greedy(facility.build(x, importance=imp, scope="global"), 30)[0]
    assert not np.array_equal(np.sort(inside), np.sort(lazy[0]))
    with pytest.raises(InputError, match="priority has shape"):
        ScaledGains(facility.build(x), imp[:10])
