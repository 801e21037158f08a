"""CW-ERM: Meta-Weight-Net bilevel step, weight broadcast, the pipeline and the reweight bench protocol."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from coreselect.errors import InputError
from coreselect.reweight import MetaWeightNet, broadcast, cwerm
from coreselect.reweight.mwnet import MetaConfig, bilevel_step, meta_split, train_mwnet, virtual_step
from coreselect.train import TrainConfig


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is faster than several waiting on each other on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def noisy_blobs(n: int = 2400, classes: int = 4, d: int = 8, rate: float = 0.4, seed: int = 0):
    """Separated Gaussian blobs; `rate` of the labels moved to another class. Returns x, noisy y, true y, mask."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, d))
    truth = rng.integers(0, classes, n)
    x = (rng.normal(size=(n, d)) + centers[truth]).astype(np.float32)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=int(rate * n), replace=False)] = True
    y = truth.copy()
    y[flipped] = (truth[flipped] + rng.integers(1, classes, flipped.sum())) % classes
    return x, y, truth, flipped


def small_mlp(d: int = 8, classes: int = 4, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, classes))


CONFIG = MetaConfig(epochs=15, batch_size=100, meta_batch_size=100, meta_fraction=0.2, device="cpu", seed=0)


# --- Meta-Weight-Net -------------------------------------------------------------------------------


def test_flipped_examples_get_lower_weight_with_a_clean_meta_split_and_after_broadcast():
    x, y, truth, flipped = noisy_blobs()
    coreset = np.sort(np.random.default_rng(1).choice(x.shape[0], size=800, replace=False))
    result = train_mwnet(small_mlp(), x[coreset], y[coreset], CONFIG, meta_labels=truth[coreset])
    reweighted = result.train_rows
    core_flipped = flipped[coreset][reweighted]
    w = result.weights[reweighted]
    assert w[core_flipped].mean() < 0.5 * w[~core_flipped].mean()

    full = broadcast(x, coreset, result.weights, labels=y)
    assert full[flipped].mean() < 0.5 * full[~flipped].mean()
    smoothed = broadcast(x, coreset, result.weights, k=5, labels=y)
    assert smoothed[flipped].mean() < 0.5 * smoothed[~flipped].mean()


def test_virtual_step_matches_hand_computed_sgd_on_a_linear_model():
    torch.manual_seed(0)
    model = nn.Linear(3, 4).double()
    vnet = MetaWeightNet().double()
    x = torch.randn(6, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    lr = 0.3
    new, _ = virtual_step(model, vnet, x, y, lr)

    with torch.no_grad():
        W, b = model.weight, model.bias
        p = torch.softmax(x @ W.T + b, dim=1)
        losses = -torch.log(p[torch.arange(6), y])
        w = vnet(losses)
        residual = (p - F.one_hot(y, 4).double()) * w[:, None] / 6  # d(Σ w_i L_i / B)/d logits
        expected_W = W - lr * residual.T @ x
        expected_b = b - lr * residual.sum(0)
    assert torch.allclose(new["weight"], expected_W, atol=1e-6, rtol=0)
    assert torch.allclose(new["bias"], expected_b, atol=1e-6, rtol=0)
    assert torch.equal(model.weight, W)  # the module itself is untouched


def test_virtual_step_is_differentiable_in_the_weight_net_and_leaves_batchnorm_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    vnet = MetaWeightNet()
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    running = model[1].running_mean.clone()
    new, rest = virtual_step(model, vnet, x, y, 0.1)
    meta = F.cross_entropy(torch.func.functional_call(model, {**new, **rest}, (x,)), y)
    grads = torch.autograd.grad(meta, list(vnet.parameters()))
    assert all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert torch.equal(model[1].running_mean, running)


def test_bilevel_step_updates_both_networks():
    torch.manual_seed(0)
    model, vnet = small_mlp(), MetaWeightNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    vopt = torch.optim.Adam(vnet.parameters(), lr=1e-2)
    before_model = [p.detach().clone() for p in model.parameters()]
    before_vnet = [p.detach().clone() for p in vnet.parameters()]
    x, y = torch.randn(20, 8), torch.randint(0, 4, (20,))
    meta_loss, weights = bilevel_step(model, vnet, x, y, x[:10], y[:10], opt, vopt, 0.1)
    assert np.isfinite(meta_loss) and weights.shape == (20,)
    assert ((weights > 0) & (weights < 1)).all()
    assert any(not torch.equal(a, b) for a, b in zip(before_model, model.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_vnet, vnet.parameters()))


def test_meta_split_is_class_stratified_and_disjoint():
    labels = np.repeat([0, 1, 2], [50, 20, 2])
    train, meta = meta_split(labels, 0.1, np.random.default_rng(0))
    assert np.intersect1d(train, meta).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, meta])), np.arange(labels.size))
    assert [int((labels[meta] == c).sum()) for c in range(3)] == [5, 2, 1]


