"""CRAIG, GradMatch and the last-layer gradient embeddings (CCS: test_ccs.py)."""

from __future__ import annotations

import numpy as np
import pytest

import coreselect
from coreselect.errors import InputError
from coreselect.geometry.gradients import gradient_embedding, last_layer_gradients
from coreselect.methods.gradmatch import kept_rows, omp_select
from coreselect.registry import get_method


def data(n: int = 600, classes: int = 3, d: int = 6, seed: int = 0):
    r = np.random.default_rng(seed)
    y = r.integers(classes, size=n)
    x = (r.normal(size=(classes, d))[y] * 2 + r.normal(size=(n, d))).astype(np.float32)
    return x, y, {"el2n": r.random(n), "aum": r.normal(size=n)}


# ---- gradients -----------------------------------------------------------------------------------


def test_last_layer_gradients_match_autograd_formula():
    r = np.random.default_rng(0)
    z, y, h = r.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0]), r.normal(size=(5, 4)).astype(np.float32)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    e = p - np.eye(3)[y]
    np.testing.assert_allclose(last_layer_gradients(z, y), e, rtol=1e-6, atol=1e-7)
    g = last_layer_gradients(z, y, h)
    assert g.shape == (5, 3 * 5) and g.dtype == np.float32
    h1 = np.hstack([h, np.ones((5, 1))])
    np.testing.assert_allclose(g, np.einsum("nc,nk->nck", e, h1).reshape(5, -1), rtol=1e-5, atol=1e-6)
    big = last_layer_gradients(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert np.all(np.isfinite(big))
    for bad in ((z, np.array([0, 3, 1, 1, 0])), (z, y[:4]), (np.full((5, 3), np.nan), y)):
        with pytest.raises(InputError):
            last_layer_gradients(*bad)
    with pytest.raises(InputError):
        last_layer_gradients(z, y, h[:3])


def test_gradient_embeddings_logits_full_and_own_class_slice():
    r = np.random.default_rng(1)
    z, y, h = r.normal(size=(7, 3)), np.array([0, 2, 1, 1, 0, 2, 2]), r.normal(size=(7, 4)).astype(np.float32)
    full = gradient_embedding("full", z, y, h)
    np.testing.assert_array_equal(full, last_layer_gradients(z, y, h))
    np.testing.assert_array_equal(gradient_embedding("logits", z, y), last_layer_gradients(z, y))
    own = gradient_embedding("per_class_gradient", z, y, h)
    assert own.shape == (7, 5) and own.dtype == np.float32
    blocks = full.reshape(7, 3, 5)  # class c's weights and bias: columns c·(d+1) … c·(d+1) + d
    np.testing.assert_allclose(own, blocks[np.arange(7), y], rtol=1e-6)
    with pytest.raises(InputError, match="unknown gradient embedding 'grads'"):
        gradient_embedding("grads", z, y, h)
    with pytest.raises(InputError, match="needs the penultimate features"):
        gradient_embedding("per_class_gradient", z, y)


# ---- CRAIG ---------------------------------------------------------------------------------------


def test_craig_weights_are_represented_counts():
    x, y, _ = data()
    s = coreselect.select("craig", features=x, labels=y, fraction=0.05, seed=0)
    assert get_method("craig").embedding == "gradients" and get_method("craig").weighted
    assert len(s) == 30 and s.weights.sum() == pytest.approx(600)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        mine = np.isin(s.indices, rows)
        assert s.weights[mine].sum() == pytest.approx(rows.size)
        d = ((x[rows][:, None, :] - x[s.indices[mine]][None]) ** 2).sum(-1)
        counts = np.bincount(d.argmin(1), minlength=mine.sum())
        np.testing.assert_allclose(s.weights[mine], counts * rows.size / counts.sum())


def test_craig_duplicates_and_identical_features_keep_positive_weights():
    x, y, _ = data(200)
    for xc in (np.repeat(x[:100], 2, axis=0), np.zeros_like(x)):
        s = coreselect.select("craig", features=xc, labels=y, fraction=0.2, seed=0)
        assert np.all(s.weights > 0) and s.weights.sum() == pytest.approx(200)
        assert np.all(np.isfinite(s.weights))


def test_craig_embedding_defaults_to_the_official_p_minus_y():
    assert coreselect.registry.make("craig", {}).gradient == "logits"
    assert coreselect.registry.make("craig", {"gradient": "full"}).gradient == "full"
    with pytest.raises(InputError, match="parameter gradient must be one of 'logits', 'full'"):
        coreselect.registry.make("craig", {"gradient": "per_class_gradient"})


def test_craig_sparse_and_dense_agree_closely():
    x, y, _ = data(3000, d=8)
    a = coreselect.select("craig", features=x, labels=y, fraction=0.1, seed=0)
    b = coreselect.select("craig", features=x, labels=y, fraction=0.1, dense_mb=0.0, seed=0)
    assert len(a) == len(b) == 300
    assert np.intersect1d(a.indices, b.indices).size > 100


# ---- GradMatch -----------------------------------------------------------------------------------


def test_omp_matches_the_gradient_sum_better_than_random():
    r = np.random.default_rng(0)
    g = r.normal(size=(400, 20)) + 0.5
    chosen, w = omp_select(g, 30)
    assert np.unique(chosen).size == 30 and np.all(w >= 0)
    target = g.sum(0)
    err = np.linalg.norm(w @ g[chosen] - target)
    rand = r.choice(400, 30, replace=False)
    err_rand = np.linalg.norm(g[rand].sum(0) * 400 / 30 - target)
    assert err < 0.5 * err_rand


def test_gradmatch_weights_and_determinism():
    x, y, _ = data()
    s = coreselect.select("gradmatch", features=x, labels=y, fraction=0.1, seed=0)
    t = coreselect.select("gradmatch", features=x, labels=y, fraction=0.1, seed=1)
    np.testing.assert_array_equal(s.indices, t.indices)
    assert get_method("gradmatch").embedding == "gradients" and get_method("gradmatch").weighted
    assert len(s) <= 60 and np.all(s.weights > 0) and s.weights.sum() == pytest.approx(600)
    for c in range(3):
        assert s.weights[np.isin(s.indices, np.flatnonzero(y == c))].sum() == pytest.approx((y == c).sum())
    zero = coreselect.select("gradmatch", features=np.zeros_like(x), labels=y, fraction=0.1)
    assert np.all(np.isfinite(zero.weights)) and zero.weights.sum() == pytest.approx(600)
    one = coreselect.select("gradmatch", features=x[:1], labels=y[:1], size=1)
    assert one.weights.tolist() == [1.0]
    with pytest.raises(InputError):
        coreselect.select("gradmatch", features=x, labels=y, fraction=0.1, lam=0.0)


def test_gradmatch_defaults_to_cords_per_class_gradient():
    assert coreselect.registry.make("gradmatch", {}).gradient == "per_class_gradient"
    with pytest.raises(InputError, match="parameter gradient must be one of"):
        coreselect.registry.make("gradmatch", {"gradient": "penultimate"})


def test_gradmatch_drops_rows_whose_final_weight_is_zero():
    """NNLS zeros are dropped (DeepCore), not floored; the kept weights still sum to the class size."""
    keep, w = kept_rows(np.array([0.0, 2.0, 0.0, 6.0]), 12)
    assert keep.tolist() == [1, 3] and w.tolist() == [3.0, 9.0]
    keep, w = kept_rows(np.zeros(3), 12)
    assert keep.tolist() == [0, 1, 2] and w.tolist() == [4.0, 4.0, 4.0]
    r = np.random.default_rng(0)  # nearly collinear rows and a tiny ridge: NNLS zeroes one pick
    g = (r.normal(size=(60, 2)) * [1, 0.01] + [0.05, 0]).astype(np.float32)
    chosen, weights = omp_select(g, 20, lam=1e-6)
    assert (weights == 0).sum() == 1
    s = coreselect.select("gradmatch", features=g, labels=np.zeros(60, dtype=int), size=20, lam=1e-6)
    assert len(s) == 19 and set(s.indices) == set(chosen[weights > 0])
    assert np.all(s.weights > 0) and s.weights.sum() == pytest.approx(60)


def test_oneshot_bench_builds_the_embedding_each_method_asks_for(tmp_path):
    """craig sees p − y by default and the full gradient with gradient=full; gradmatch its class's slice."""
    pytest.importorskip("torch")
    from coreselect import api
    from coreselect.bench import BenchConfig, ResultStore
    from coreselect.bench import datasets as bd
    from coreselect.bench.protocols.oneshot import embed, embedding_kind, subset_digest
    from coreselect.bench.proxy import ProxyRun
    from coreselect.bench.runner import run_bench
    from coreselect.budget import Budget
    from coreselect.pool import Pool

    specs = {"craig": "logits", "craig:gradient=full": "full", "gradmatch": "per_class_gradient"}
    run_bench(BenchConfig(dataset="four-moons", protocol="oneshot", out=tmp_path, methods=tuple(specs),
                          fractions=(0.1,), seeds=1, epochs=2, device="cpu",
                          options={"train_size": "300", "proxy_epochs": "2"}))
    records = {r["key"]["method"]: r for r in ResultStore(tmp_path).records()}
    proxy = ProxyRun.load_cached(next((tmp_path / "cache").glob("*.npz")))
    y = bd.prepare(bd.load("four-moons"), bd.Transforms(train_size=300), 0).y_train
    for label, kind in specs.items():
        name, *params = label.split(":")
        method = coreselect.registry.make(name, dict(p.split("=") for p in params))
        assert embedding_kind(method) == kind
        pool = Pool.build(embed(kind, proxy.logits, y, proxy.features), labels=y, signals=proxy.signals)
        expected = api.run(method, pool, Budget.from_request(300, fraction=0.1), 0)
        assert records[label]["subset_sha256"] == subset_digest(expected)
    assert records["craig"]["subset_sha256"] != records["craig:gradient=full"]["subset_sha256"]
