"""SemDeDup: planted duplicates are all found, one of each group kept; the blocked triangle maximum."""

from __future__ import annotations

import numpy as np
import pytest

import coreselect
from coreselect.errors import InputError
from coreselect.methods.semdedup import max_earlier_similarity


def planted(seed: int = 0):
    """600 distinct rows, then 40 exact copies and 40 near copies (cosine > 0.9999) of distinct originals."""
    r = np.random.default_rng(seed)
    base = r.normal(size=(600, 32)).astype(np.float32)
    originals = r.choice(600, 80, replace=False)
    exact = base[originals[:40]]
    near = base[originals[40:]] + r.normal(scale=1e-3, size=(40, 32)).astype(np.float32)
    x = np.vstack([base, exact, near])
    groups = [{int(o), 600 + i} for i, o in enumerate(originals)]
    return x, groups


def _check_one_kept_per_group(kept: set[int], groups: list[set[int]], n: int) -> None:
    for g in groups:
        assert len(kept & g) == 1, sorted(g)
    in_groups = set().union(*groups)
    assert {i for i in range(n) if i not in in_groups} <= kept  # no distinct row is lost


@pytest.mark.parametrize("clusters", [None, 1, 7])
def test_planted_duplicates_are_all_found(clusters):
    x, groups = planted()
    by_eps = coreselect.select("semdedup", features=x, fraction=1.0, eps=1e-3, clusters=clusters, seed=0)
    assert len(by_eps) == 600
    _check_one_kept_per_group(set(by_eps.indices.tolist()), groups, len(x))
    by_size = coreselect.select("semdedup", features=x, size=600, clusters=clusters, seed=0)
    np.testing.assert_array_equal(by_size.indices, by_eps.indices)
    assert by_size.weights.sum() == pytest.approx(len(x))


def test_keep_decides_which_copy_stays():
    """One cluster (its centroid: the mean unit row); of two near copies, "hard" keeps the one farther
    from the centroid (the paper's choice), "easy" the nearer."""
    r = np.random.default_rng(1)
    x = r.normal(size=(200, 8)).astype(np.float32)
    x[1] = x[0] + r.normal(scale=1e-3, size=8).astype(np.float32)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    mean = u.mean(axis=0)
    distance = 1 - u[:2] @ mean / np.linalg.norm(mean)
    farther = int(np.argmax(distance))
    for keep, expected in (("hard", farther), ("easy", 1 - farther)):
        s = coreselect.select("semdedup", features=x, fraction=1.0, eps=1e-3, clusters=1, keep=keep, seed=0)
        assert set(s.indices.tolist()) & {0, 1} == {expected}
        assert len(s) == 199


def test_blocked_triangle_maximum_equals_brute_force():
    r = np.random.default_rng(2)
    u = r.normal(size=(57, 5))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    sim = u @ u.T
    brute = np.array([-np.inf] + [sim[:j, j].max() for j in range(1, 57)])
    for block in (1, 10, 57 * 3, 10**6):
        np.testing.assert_allclose(max_earlier_similarity(u, block), brute, rtol=1e-12)


def test_deterministic_and_threads_alike():
    x, _ = planted(3)
    a = coreselect.select("semdedup", features=x, size=500, seed=4)
    with coreselect.threads.limit(2):
        b = coreselect.select("semdedup", features=x, size=500, seed=4)
    np.testing.assert_array_equal(a.indices, b.indices)
    c = coreselect.select("semdedup", features=x, size=500, keep="random", seed=4)
    assert len(c) == 500


def test_bad_parameters():
    x, _ = planted()
    for bad in ({"eps": 0.0}, {"eps": 1.5}, {"clusters": 0}, {"keep": "middle"}):
        with pytest.raises(InputError):
            coreselect.select("semdedup", features=x, size=10, **bad)
    with pytest.raises(InputError, match="clusters must be at most the number of examples"):
        coreselect.select("semdedup", features=x[:5], size=2, clusters=6)