def test_train_mwnet_is_deterministic_given_a_seed():
    x, y, _, _ = noisy_blobs(n=300)
    config = MetaConfig(epochs=2, batch_size=50, device="cpu", seed=3)
    a = train_mwnet(small_mlp(), x, y, config)
    b = train_mwnet(small_mlp(), x, y, config)
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.meta_rows, b.meta_rows)
    assert a.weights.shape == (300,) and np.all((a.weights > 0) & (a.weights < 1))
    c = train_mwnet(small_mlp(), x, y, MetaConfig(epochs=2, batch_size=50, device="cpu", seed=4))
    assert not np.array_equal(a.meta_rows, c.meta_rows)


def test_coreset_too_small_to_split_per_class():
    x, y, _, _ = noisy_blobs(n=200)
    y = y.copy()
    y[0] = 4  # a class of one example
    with pytest.raises(InputError, match="too small to split per class.*class 4 has 1"):
        train_mwnet(nn.Linear(8, 5), x, y, MetaConfig(epochs=1, device="cpu"))
    # through the pipeline: 1% of 200 rows leaves a class a single coreset example
    x, y, _, _ = noisy_blobs(n=200)
    with pytest.raises(InputError, match="too small to split per class"):
        cwerm(x, y, small_mlp, features=x, fraction=0.02, train=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"meta_fraction": 1.0}, "meta_fraction"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_meta_config_rejects_bad_values(kwargs, message):
    with pytest.raises(InputError, match=message):
        MetaConfig(**kwargs)


def test_train_mwnet_rejects_mismatched_labels():
    x, y, _, _ = noisy_blobs(n=100)
    with pytest.raises(InputError, match="y must have shape"):
        train_mwnet(small_mlp(), x, y[:50], CONFIG)
    with pytest.raises(InputError, match="meta_labels"):
        train_mwnet(small_mlp(), x, y, CONFIG, meta_labels=y[:50])


# --- broadcast -------------------------------------------------------------------------------------


def test_broadcast_k1_gives_each_coreset_example_its_own_weight():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)).astype(np.float32)
    labels = rng.integers(0, 3, 500)
    idx = np.sort(rng.choice(500, size=40, replace=False))
    w = rng.random(40)
    for lab in (None, labels):
        out = broadcast(x, idx, w, labels=lab)
        assert out.shape == (500,) and np.array_equal(out[idx], w)
        assert np.array_equal(out, broadcast(x, idx, w, labels=lab))  # deterministic
    # every example takes the weight of its nearest coreset example
    nearest = np.argmin(((x[:, None, :] - x[idx][None]) ** 2).sum(-1), axis=1)
    assert np.array_equal(broadcast(x, idx, w), w[nearest])


def test_broadcast_k_neighbours_inverse_distance_and_same_class():
    x = np.array([[0.0], [1.0], [0.25], [0.9]], dtype=np.float32)
    idx, w = np.array([0, 1]), np.array([0.0, 1.0])
    out = broadcast(x, idx, w, k=2)
    assert out[2] == pytest.approx((1 / 0.75) / (1 / 0.25 + 1 / 0.75))  # = 0.25
    assert out[0] == 0.0 and out[1] == 1.0  # exact matches keep their own weight
    # with labels, row 3 (label 0) may only look at row 0, although row 1 is nearer
    labels = np.array([0, 1, 1, 0])
    assert broadcast(x, idx, w, labels=labels).tolist() == [0.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((np.zeros((10, 3)), [0, 1], [1.0, np.nan]), {}, "NaN"),
        ((np.zeros((10, 3)), [0, 10], [1.0, 1.0]), {}, "out of range"),
        ((np.zeros((10, 3)), [-1, 2], [1.0, 1.0]), {}, "out of range"),
        ((np.zeros((10, 3)), [1, 1], [1.0, 1.0]), {}, "repeated"),
        ((np.zeros((10, 3)), [0, 1], [1.0]), {}, "coreset_weights must have shape"),
        ((np.zeros((10, 3)), [0, 1], [1.0, -1.0]), {}, ">= 0"),
        ((np.zeros((10, 3)), [0, 1], [1.0, 1.0]), {"k": 3}, "k must be"),
        ((np.zeros(10), [0, 1], [1.0, 1.0]), {}, "2-D"),
        ((np.zeros((10, 0)), [0, 1], [1.0, 1.0]), {}, "2-D"),
        ((np.zeros((10, 3)), [0, 1], [1.0, 1.0]), {"coreset_features": np.zeros((2, 4))}, "width 4.*width 3"),
        ((np.zeros((10, 3)), [0, 1], [1.0, 1.0]), {"labels": np.zeros(9)}, "labels must have shape"),
        ((np.zeros((10, 3)), [0, 1], [1.0, 1.0]), {"labels": np.r_[0, 0, np.ones(8, int)]}, "class 1.*no coreset"),
        ((np.full((10, 3), np.nan), [0, 1], [1.0, 1.0]), {}, "NaN"),
    ],
)
def test_broadcast_bad_input(args, kwargs, message):
    with pytest.raises(InputError, match=message):
        broadcast(*args, **kwargs)


