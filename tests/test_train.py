"""Tests for coreselect.train: determinism, weighting, augmentation, models, Subset adapters."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from coreselect import Subset
from coreselect.errors import InputError
from coreselect.train import (
    MLP,
    ResNet18,
    SmallCNN,
    TrainConfig,
    WeightedSubset,
    accuracy,
    build_model,
    fit,
    predict,
    random_crop_flip,
    weighted_sampler,
)

torch.set_num_threads(1)


def _problem(n: int = 120, d: int = 4, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, d)).astype(np.float32) + 2 * y[:, None].astype(np.float32)
    return x, y


def _params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _fit(x: np.ndarray, y: np.ndarray, **kwargs: object):
    model = build_model("mlp", x.shape[1:], 3, seed=0, hidden=(16,), dropout=0.1)
    config = TrainConfig(epochs=3, batch_size=32, device="cpu", seed=1)
    return fit(model, x, y, config, progress=False, **kwargs)


def test_same_seed_identical_run() -> None:
    x, y = _problem()
    a, b = _fit(x, y), _fit(x, y)
    assert a.train_loss == b.train_loss
    for pa, pb in zip(_params(a.model), _params(b.model)):
        assert torch.equal(pa, pb)
    c = fit(
        build_model("mlp", (4,), 3, seed=0, hidden=(16,), dropout=0.1),
        x,
        y,
        TrainConfig(epochs=3, batch_size=32, device="cpu", seed=2),
        progress=False,
    )
    assert c.train_loss != a.train_loss


def test_fit_leaves_global_rng_alone() -> None:
    x, y = _problem()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _fit(x, y)
    assert torch.equal(torch.rand(3), expected)


def test_weights_are_normalised() -> None:
    x, y = _problem()
    ones, twos = _fit(x, y, sample_weight=np.ones(len(y))), _fit(x, y, sample_weight=np.full(len(y), 2.0))
    plain = _fit(x, y)
    assert ones.train_loss == twos.train_loss == plain.train_loss
    for pa, pb in zip(_params(ones.model), _params(twos.model)):
        assert torch.equal(pa, pb)


def test_near_zero_weights_change_the_model() -> None:
    x, y = _problem()
    w = np.ones(len(y))
    w[y == 0] = 1e-8
    plain, weighted = _fit(x, y), _fit(x, y, sample_weight=w)
    assert not all(torch.equal(a, b) for a, b in zip(_params(plain.model), _params(weighted.model)))
    # class 0 barely counts, so the weighted model predicts it less often
    assert (predict(weighted.model, x, device="cpu").argmax(1) == 0).sum() < (
        predict(plain.model, x, device="cpu").argmax(1) == 0
    ).sum()


@pytest.mark.parametrize("optimizer, lr", [("sgd", None), ("adam", 0.05)])
def test_fit_learns_and_reports_eval_accuracy(optimizer: str, lr: float | None) -> None:
    x, y = _problem(n=300)
    model = build_model("mlp", (4,), 3, seed=0, hidden=(16,))
    res = fit(
        model,
        x,
        y,
        TrainConfig(epochs=5, batch_size=32, device="cpu", optimizer=optimizer, lr=lr),
        x_eval=x[:100],
        y_eval=y[:100],
        progress=False,
    )
    assert len(res.train_loss) == 5 and res.train_loss[-1] < res.train_loss[0]
    assert res.eval_accuracy is not None and len(res.eval_accuracy) == 5
    assert accuracy(model, x, y, device="cpu") > 0.85
    logits, feats = predict(model, x, batch_size=64, device="cpu", return_features=True)
    assert logits.shape == (300, 3) and feats.shape == (300, 16)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y": np.full(120, 5)}, r"\[0, 3\)"),
        ({"sample_weight": -np.ones(120)}, "negative"),
        ({"sample_weight": np.zeros(120)}, "all weights are zero"),
        ({"x": np.full((120, 4), np.nan, dtype=np.float32)}, "NaN"),
        ({"y": np.zeros(7, dtype=int)}, "shape"),
    ],
)
def test_fit_validation(kwargs: dict, match: str) -> None:
    x, y = _problem()
    args = {"x": x, "y": y, **kwargs}
    model = build_model("mlp", (4,), 3, seed=0)
    with pytest.raises(InputError, match=match):
        fit(
            model,
            args["x"],
            args["y"],
            TrainConfig(epochs=1, device="cpu"),
            sample_weight=args.get("sample_weight"),
            progress=False,
        )


def test_config_validation() -> None:
    with pytest.raises(InputError):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(InputError):
        TrainConfig(epochs=-1)
    assert TrainConfig(optimizer="adam").learning_rate == 1e-3


def test_augment_shape_and_seed() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    a = random_crop_flip(x, padding=2, generator=torch.Generator().manual_seed(0))
    b = random_crop_flip(x, padding=2, generator=torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    outs = {
        random_crop_flip(x, padding=2, generator=torch.Generator().manual_seed(s)).sum().item()
        for s in range(8)
    }
    assert len(outs) > 1
    # no padding: only flips, and a flipped image is the mirror of the original
    c = random_crop_flip(x, padding=0, generator=torch.Generator().manual_seed(3))
    for i in range(2):
        assert torch.equal(c[i], x[i]) or torch.equal(c[i], x[i].flip(-1))
    # crops keep the content: every output pixel is an input pixel of the same channel or padding zero
    d = random_crop_flip(x, padding=2, flip=False, generator=torch.Generator().manual_seed(4))
    assert set(d[0, 1].unique().tolist()) <= set(x[0, 1].unique().tolist()) | {0.0}


def test_fit_with_augmentation_runs() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 1, 8, 8)).astype(np.float32), rng.integers(0, 2, 16)
    model = SmallCNN(num_classes=2, in_channels=1, in_size=8, width=4)
    res = fit(model, x, y, TrainConfig(epochs=1, batch_size=5, augment=True, device="cpu"), progress=False)
    assert np.isfinite(res.train_loss).all()


def test_model_shapes() -> None:
    for model, shape, width in [
        (ResNet18(10), (2, 3, 32, 32), 512),
        (ResNet18(4, in_channels=1), (2, 1, 28, 28), 512),
        (SmallCNN(10), (2, 1, 28, 28), 128),
        (MLP(12, 5, hidden=(8, 6)), (2, 3, 4), 6),
    ]:
        model.eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            out, h = model(x), model.features(x)
        assert out.shape == (2, model.head.out_features)
        assert h.shape == (2, width) and torch.allclose(model.head(h), out)
    assert isinstance(build_model("cnn", (1, 28, 28), 10), SmallCNN)
    with pytest.raises(InputError):
        build_model("vgg", (3, 32, 32), 10)
    a, b = build_model("mlp", (3,), 2, seed=5), build_model("mlp", (3,), 2, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_weighted_subset_dataset() -> None:
    data = torch.utils.data.TensorDataset(torch.arange(10.0)[:, None], torch.arange(10) % 2)
    subset = Subset(indices=np.array([7, 2, 5]), weights=np.array([2.0, 4.0, 6.0]), n=10)
    ds = WeightedSubset(data, subset)
    assert len(ds) == 3
    x, y, w = ds[1]
    assert float(x) == 2.0 and int(y) == 0 and float(w) == pytest.approx(1.0)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    np.testing.assert_allclose(batch[2].numpy(), [0.5, 1.0, 1.5])
    with pytest.raises(InputError):
        WeightedSubset(data, Subset(indices=np.array([1]), weights=np.array([1.0]), n=11))


def test_weighted_sampler() -> None:
    subset = Subset(indices=np.array([3, 8]), weights=np.array([1.0, 3.0]), n=10)
    sampler = weighted_sampler(subset, num_samples=4000, generator=torch.Generator().manual_seed(0))
    draws = np.array(list(sampler))
    assert set(draws.tolist()) == {3, 8}
    assert abs(np.mean(draws == 8) - 0.75) < 0.03
    assert len(list(weighted_sampler(subset))) == 2
    once = list(weighted_sampler(subset, replacement=False, generator=torch.Generator().manual_seed(1)))
    assert sorted(once) == [3, 8]
    with pytest.raises(InputError):
        weighted_sampler(subset, replacement=False, num_samples=3)
    with pytest.raises(InputError):
        weighted_sampler(subset, n=5)
