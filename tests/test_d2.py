"""D2 Pruning: message passing checked against a hand computation, its limits, spread, budgets, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coreselect
from coreselect.methods.d2 import distance_graph, forward_scores, reverse_greedy

#: Seven points on a line-ish path: two tight groups and a loose tail, kNN with k = 2 is asymmetric
#: (point 2 is a neighbour of 3, not the reverse), so the symmetrised graph differs from the directed one.
POINTS = [(0.0, 0.0), (0.4, 0.1), (0.9, -0.2), (2.5, 0.3), (3.1, 0.0), (5.2, 0.6), (6.0, -0.4)]
X = np.array(POINTS, dtype=np.float32)
EL2N = [0.9, 0.7, 0.8, 0.4, 0.5, 0.3, 0.6]


def _hand_d2(points, s, k, gamma_forward, gamma_reverse, m):
    """D2 by plain loops: symmetrised kNN (ties by index), forward sum of exp(−γ_f·d)·s_j, then m greedy
    picks of the highest current score (ties: lowest index) each lowering its neighbours by exp(−γ_r·d)·s_p."""
    n = len(points)
    d = [[math.dist(points[i], points[j]) for j in range(n)] for i in range(n)]
    nbrs = [set() for _ in range(n)]
    for i in range(n):
        for j in sorted((j for j in range(n) if j != i), key=lambda j: (d[i][j], j))[:k]:
            nbrs[i].add(j)
            nbrs[j].add(i)
    forward = [s[i] + sum(math.exp(-gamma_forward * d[i][j]) * s[j] for j in nbrs[i]) for i in range(n)]
    current, order = list(forward), []
    for _ in range(m):
        p = max((i for i in range(n) if i not in order), key=lambda i: (current[i], -i))
        order.append(p)
        for j in nbrs[p]:
            current[j] -= math.exp(-gamma_reverse * d[p][j]) * current[p]
    return nbrs, forward, order


@pytest.mark.parametrize(("gamma_forward", "gamma_reverse"), [(1.0, 0.1), (0.5, 0.3), (0.0, 0.0)])
def test_scores_and_pick_order_equal_the_hand_computation(gamma_forward, gamma_reverse):
    s = np.array(EL2N)
    nbrs, forward, order = _hand_d2(X.astype(float).tolist(), EL2N, 2, gamma_forward, gamma_reverse, 7)
    graph = distance_graph(X, 2, exact=True)
    assert [set(graph.indices[graph.indptr[i]:graph.indptr[i + 1]].tolist()) for i in range(7)] == nbrs
    got = forward_scores(graph, s, gamma_forward)
    assert got == pytest.approx(forward, rel=1e-12)
    assert reverse_greedy(graph, got, 7, gamma_reverse).tolist() == order
    for m in (1, 3, 5):
        sub = coreselect.select("d2", features=X, signals={"el2n": s}, size=m, per_class=False, neighbors=2,
                                gamma_forward=gamma_forward, gamma_reverse=gamma_reverse)
        assert sub.indices.tolist() == sorted(order[:m])


def test_the_hand_example_exercises_both_passes():
    """The example is not degenerate: forward changes the ranking of the raw scores, reverse that of the
    forward scores — so the test above fails if either pass is skipped or wrong."""
    _, forward, order = _hand_d2(POINTS, EL2N, 2, 1.0, 0.1, 7)
    by_raw = sorted(range(7), key=lambda i: -EL2N[i])
    by_forward = sorted(range(7), key=lambda i: -forward[i])
    assert by_forward != by_raw and order != by_forward


def test_without_message_passing_d2_keeps_the_hardest():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    el2n, aum = rng.random(300), rng.normal(size=300)
    y = rng.integers(0, 3, 300)
    hard = coreselect.select("d2", features=x, signals={"el2n": el2n}, size=30, per_class=False, neighbors=0)
    assert set(hard.indices) == set(np.argsort(-el2n)[:30])
    low_margin = coreselect.select("d2", features=x, signals={"aum": aum}, size=30, per_class=False, neighbors=0,
                                   score="aum")
    assert set(low_margin.indices) == set(np.argsort(aum)[:30])  # low AUM = hard
    per_class = coreselect.select("d2", features=x, labels=y, signals={"el2n": el2n}, size=30, neighbors=0)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        mine = np.intersect1d(per_class.indices, rows)
        assert set(mine) == set(rows[np.argsort(-el2n[rows])[:mine.size]])


def test_a_negligible_reverse_decay_picks_by_forward_score():
    graph = distance_graph(X, 2, exact=True)
    s = forward_scores(graph, np.array(EL2N), 1.0)
    assert reverse_greedy(graph, s, 7, gamma=1e3).tolist() == np.argsort(-s, kind="stable").tolist()


def _planted_blobs():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=10, size=(5, 8))
    blob = np.repeat(np.arange(5), 100)
    x = (centers[blob] + rng.normal(size=(500, 8))).astype(np.float32)
    el2n = np.array([0.9, 0.7, 0.6, 0.5, 0.4])[blob] + 0.05 * rng.random(500)  # blob 0 is the hardest
    return x, blob, el2n


@pytest.mark.parametrize("m", [25, 50])
def test_d2_spreads_picks_over_clusters_more_than_score_pruning(m):
    x, blob, el2n = _planted_blobs()
    d2 = coreselect.select("d2", features=x, signals={"el2n": el2n}, size=m, per_class=False)
    pruned = coreselect.select("prune", features=x, signals={"el2n": el2n}, size=m)
    assert np.unique(blob[pruned.indices]).size == 1
    assert np.unique(blob[d2.indices]).size == 5
    assert np.bincount(blob[d2.indices]).max() < m / 2


@pytest.mark.parametrize("allocation", ["proportional", "balanced"])
def test_per_class_budgets_and_each_class_is_its_own_graph(allocation):
    x, blob, el2n = _planted_blobs()
    y = np.where(blob < 2, 0, np.where(blob < 4, 1, 2))  # classes of 200, 200, 100 rows
    s = coreselect.select("d2", features=x, labels=y, signals={"el2n": el2n}, size=47, allocation=allocation)
    expected = coreselect.Budget(47, 500, allocation=allocation).split({c: int((y == c).sum()) for c in range(3)})
    assert {c: int((y[s.indices] == c).sum()) for c in range(3)} == expected
    assert np.all(s.weights == 500 / 47)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        alone = coreselect.select("d2", features=x[rows], signals={"el2n": el2n[rows]}, size=expected[c],
                                  per_class=False)
        assert rows[alone.indices].tolist() == np.intersect1d(s.indices, rows).tolist()


def test_large_classes_use_a_sparse_symmetric_graph_and_are_deterministic():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 6)).astype(np.float32)  # beyond the exact-kNN size: cell probing
    graph = distance_graph(x, 5, seed=7)
    degree = np.diff(graph.indptr)
    assert degree.min() >= 5 and graph.nnz <= 2 * 5 * 3000
    assert (graph != graph.T).nnz == 0 and graph.diagonal().max() == 0
    i = np.repeat(np.arange(3000), degree)
    exact = np.linalg.norm(x[i].astype(np.float64) - x[graph.indices], axis=1)
    assert np.allclose(graph.data, exact, rtol=1e-12)
    el2n = rng.random(3000)
    a = coreselect.select("d2", features=x, signals={"el2n": el2n}, fraction=0.1, per_class=False, seed=5)
    assert a == coreselect.select("d2", features=x, signals={"el2n": el2n}, fraction=0.1, per_class=False, seed=5)
    assert len(a) == 300 and np.unique(a.indices).size == 300


def test_duplicate_points_are_neighbours_at_distance_zero():
    x = np.array([[0, 0], [0, 0], [5, 5], [9, 9]], dtype=np.float32)
    graph = distance_graph(x, 1, exact=True)
    assert graph[0, 1] == 0 and 1 in graph.indices[graph.indptr[0]:graph.indptr[1]]
    picks = reverse_greedy(graph, np.array([1.0, 1.0, 0.5, 0.2]), 2, gamma=0.0)
    assert picks.tolist() == [0, 2]  # picking 0 zeroes its duplicate (γ = 0: the whole score is taken)


@st.composite
def problems(draw):
    n = draw(st.integers(20, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.normal(size=(n, draw(st.integers(1, 6)))).astype(np.float32)
    y = rng.integers(0, draw(st.integers(1, 4)), size=n)
    return x, y, {"el2n": rng.random(n), "aum": rng.normal(size=n)}, draw(st.integers(1, n))


@pytest.mark.parametrize("params", [{}, {"per_class": False}, {"score": "aum", "neighbors": 1, "gamma_reverse": 0.0}])
@settings(max_examples=25, deadline=None)
@given(problem=problems(), seed=st.integers(0, 2**16))
def test_invariants(params, problem, seed):
    x, y, signals, m = problem
    s = coreselect.select("d2", features=x, labels=y if params.get("per_class", True) else None, signals=signals,
                          size=m, seed=seed, **params)
    assert len(s) == m and np.unique(s.indices).size == m and 0 <= s.indices.min() and s.indices.max() < len(x)
    assert np.all(s.weights == len(x) / m)
    if params.get("per_class", True):
        expected = coreselect.Budget(m, len(x)).split({c: int((y == c).sum()) for c in np.unique(y)})
        assert {c: int((y[s.indices] == c).sum()) for c in expected} == expected
    assert s == coreselect.select("d2", features=x, labels=y if params.get("per_class", True) else None,
                                  signals=signals, size=m, seed=seed, **params)


BAD = {
    "score": ({"score": "margin"}, "score must be one of"),
    "neighbors": ({"neighbors": -1}, "neighbors must be >= 0"),
    "gamma_forward": ({"gamma_forward": -0.5}, "gamma_forward must be >= 0"),
    "gamma_reverse": ({"gamma_reverse": -1.0}, "gamma_reverse must be >= 0"),
    "gamma nan": ({"gamma_reverse": math.nan}, "parameter gamma_reverse"),
    "probes": ({"probes": 0}, "probes must be >= 1"),
    "neighbors float": ({"neighbors": 2.5}, "parameter neighbors"),
    "per_class not bool": ({"per_class": "yes"}, "parameter per_class"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_parameters_are_input_errors_naming_them(case):
    params, words = BAD[case]
    x, blob, el2n = _planted_blobs()
    with pytest.raises(coreselect.InputError, match=words):
        coreselect.select("d2", features=x, labels=blob, signals={"el2n": el2n}, size=10, **params)


def test_missing_inputs_are_named():
    x, blob, el2n = _planted_blobs()
    with pytest.raises(coreselect.InputError, match="labels"):
        coreselect.select("d2", features=x, signals={"el2n": el2n}, size=10)
    with pytest.raises(coreselect.InputError, match="aum"):
        coreselect.select("d2", features=x, labels=blob, signals={"el2n": el2n}, size=10, score="aum")