def test_broadcast_with_separate_coreset_features():
    x = np.array([[0.0], [1.0], [0.4]], dtype=np.float32)
    out = broadcast(x, [0, 1], [0.2, 0.8], coreset_features=np.array([[1.0], [0.0]]))
    assert out.tolist() == pytest.approx([0.8, 0.2, 0.8])


def test_broadcast_does_not_import_torch():
    code = (
        "import sys, numpy as np, coreselect, coreselect.reweight as r;"
        "r.broadcast(np.eye(3, dtype='float32'), [0, 1], [1.0, 2.0]);"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- pipeline ----------------------------------------------------------------------------------------


def test_cwerm_end_to_end_is_deterministic_and_saves_aligned_weights(tmp_path):
    x, y, _, _ = noisy_blobs(n=1200, rate=0.2)
    kwargs = {
        "features": x, "fraction": 0.1, "seed": 0,
        "meta_config": MetaConfig(epochs=3, batch_size=50, device="cpu", seed=0),
        "train_config": TrainConfig(epochs=2, device="cpu", seed=0),
    }
    a = cwerm(x, y, small_mlp, **kwargs)
    b = cwerm(x, y, small_mlp, **kwargs)
    assert np.array_equal(a.weights, b.weights)
    assert a.weights.shape == (1200,) and np.all(np.isfinite(a.weights))
    assert np.array_equal(a.weights[a.coreset.indices], a.coreset_weights)
    assert len(a.coreset) == 120 and a.coreset.method == "moderate"
    assert np.isin(a.meta_indices, a.coreset.indices).all()
    assert set(a.timings) == {"features", "select", "meta_train", "broadcast", "train", "total"}
    assert a.model is not None
    path = a.save(tmp_path / "w.npz")
    with np.load(path) as z:
        assert np.array_equal(z["weights"], a.weights)
        assert np.array_equal(z["coreset_indices"], a.coreset.indices)


def test_cwerm_features_from_a_feature_model_and_input_checks():
    x, y, _, _ = noisy_blobs(n=600)
    feature_model = nn.Module()
    feature_model.body, feature_model.head = nn.Linear(8, 5), nn.Linear(5, 4)
    feature_model.features = feature_model.body
    feature_model.forward = lambda t: feature_model.head(feature_model.body(t))
    config = MetaConfig(epochs=1, device="cpu")
    result = cwerm(x, y, small_mlp, feature_model=feature_model, fraction=0.1, meta_config=config, train=False)
    assert result.model is None and result.weights.shape == (600,)
    with pytest.raises(InputError, match="exactly one of features"):
        cwerm(x, y, small_mlp, fraction=0.1, meta_config=config, train=False)
    with pytest.raises(InputError, match="features must be"):
        cwerm(x, y, small_mlp, features=x[:10], fraction=0.1, meta_config=config, train=False)
    with pytest.raises(InputError, match="one label per row"):
        cwerm(x, y[:10], small_mlp, features=x, fraction=0.1, meta_config=config, train=False)


# --- bench protocol -----------------------------------------------------------------------------------


def test_reweight_protocol_runs_every_arm_and_resumes(tmp_path):
    from coreselect.bench import BenchConfig
    from coreselect.bench.runner import run_bench

    config = BenchConfig(
        dataset="digits", protocol="reweight", out=tmp_path / "out", methods=("moderate:per_class=true",),
        seeds=1, epochs=1, model="mlp", device="cpu",
        options={"coreset": "0.1", "coreset_epochs": "2", "noise": "0.2", "k": "2", "same_class": "true"},
    )
    run_bench(config)
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["key"]["arm"] for r in records] == ["erm", "cerm", "cwerm", "werm"]
    assert all(0 <= r["metrics"]["test_accuracy"] <= 1 and r["timings"]["total"] > 0 for r in records)
    cw = records[2]
    assert {"features", "select", "meta_train", "broadcast", "train_full"} <= set(cw["timings"])
    assert cw["key"]["same_class"] is True and cw["key"]["k"] == 2 and cw["key"]["transform"] == "noise=0.2"
    assert "weight_ratio" in cw["metrics"] and "noisy_fraction" in cw["metrics"]
    with np.load(tmp_path / "out" / cw["weights_file"]) as z:
        assert z["weights"].shape == z["labels"].shape == z["rows"].shape
    run_bench(config)  # resume: nothing left to do
    assert len((tmp_path / "out" / "results.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize(
    "methods, options, message",
    [
        (("moderate",), {"arms": "erm,foo"}, "arms"),
        (("moderate",), {"coreset": "0"}, "coreset"),
        (("moderate",), {"allocation": "equal"}, "allocation"),
        (("moderate",), {"same_class": "maybe"}, "same_class"),
        (("moderate", "uniform"), {}, "one --methods"),
        (("moderate",), {"bogus": "1"}, "no option bogus"),
    ],
)
def test_reweight_protocol_bad_options(tmp_path, methods, options, message):
    from coreselect.bench import BenchConfig
    from coreselect.bench.runner import validate

    config = BenchConfig(dataset="digits", protocol="reweight", out=tmp_path / "o", methods=methods,
                         seeds=1, options=options)
    with pytest.raises(InputError, match=message):
        validate(config)
