"""The torch backend of geometry, run on the CPU: the same subsets and probabilities as the numpy/faiss
path, blocked memory, and the backend/device choice checked before any work."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import coreselect
from coreselect import registry
from coreselect.errors import InputError
from coreselect.geometry import backend as be
from coreselect.geometry import torch_backend as tb
from coreselect.geometry.kmeans import kmeans
from coreselect.geometry.neighbors import knn, nearest
from coreselect.methods.sensitivity import balanced_lambda, build_proxy, probabilities
from coreselect.oracle import Oracle

torch.set_num_threads(1)
TORCH_CPU = {"backend": "torch", "device": "cpu"}
TORCH = be.Backend("torch", "cpu")


def _signals(n: int) -> dict[str, np.ndarray]:
    r = np.random.default_rng(5)
    return {"el2n": r.random(n), "aum": r.normal(size=n)}


CASES = [
    ("kcenter", {}),
    ("kcenter", {"per_class": True}),
    ("herding", {}),
    ("moderate", {}),
    ("moderate", {"per_class": True}),
    ("facility-location", {}),
    ("facility-location", {"scope": "global"}),
    ("facility-location", {"similarity": "euclidean", "scope": "auto"}),
    ("boss", {"exact": True}),
    ("boss", {"similarity": "global", "alpha": 2.0}),
    ("semdedup", {}),
    ("craig", {}),
    ("craig", {"dense_mb": 0.0, "exact": True}),
    ("d2", {"exact": True}),
    ("d2", {"per_class": False}),
    ("regression-sensitivity", {}),
]


@pytest.mark.parametrize(("name", "params"), CASES)
def test_deterministic_methods_give_the_numpy_subset(blobs, name, params):
    x, y = blobs
    inputs = {"features": x, "labels": y if registry.get_method(name)(**params).uses() & {"labels"} else None}
    if name in ("boss", "d2"):
        inputs["signals"] = _signals(len(x))
    if name == "regression-sensitivity":
        inputs["targets"] = x @ np.linspace(-1, 1, x.shape[1], dtype=np.float32)
    for fraction in (0.05, 0.3):
        ref = coreselect.select(name, fraction=fraction, seed=3, **inputs, **params, backend="numpy")
        got = coreselect.select(name, fraction=fraction, seed=3, **inputs, **params, **TORCH_CPU)
        np.testing.assert_array_equal(got.indices, ref.indices)
        np.testing.assert_array_equal(got.weights, ref.weights)


@pytest.mark.parametrize("params", [{}, {"z": 1}, {"k": 40}])
def test_sensitivity_sampling_probabilities_equal_the_numpy_ones(blobs, params):
    """Same queried rows and the same p (Algorithm 1), hence the same sampling distribution."""
    x, _ = blobs
    loss = np.random.default_rng(2).random(len(x))
    proxies = {}
    for name, backend in (("numpy", be.NUMPY), ("torch", TORCH)):
        proxies[name] = build_proxy(x, Oracle(loss, len(x)), params.get("k", 12), params.get("z", 2),
                                    np.random.default_rng(7), backend=backend)
    a, b = proxies["numpy"], proxies["torch"]
    np.testing.assert_array_equal(b.queried, a.queried)
    np.testing.assert_array_equal(b.assign, a.assign)
    np.testing.assert_allclose(probabilities(b, balanced_lambda(b)), probabilities(a, balanced_lambda(a)),
                               rtol=1e-12, atol=0)


def test_sensitivity_draws_equal_the_numpy_ones_over_rounds(blobs):
    x, _ = blobs
    loss = np.random.default_rng(2).random(len(x))
    for seed in range(3):
        ref = coreselect.select("sensitivity", features=x, oracle=loss, fraction=0.1, seed=seed, rounds=2,
                                backend="numpy")
        got = coreselect.select("sensitivity", features=x, oracle=loss, fraction=0.1, seed=seed, rounds=2,
                                **TORCH_CPU)
        np.testing.assert_array_equal(got.indices, ref.indices)
        np.testing.assert_allclose(got.weights, ref.weights, rtol=1e-12)


def test_nearest_is_identical_even_on_exact_and_near_ties():
    """Rounded points and centers tie exactly; both paths settle ties on float64 distances."""
    r = np.random.default_rng(0)
    x = np.round(r.normal(size=(2000, 6)) * 2).astype(np.float32) / 2
    centers = np.concatenate([x[:30], x[:10] + np.float32(1e-7)])
    for c in (centers, np.round(centers)):
        labels, d2 = nearest(x, c)
        t_labels, t_d2 = tb.nearest(x, c, "cpu")
        np.testing.assert_array_equal(t_labels, labels)
        np.testing.assert_array_equal(t_d2, d2)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_exact_knn_matches_faiss(blobs, metric):
    x, _ = blobs
    values, idx = knn(x, 7, metric=metric, exact=True)
    t_values, t_idx = tb.knn(x, 7, metric=metric, device="cpu", budget=20_000)
    np.testing.assert_array_equal(t_idx, idx)
    np.testing.assert_allclose(t_values, values, rtol=1e-5, atol=1e-4)


def test_knn_ties_go_to_the_lowest_index():
    """Small integers: every product is exact, so ties are real; the order is (value, lowest index), as
    faiss's L2 search orders them (its inner-product search keeps tied neighbours by its own blocking)."""
    x = np.random.default_rng(1).integers(-1, 2, size=(300, 3)).astype(np.float32)
    for metric, score in (("l2", ((x[:, None, :] - x[None]) ** 2).sum(-1)), ("ip", -(x @ x.T))):
        values, idx = tb.knn(x, 9, metric=metric, device="cpu")
        expected = np.argsort(score, axis=1, kind="stable")[:, :9]
        np.testing.assert_array_equal(idx, expected)
        np.testing.assert_array_equal(values, np.abs(np.take_along_axis(score, expected, axis=1)))
    np.testing.assert_array_equal(tb.knn(x, 9, device="cpu")[1], knn(x, 9, exact=True)[1])


