"""Selection on Dask, against a real `distributed.LocalCluster` (two worker processes on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask
from scipy import stats

import coreselect
from coreselect.cli.main import main
from coreselect.distributed import backend, open_features
from coreselect.distributed import sensitivity as dsens
from coreselect.errors import InputError
from coreselect.geometry.clustering import dz_seeding_order
from coreselect.geometry.kmeans import snap_to_cells
from coreselect.geometry.neighbors import nearest
from coreselect.methods.sensitivity import balanced_lambda, build_proxy, probabilities
from coreselect.oracle import Oracle
from coreselect.subset import Subset

WORKER_MEMORY = 400 * 2**20


@pytest.fixture(scope="module")
def client():
    with (distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=WORKER_MEMORY,
                                   dashboard_address=":0", host="127.0.0.1") as cluster,
          distributed.Client(cluster) as c):
        yield c


def local():
    """Dask's synchronous scheduler in this process: the single-machine run over the same chunks."""
    return dask.config.set(scheduler="sync")


def blobs(n: int, d: int = 8, centers: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.normal(scale=6, size=(centers, d))
    return (c[rng.integers(centers, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def test_import_coreselect_does_not_import_dask():
    code = "import sys, coreselect; coreselect.available_methods(); print(any(m.startswith('dask') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- sensitivity ------------------------------------------------------------------------------------

def test_sensitivity_same_subset_on_cluster_and_locally(client):
    x = blobs(6000)
    loss = np.random.default_rng(1).random(6000)
    xd = da.from_array(x, chunks=1000)
    on_cluster = coreselect.select("sensitivity", features=xd, oracle=loss, size=300, k=12, seed=3)
    with local():
        here = coreselect.select("sensitivity", features=xd, oracle=loss, size=300, k=12, seed=3)
    assert on_cluster == here
    assert on_cluster.n_queries == 12 and on_cluster.method == "sensitivity"
    assert on_cluster.weights.sum() == pytest.approx(6000, rel=0.2)
    other = coreselect.select("sensitivity", features=xd, oracle=loss, size=300, k=12, seed=4)
    assert not np.array_equal(other.indices, on_cluster.indices)


def test_sensitivity_rounds_on_cluster(client):
    # Algorithm 3: the single machine's seeding order, r·k queries, each row at its nearest queried row
    x = blobs(5000)
    loss = np.random.default_rng(2).random(5000)
    xd = da.from_array(x, chunks=700)
    with local():
        order = dsens.seeding_order(xd, 30, 2, np.random.default_rng(5))
        a = None
        for i in range(3):
            a = dsens.assignment(xd, order[10 * i:10 * (i + 1)], 2, a, 10 * i)
        q, lam, _ = dsens.mass(a, loss[order], None)
        q = q.compute()
    assert (order == dz_seeding_order(x, 30, 2, np.random.default_rng(5))).all()
    lab, d2 = nearest(x, x[order])
    lab[order] = np.arange(30)
    d2[order] = 0
    lhat = loss[order][lab]
    np.testing.assert_allclose(lam, lhat.sum() / d2.sum(dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(q, lhat + lam * d2, rtol=1e-4, atol=1e-9)
    rec = Oracle(loss, 5000)
    on_cluster = coreselect.select("sensitivity", features=xd, oracle=rec, size=200, k=10, rounds=3, seed=1)
    assert rec.n_queries == 30 == on_cluster.n_queries
    with local():
        here = coreselect.select("sensitivity", features=xd, oracle=loss, size=200, k=10, rounds=3, seed=1)
    assert here == on_cluster


def _draw_counts(subset: Subset, p: np.ndarray, s: int) -> np.ndarray:
    """How many of the s i.i.d. draws hit each row: weight = count / (s p)."""
    counts = np.zeros(p.size)
    counts[subset.indices] = subset.weights * s * p[subset.indices]
    return np.round(counts)


def test_sensitivity_has_the_single_machine_distribution():
    # k = n: both paths query every row, so p_e = ℓ(e)/Σℓ exactly; many seeds on the local scheduler
    # (it gives the cluster's answer, tested above)
    n = 200
    x = blobs(n, d=4)
    loss = 1.0 + 2.0 * np.random.default_rng(7).random(n)
    p = loss / loss.sum()
    seeds = range(20)
    counts = np.zeros((2, n))
    with local():
        xd = da.from_array(x, chunks=60)
        for seed in seeds:
            single = coreselect.select("sensitivity", features=x, oracle=loss, size=n, k=n, seed=seed)
            dist = coreselect.select("sensitivity", features=xd, oracle=loss, size=n, k=n, seed=seed)
            counts += [_draw_counts(single, p, n), _draw_counts(dist, p, n)]
    assert np.all(counts.sum(axis=1) == n * len(seeds))
    for c in counts:
        assert stats.chisquare(c, n * len(seeds) * p).pvalue > 1e-3
    assert stats.chi2_contingency(counts).pvalue > 1e-3


def test_sampling_mass_equals_single_machine_probabilities():
    x = blobs(3000)
    loss = np.random.default_rng(3).random(3000)
    proxy = build_proxy(x, Oracle(loss, 3000), 15, 2, np.random.default_rng(0))
    with local():
        q, lam, cost = dsens.sampling_mass(da.from_array(x, chunks=400), proxy.queried, proxy.values, 2, None)
        q = q.compute()
    assert lam == pytest.approx(balanced_lambda(proxy)) and cost == pytest.approx(proxy.cost, rel=1e-6)
    np.testing.assert_allclose(q / q.sum(), probabilities(proxy, balanced_lambda(proxy)), rtol=1e-5)


def test_chunked_snap_equals_single_machine_cell_snap():
    x = blobs(3000)
    centers = np.vstack([x[:: 300] + 0.1, np.full((1, 8), 80.0, dtype=np.float32)])  # the last cell is empty
    with local():
        got = backend.snap(da.from_array(x, chunks=400), centers)
    expected = snap_to_cells(x, centers)
    assert expected[-1] == -1 and (got == expected).all()


def test_chunked_draws_are_a_global_iid_draw():
    q = 0.2 + np.random.default_rng(2).random(40) ** 2
    p = q / q.sum()
    s, reps = 100, 100
    with local():
        qd = da.from_array(q, chunks=13)
        counts = np.zeros(q.size)
        rng = np.random.default_rng(5)
        for _ in range(reps):
            rows, qr, total = backend.iid_draws(qd, s, rng)
            assert rows.size == s and total == pytest.approx(q.sum())
            np.testing.assert_allclose(qr, q[rows])
            counts += np.bincount(rows, minlength=q.size)
    assert stats.chisquare(counts, s * reps * p).pvalue > 1e-3


def test_weighted_sample_without_replacement():
    w = np.array([0.0, 5.0, -1.0, 1.0, 0.0, 3.0])
    with local():
        got = backend.weighted_sample(da.from_array(w, chunks=2), 3, np.random.default_rng(0))
        assert set(got) == {1, 3, 5}  # every positive weight before any zero; -1 never
        more = backend.weighted_sample(da.from_array(w, chunks=2), 5, np.random.default_rng(0))
        assert set(more) == {0, 1, 3, 4, 5}


def _slow(block: np.ndarray) -> np.ndarray:
    time.sleep(0.05)
    return block


def test_worker_killed_mid_run_gives_the_same_answer(client):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    x = blobs(8000, seed=3)
    loss = np.random.default_rng(4).random(8000)
    with local():
        expected = coreselect.select("sensitivity", features=da.from_array(x, chunks=400), oracle=loss,
                                     size=200, k=10, seed=1)
    xd = da.from_array(x, chunks=400).map_blocks(_slow, dtype=np.float32)  # same chunks, slower tasks
    victim = min(client.scheduler_info()["workers"])
    pid = client.run(os.getpid, workers=[victim])[victim]
    result: dict[str, Subset] = {}
    run = threading.Thread(target=lambda: result.update(s=coreselect.select(
        "sensitivity", features=xd, oracle=loss, size=200, k=10, seed=1)))
    run.start()
    deadline = time.time() + 30
    while not client.processing().get(victim) and time.time() < deadline:
        time.sleep(0.02)
    assert client.processing().get(victim), "no task reached the worker to kill"
    os.kill(pid, signal.SIGKILL)
    run.join(120)
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.scheduler_info()["workers"]  # it did die (the nanny started a new one)
    assert result["s"] == expected


# ---- inputs -------------------------------------------------------------------------------------------

def _shards(tmp_path, x, parts=4):
    d = tmp_path / "shards"
    d.mkdir()
    for i, part in enumerate(np.array_split(x, parts)):
        np.save(d / f"part-{i:02d}.npy", part)
    return d


def test_npy_shards_one_chunk_per_shard(tmp_path):
    x = blobs(1000)
    d = _shards(tmp_path, x, 3)
    feats = open_features(str(d / "*.npy"))
    assert feats.array.chunks[0] == (334, 333, 333) and len(feats.sources) == 3
    np.testing.assert_array_equal(feats.array.compute(scheduler="sync"), x)
    with pytest.raises(InputError, match=r"--key 'emb': .* holds one array, with no names to choose from"):
        open_features(str(d / "*.npy"), "emb")


def test_zarr_and_parquet_inputs(tmp_path):
    zarr = pytest.importorskip("zarr")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    x = blobs(300, d=5)
    z = zarr.open_array(str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(100, 5), dtype="f4")
    z[:] = x
    feats = open_features(str(tmp_path / "x.zarr"))
    assert feats.array.chunks[0] == (100, 100, 100)
    np.testing.assert_array_equal(feats.array.compute(scheduler="sync"), x)
    for i, part in enumerate(np.array_split(x, 2)):
        table = pa.table({"id": np.arange(len(part)), "embedding": list(part)})
        pq.write_table(table, tmp_path / f"p{i}.parquet")
    feats = open_features(str(tmp_path / "p*.parquet"))
    np.testing.assert_array_equal(feats.array.compute(scheduler="sync"), x)
    with pytest.raises(InputError, match="no column 'emb'"):
        open_features(str(tmp_path / "p*.parquet"), column="emb")


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    return err[0]


def test_bad_shards_name_the_shard(tmp_path, capsys):
    x = blobs(400)
    d = _shards(tmp_path, x)
    out = tmp_path / "s.npz"
    common = ["--fraction", "0.1", "--out", str(out), "--oracle", str(tmp_path / "loss.npy")]
    np.save(tmp_path / "loss.npy", np.ones(400))
    np.save(d / "part-02.npy", np.ones((100, 5), dtype=np.float32))
    err = _error(capsys, "select", "sensitivity", "--features", str(d / "*.npy"), *common)
    assert "part-02.npy" in err and "5 columns" in err
    (d / "part-02.npy").write_bytes(b"not an array")
    err = _error(capsys, "select", "sensitivity", "--features", str(d / "*.npy"), *common)
    assert "part-02.npy" in err and "not a readable .npy" in err
    bad = x[200:300].copy()
    bad[17, 3] = np.nan
    np.save(d / "part-02.npy", bad)
    err = _error(capsys, "select", "sensitivity", "--features", str(d / "*.npy"), *common)
    assert "part-02.npy" in err and "NaN or inf at row 17" in err
    err = _error(capsys, "select", "sensitivity", "--features", str(tmp_path / "none-*.npy"), *common)
    assert "no file matches" in err
    assert not out.exists()


def _big_shards(tmp_path, n: int, parts: int):
    rng = np.random.default_rng(0)
    d = tmp_path / "big"
    d.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(n), parts)):
        np.save(d / f"part-{i:02d}.npy", rng.random((rows.size, 128), dtype=np.float32))
    np.save(tmp_path / "loss.npy", rng.random(n))
    return ["select", "sensitivity", "--features", str(d / "*.npy"), "--oracle", str(tmp_path / "loss.npy"),
            "--size", "300", "--param", "k=4", "--seed", "2"]


def test_shard_removed_after_opening_is_named(tmp_path):
    d = _shards(tmp_path, blobs(400))
    feats = open_features(str(d / "*.npy"))
    (d / "part-01.npy").unlink()
    with local(), pytest.raises(InputError, match=r"part-01\.npy: cannot read"):
        coreselect.select("kcenter", features=feats.array, size=10)


def test_cli_scheduler_matches_local_run(client, tmp_path):
    args = _big_shards(tmp_path, 20000, 5)
    assert main([*args, "--scheduler", client.scheduler.address, "--out", str(tmp_path / "a.npz")]) == 0
    with local():
        assert main([*args, "--out", str(tmp_path / "b.npz")]) == 0
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


@pytest.mark.slow
def test_cli_workers_on_shards_larger_than_worker_memory(tmp_path):
    memory = 300 * 2**20
    args = _big_shards(tmp_path, memory // (128 * 4) * 5 // 4, 16)
    assert sum(f.stat().st_size for f in (tmp_path / "big").iterdir()) > memory
    r = subprocess.run([sys.executable, "-m", "coreselect", *args, "--workers", "2", "--worker-memory",
                        str(memory), "--out", str(tmp_path / "a.npz")], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert main([*args, "--out", str(tmp_path / "b.npz")]) == 0  # no cluster: Dask's local scheduler
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


# ---- per-class methods, tsqr, k-center ------------------------------------------------------------------

@pytest.fixture(scope="module")
def labelled():
    rng = np.random.default_rng(0)
    n = 3000
    x = blobs(n, d=12, seed=5)
    y = rng.integers(4, size=n)
    signals = {"aum": rng.normal(size=n), "el2n": rng.random(n)}
    return x, y, signals


@pytest.mark.parametrize("method, params", [
    ("uniform", {}), ("uniform", {"stratified": True}), ("moderate", {}), ("moderate", {"per_class": True}),
    ("facility-location", {}), ("boss", {}), ("boss", {"alpha": 2.0, "cutoff": 0.2}), ("kcenter", {"per_class": True}),
])
def test_deterministic_per_class_methods_match_single_machine(client, labelled, method, params):
    x, y, signals = labelled
    xd = da.from_array(x, chunks=700)
    got = coreselect.select(method, features=xd, labels=da.from_array(y, chunks=700), signals=signals,
                            fraction=0.05, seed=3, **params)
    assert got == coreselect.select(method, features=x, labels=y, signals=signals, fraction=0.05, seed=3, **params)


def test_greedi_on_a_class_over_the_memory_budget(labelled):
    from coreselect.geometry.facility import dense_value

    x, y, _ = labelled
    xd = da.from_array(x, chunks=700)
    single = coreselect.select("facility-location", features=x, labels=y, fraction=0.05, seed=0)
    with local(), dask.config.set({"coreselect.class-bytes": 4e5}):
        got = coreselect.select("facility-location", features=xd, labels=y, fraction=0.05, seed=0)
        assert got == coreselect.select("facility-location", features=xd, labels=y, fraction=0.05, seed=0)
    assert len(got) == len(single) and got != single
    for c in range(4):
        rows = np.flatnonzero(y == c)
        assert np.isin(got.indices, rows).sum() == np.isin(single.indices, rows).sum()
        ratio = (dense_value(x[rows], np.searchsorted(rows, np.intersect1d(got.indices, rows)))
                 / dense_value(x[rows], np.searchsorted(rows, np.intersect1d(single.indices, rows))))
        assert ratio > 0.97  # the guarantee is (1 - 1/e)/2 of the optimum in expectation; measured ≈ 0.99


@pytest.mark.parametrize("per_class", [False, True])
def test_moderate_on_classes_over_the_memory_budget_matches_single_machine(client, labelled, per_class):
    x, y, _ = labelled
    xd = da.from_array(x, chunks=700)
    with dask.config.set({"coreselect.class-bytes": 1e4}):  # every class: the chunked exact median
        got = coreselect.select("moderate", features=xd, labels=da.from_array(y, chunks=700), fraction=0.1,
                                per_class=per_class, seed=0)
    assert got == coreselect.select("moderate", features=x, labels=y, fraction=0.1, per_class=per_class, seed=0)


def test_coreset_sensitivities_by_tsqr_match_single_machine(client, labelled):
    from coreselect.distributed.leverage import class_sensitivities
    from coreselect.geometry.sensitivities import sensitivity

    x, y, _ = labelled
    xd = da.from_array(x, chunks=700)
    rows = [np.flatnonzero(y == c) for c in range(4)]
    with local():
        for kind in ("unified", "leverage", "lewis"):
            got = class_sensitivities([xd[r] for r in rows], kind, lewis_iters=3)
            for r, g in zip(rows, got):
                np.testing.assert_allclose(g, sensitivity(x[r], kind, lewis_iters=3), rtol=1e-8, atol=1e-12)
    for params in ({}, {"deterministic": 0.5, "weighting": "prop"}):
        a = coreselect.select("coreset", features=xd, labels=y, fraction=0.05, seed=2, **params)
        b = coreselect.select("coreset", features=x, labels=y, fraction=0.05, seed=2, **params)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-9)


def test_leverage_scores_by_tsqr(client):
    from coreselect.distributed.leverage import leverage
    from coreselect.geometry.sensitivities import leverage_scores

    x = blobs(2000, d=6)
    x[:, 5] = x[:, 0] + x[:, 1]  # rank deficient
    xd = da.from_array(x, chunks=300)
    np.testing.assert_allclose(leverage(xd).compute(), leverage_scores(x), rtol=1e-6, atol=1e-10)
    a = coreselect.select("leverage", features=xd, size=200, seed=0)
    assert a == coreselect.select("leverage", features=xd, size=200, seed=0)
    assert a.weights.sum() == pytest.approx(2000, rel=0.2)


def _radius(x: np.ndarray, centers: np.ndarray) -> float:
    from coreselect.geometry.neighbors import nearest

    return float(np.sqrt(nearest(x, x[centers])[1].max()))


def test_two_round_kcenter_is_within_its_factor(client):
    x = blobs(4000, d=5, centers=20)
    single = coreselect.select("kcenter", features=x, size=40, seed=0)
    two = coreselect.select("kcenter", features=da.from_array(x, chunks=500), size=40, seed=0)
    assert len(two) == 40
    # greedy radius ≥ OPT and the two-round answer ≤ 4·OPT
    assert _radius(x, two.indices) <= 4 * _radius(x, single.indices)
    with local():
        one_chunk = coreselect.select("kcenter", features=da.from_array(x, chunks=4000), size=40, seed=0)
    assert one_chunk == single


def test_unused_inputs_are_named_as_on_one_machine():
    from coreselect.errors import UnusedInputWarning

    x = blobs(600)
    y = np.arange(600) % 3
    with local(), pytest.warns(UnusedInputWarning, match="method 'kcenter' does not use labels: ignored; pass "
                                                         "per_class=True"):
        coreselect.select("kcenter", features=da.from_array(x, chunks=200), labels=y, size=10, seed=0)


@pytest.mark.parametrize("params", [{"eps": 1e-3}, {"keep": "random"}, {"clusters": 3}])
def test_semdedup_on_chunks_matches_single_machine(client, params):
    from coreselect.distributed.semdedup import groups

    r = np.random.default_rng(0)
    x = blobs(3000, d=16)
    x[2500:] = x[r.choice(2500, 500)] + r.normal(scale=1e-3, size=(500, 16)).astype(np.float32)  # near copies
    single = coreselect.select("semdedup", features=x, size=2600, seed=5, **params)
    got = coreselect.select("semdedup", features=da.from_array(x, chunks=700), size=2600, seed=5, **params)
    assert got == single
    labels = np.repeat(np.arange(5), [3, 1, 4, 1, 5])[r.permutation(14)]
    packed = groups(labels, 4)
    assert np.array_equal(np.sort(np.concatenate(packed)), np.arange(14))
    assert [sorted(set(labels[g].tolist())) for g in packed] == [[0, 1], [2], [3, 4]]
