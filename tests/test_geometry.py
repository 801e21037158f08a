"""Blocked distances, nearest neighbours and k-means helpers against brute force."""

from __future__ import annotations

import numpy as np

from coreselect.geometry import kmeans, knn, nearest, pairwise_blocks, recall, snap_to_cells, sq_dists


def _brute(x, y):
    return ((x[:, None, :].astype(np.float64) - y[None, :, :]) ** 2).sum(-1)


def test_blocks_cover_and_match_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(1000, 16)).astype(np.float32), rng.normal(size=(37, 16)).astype(np.float32)
    blocks = list(pairwise_blocks(x, y, budget=37 * 4 * 100))  # 100 rows per block
    assert len(blocks) == 10 and blocks[-1][1] == 1000
    full = np.concatenate([b[2] for b in blocks])
    np.testing.assert_allclose(full, _brute(x, y), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(sq_dists(x[:5], y), _brute(x[:5], y), rtol=1e-4, atol=1e-3)


def test_nearest_decides_near_ties_in_float64_whatever_the_threads():
    import faiss

    rng = np.random.default_rng(3)
    x = rng.random((20000, 128), dtype=np.float32)  # high dimension: distances concentrate, near-ties abound
    c = x[:4].copy()
    brute = _brute(x, c)
    got, before = [], faiss.omp_get_max_threads()
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        got.append(nearest(x, c))
    faiss.omp_set_num_threads(before)
    for idx, dist in got:
        assert (idx == brute.argmin(1)).all()
        assert dist.dtype == np.float64 and np.array_equal(dist, brute.min(1))
    # an exact tie goes to the lowest center, whichever order faiss proposes them in
    c2 = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    idx, dist = nearest(np.array([[1.0, 0.0], [1.0, 5.0], [0.0, 1.0]], dtype=np.float32), c2)
    assert idx.tolist() == [0, 0, 0] and dist.tolist() == [1.0, 26.0, 1.0]


def test_exact_settling_is_the_same_in_blocks_of_rows_and_of_centers(monkeypatch):
    """Near-ties are decided on float64 distances computed block by block into reused buffers: with
    blocks smaller than one row's distances to all centers (split over the centers) and blocks holding
    several rows, the winner and the distance are those of the unblocked brute force, ties included."""
    from coreselect.geometry import neighbors

    rng = np.random.default_rng(5)
    x = rng.random((3000, 64), dtype=np.float32)
    c = x[:300].copy()
    c[150] = c[7]  # an exact tie between two centers: the lower index wins
    brute = _brute(x, c)
    for values in (64 * 16 + 5, 64 * 300 * 3, 2**18):  # part of the centers per row; 3 rows; the default
        monkeypatch.setattr(neighbors, "_EXACT_BLOCK_VALUES", values)
        assert np.array_equal(neighbors._exact_argmin(x, c.astype(np.float64)), brute.argmin(1))
        idx, dist = nearest(x, c)
        assert np.array_equal(idx, brute.argmin(1)) and np.array_equal(dist, brute.min(1))


def test_nearest_and_snap():
    rng = np.random.default_rng(1)
    x, c = rng.normal(size=(500, 8)).astype(np.float32), rng.normal(size=(20, 8)).astype(np.float32)
    idx, dist = nearest(x, c)
    brute = _brute(x, c)
    assert (idx == brute.argmin(1)).all()
    np.testing.assert_allclose(dist, brute.min(1), rtol=1e-4, atol=1e-4)
    c[-1] = 50.0  # a center no row is nearest to
    brute = _brute(x, c)
    snapped = snap_to_cells(x, c)
    assert snapped[-1] == -1
    for j in range(c.shape[0]):  # the nearest row among the rows nearest to center j
        cell = np.flatnonzero(brute.argmin(1) == j)
        assert snapped[j] == (cell[brute[cell, j].argmin()] if cell.size else -1)


def test_knn_exact_and_ivf_recall():
    rng = np.random.default_rng(2)
    centers = rng.normal(scale=5, size=(20, 16))
    x = (centers[rng.integers(0, 20, 6000)] + rng.normal(size=(6000, 16))).astype(np.float32)
    _vals, idx = knn(x[:300], 5)
    assert (idx[:, 0] == np.arange(300)).all()  # self first
    brute = _brute(x[:300], x[:300])
    assert (np.sort(idx, 1) == np.sort(np.argsort(brute, 1)[:, :5], 1)).all()
    _, exact = knn(x, 10)
    _, approx = knn(x, 10, exact=False, nprobe=8)
    assert recall(approx, exact) > 0.8
    _, again = knn(x, 10, exact=False, nprobe=8)
    assert (again == approx).all()  # deterministic


def test_kmeans_deterministic():
    x = np.random.default_rng(3).normal(size=(2000, 4)).astype(np.float32)
    a, b = kmeans(x, 8, seed=5), kmeans(x, 8, seed=5)
    assert a.shape == (8, 4) and np.array_equal(a, b)