@pytest.mark.parametrize(("n", "init"), [(600, True), (600, False), (5000, True)])
def test_kmeans_matches_faiss_lloyd(n, init):
    """Same training rows (faiss's subsample when n > 256k), same start, same iterations: the centers
    agree to float rounding (float64 centroid sums here, float32 in faiss)."""
    r = np.random.default_rng(4)
    x = (r.normal(size=(8, 5))[r.integers(8, size=n)] * 3 + r.normal(size=(n, 5))).astype(np.float32)
    start = x[np.random.default_rng(0).choice(n, 8, replace=False)] if init else None
    kw = {"seed": 11, "niter": 6, "max_points_per_centroid": 256 if n < 5000 else 100, "init": start}
    np.testing.assert_allclose(tb.kmeans(x, 8, device="cpu", **kw), kmeans(x, 8, **kw), rtol=1e-5, atol=1e-5)


class _LargestTensor(torch.overrides.TorchFunctionMode):
    """Records the size in bytes of the largest tensor any torch call returns."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel() * t.element_size())
        return out


def _largest(run, budget: int | None) -> int:
    """The largest tensor `run(budget)` creates."""
    with _LargestTensor() as mode:
        run(budget)
    return mode.largest


def test_block_budget_bounds_the_largest_tensor():
    """3,000 rows: an n × n block would take 36 MB; with a 256 KB budget no tensor exceeds it (the rows
    themselves are 96 KB), while the default budget lets the same search build a larger block."""
    r = np.random.default_rng(0)
    x = r.normal(size=(3000, 8)).astype(np.float32)
    budget = 256 * 2**10
    runs = [
        lambda b: tb.knn(x, 5, device="cpu", budget=b),
        lambda b: tb.knn(x, 5, metric="ip", device="cpu", budget=b),
        lambda b: tb.nearest(x, x[:500], "cpu", budget=b),
        lambda b: tb.kmeans(x, 20, niter=2, init=x[:20], device="cpu", budget=b),
    ]
    for run in runs:
        assert _largest(run, budget) <= budget
    assert _largest(runs[0], None) > 100 * budget


def test_bad_backend_device_pairs_are_input_errors_before_any_work(monkeypatch, blobs):
    x, _ = blobs
    with pytest.raises(InputError, match="backend='numpy', device='cuda'"):
        registry.make("kcenter", {"backend": "numpy", "device": "cuda"})
    with pytest.raises(InputError, match="backend"):
        coreselect.select("herding", features=x, fraction=0.1, backend="jax")
    if not torch.cuda.is_available():
        for method in ("kcenter", "herding", "moderate", "facility-location", "boss", "sensitivity", "semdedup",
                       "craig", "d2", "regression-sensitivity"):
            with pytest.raises(InputError, match="device='cuda'.*no CUDA"):
                registry.make(method, {"backend": "torch", "device": "cuda"})
        assert be.resolve("torch", "auto") == TORCH
        assert be.resolve("auto", "auto") == be.NUMPY
    assert be.resolve("auto", "cpu") == be.NUMPY and be.resolve("torch", "cpu") == TORCH
    monkeypatch.setitem(sys.modules, "torch", None)  # torch not installed
    with pytest.raises(InputError, match="backend='torch', device='cpu' needs torch"):
        registry.make("facility-location", TORCH_CPU)
    assert be.resolve("auto", "auto") == be.NUMPY


def test_the_numpy_path_never_imports_torch(files):
    code = ("import sys, numpy as np, coreselect\n"
            "x = np.load(sys.argv[1])\n"
            "for name in ('kcenter', 'facility-location', 'moderate'):\n"
            "    coreselect.select(name, features=x, fraction=0.1, backend='numpy')\n"
            "coreselect.select('sensitivity', features=x, oracle=np.ones(len(x)), fraction=0.1, backend='numpy')\n")
    if not any(os.path.exists(node) for node in be._GPU_NODES):  # no GPU driver: "auto" is numpy, torch-free
        code += "coreselect.select('boss', features=x, fraction=0.1, labels=np.arange(len(x)) % 3,\n" \
                "                  signals={'el2n': np.ones(len(x)), 'aum': np.ones(len(x))})\n"
    code += "assert 'torch' not in sys.modules\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-W", "ignore", "-c", code, str(files / "x.npy")], check=True, env=env)
