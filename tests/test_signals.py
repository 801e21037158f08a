"""Tests for coreselect.signals: DynamicsRecorder definitions, validation, and a noisy-label check."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from coreselect.errors import InputError
from coreselect.signals import HIGHER_IS_HARDER, DynamicsRecorder


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_import_does_not_pull_torch() -> None:
    code = "import sys, coreselect.signals; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_higher_is_harder_covers_signals() -> None:
    rec = DynamicsRecorder(2, 2, epochs=1)
    rec.update(0, [0, 1], np.zeros((2, 2)), [0, 1])
    assert set(rec.result()) == set(HIGHER_IS_HARDER)
    assert HIGHER_IS_HARDER["aum"] is False


def test_el2n_averages_first_e_epochs() -> None:
    rng = np.random.default_rng(0)
    n, c, epochs, e = 4, 3, 5, 3
    labels = np.array([0, 1, 2, 1])
    logits = rng.normal(size=(epochs, n, c)) * 3
    rec = DynamicsRecorder(n, c, epochs=e)
    for t in range(epochs):
        rec.update(t + 1, np.arange(n), logits[t], labels)  # 1-based epochs: same result
    out = rec.result()
    onehot = np.eye(c)[labels]
    per_epoch = np.array([np.linalg.norm(_softmax(logits[t]) - onehot, axis=1) for t in range(epochs)])
    np.testing.assert_allclose(out["el2n"], per_epoch[:e].mean(axis=0), rtol=1e-12)
    # AUM over all recorded epochs, loss at the last
    z = logits
    true = z[:, np.arange(n), labels]
    other = np.where(np.eye(c, dtype=bool)[labels][None], -np.inf, z).max(axis=2)
    np.testing.assert_allclose(out["aum"], (true - other).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(out["loss"], -np.log(_softmax(z[-1])[np.arange(n), labels]), rtol=1e-10)
    # GraNd without features: the gradient norm w.r.t. the logits at the last epoch
    np.testing.assert_allclose(out["grand"], per_epoch[-1], rtol=1e-12)


def test_forgetting_hand_crafted() -> None:
    # correctness per epoch (rows: examples): C I C I -> 2; I I C C -> 0; never -> 4 + 1; C C C I -> 1
    pattern = np.array([[1, 0, 1, 0], [0, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=bool)
    labels = np.zeros(4, dtype=int)
    rec = DynamicsRecorder(4, 2, epochs=10)
    for t in range(4):
        logits = np.where(pattern[:, t, None], [[2.0, -1.0]], [[-1.0, 2.0]])
        rec.update(t, np.arange(4), logits, labels)
    np.testing.assert_array_equal(rec.result()["forgetting"], [2, 0, 5, 1])


def test_per_batch_updates_equal_one_update() -> None:
    rng = np.random.default_rng(1)
    n, c = 10, 3
    logits, labels, feats = rng.normal(size=(3, n, c)), rng.integers(0, c, n), rng.normal(size=(3, n, 4))
    whole, batched = DynamicsRecorder(n, c, epochs=2), DynamicsRecorder(n, c, epochs=2)
    for t in range(3):
        whole.update(t, np.arange(n), logits[t], labels, feats[t])
        for part in np.array_split(rng.permutation(n), 3):
            batched.update(t, part, logits[t][part], labels[part], feats[t][part])
    a, b = whole.result(), batched.result()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12)
    np.testing.assert_allclose(a["features"], feats[-1].astype(np.float32))


def test_numpy_and_torch_inputs_agree() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    n, c = 8, 4
    logits, labels, feats = rng.normal(size=(2, n, c)), rng.integers(0, c, n), rng.normal(size=(2, n, 5))
    a, b = DynamicsRecorder(n, c), DynamicsRecorder(n, c)
    for t in range(2):
        a.update(t, np.arange(n), logits[t].astype(np.float32), labels, feats[t].astype(np.float32))
        b.update(
            t,
            torch.arange(n),
            torch.tensor(logits[t], dtype=torch.float32, requires_grad=True),
            torch.tensor(labels),
            torch.tensor(feats[t], dtype=torch.float32),
        )
    ra, rb = a.result(), b.result()
    assert ra.keys() == rb.keys()
    for key in ra:
        np.testing.assert_array_equal(ra[key], rb[key])


def test_missing_rows() -> None:
    rec = DynamicsRecorder(5, 2)
    rec.update(0, [0, 2, 4], np.zeros((3, 2)), [0, 1, 0])
    with pytest.raises(InputError, match="2 of 5 examples were never recorded"):
        rec.result()
    rec.allow_missing = True
    out = rec.result()
    assert np.isnan(out["el2n"][[1, 3]]).all() and np.isfinite(out["el2n"][[0, 2, 4]]).all()


def test_features_epoch() -> None:
    rec = DynamicsRecorder(3, 2, features_epoch=1)
    for t in range(3):
        rec.update(t, np.arange(3), np.zeros((3, 2)), [0, 1, 1], np.full((3, 2), float(t)))
    assert (rec.result()["features"] == 1.0).all()


def test_history() -> None:
    rec = DynamicsRecorder(2, 2, keep_history=True)
    rec.update(0, [0, 1], np.array([[1.0, 0.0], [1.0, 0.0]]), [0, 1])
    rec.update(1, [1], np.array([[0.0, 3.0]]), [1])
    h = rec.history()
    np.testing.assert_array_equal(h["epochs"], [0, 1])
    np.testing.assert_allclose(h["margin"], [[1.0, -1.0], [np.nan, 3.0]])
    np.testing.assert_array_equal(h["correct"], [[True, False], [False, True]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"indices": [0, 9]}, "out of range"),
        ({"labels": [0, 2]}, "outside"),
        ({"logits": np.array([[0.0, np.nan], [0.0, 0.0]])}, "not finite"),
        ({"logits": np.zeros((2, 3))}, "logits must have shape"),
        ({"indices": [1, 1]}, "duplicate"),
        ({"labels": [0.5, 1]}, "integers"),
        ({"features": np.zeros((3, 2))}, "features must have shape"),
    ],
)
def test_update_validation(kwargs: dict, match: str) -> None:
    args = {"indices": [0, 1], "logits": np.zeros((2, 2)), "labels": [0, 1], "features": None}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        DynamicsRecorder(3, 2).update(0, **args)


def test_same_epoch_twice_and_label_change_rejected() -> None:
    rec = DynamicsRecorder(3, 2)
    rec.update(1, [0, 1], np.zeros((2, 2)), [0, 1])
    with pytest.raises(InputError, match="already recorded"):
        rec.update(1, [1, 2], np.zeros((2, 2)), [1, 0])
    with pytest.raises(InputError, match="differ"):
        rec.update(2, [0], np.zeros((1, 2)), [1])


def test_grand_matches_autograd_last_layer() -> None:
    torch = pytest.importorskip("torch")
    from coreselect.train import MLP

    torch.manual_seed(0)
    model = MLP(6, 3, hidden=(16,))
    x, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        h = model.features(x)
        logits = model.head(h)
    rec = DynamicsRecorder(5, 3, epochs=1)
    rec.update(0, np.arange(5), logits, y, h)
    grand = rec.result()["grand"]
    for i in range(5):
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
        loss.backward()
        g = torch.cat([model.head.weight.grad.reshape(-1), model.head.bias.grad])
        assert abs(grand[i] - float(g.norm())) < 1e-5


def test_noisy_labels_are_ranked() -> None:
    """Pleiss et al. 2020: flipped labels get low AUM; EL2N and forgetting rank them as hard."""
    torch = pytest.importorskip("torch")
    from sklearn.metrics import roc_auc_score

    from coreselect.train import TrainConfig, build_model, fit

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = 600
    y = rng.integers(0, 2, n)
    x = (rng.normal(size=(n, 5)) + 1.2 * (2 * y[:, None] - 1)).astype(np.float32)
    flipped = rng.random(n) < 0.2
    noisy = np.where(flipped, 1 - y, y)
    model = build_model("mlp", (5,), 2, seed=0, hidden=(32,))
    rec = DynamicsRecorder(n, 2, epochs=10)
    fit(model, x, noisy, TrainConfig(epochs=15, batch_size=64, lr=0.05), recorder=rec, progress=False)
    s = rec.result()
    assert s["features"].shape == (n, 32)
    assert roc_auc_score(flipped, -s["aum"]) >= 0.9
    assert roc_auc_score(flipped, s["el2n"]) >= 0.8
    assert roc_auc_score(flipped, s["forgetting"]) >= 0.8


def test_aum_prob_sums_the_probability_margin_over_epochs() -> None:
    """CCS's accumulated margin: Σ_t (p_y − max_{k≠y} p_k), a sum rather than AUM's mean of logit margins."""
    rng = np.random.default_rng(0)
    logits = [rng.normal(size=(5, 3)) for _ in range(4)]
    y = np.array([0, 1, 2, 0, 1])
    rec = DynamicsRecorder(5, 3, epochs=2)
    for t, z in enumerate(logits):
        rec.update(t, np.arange(5), z, y)
    expected = np.zeros(5)
    for z in logits:
        p = _softmax(z)
        others = p.copy()
        others[np.arange(5), y] = -np.inf
        expected += p[np.arange(5), y] - others.max(axis=1)
    out = rec.result()
    np.testing.assert_allclose(out["aum_prob"], expected, rtol=1e-12)
    assert HIGHER_IS_HARDER["aum_prob"] is False


def test_logits_kept_from_the_feature_epoch() -> None:
    rng = np.random.default_rng(1)
    rec = DynamicsRecorder(4, 2, epochs=1, features_epoch=1, keep_logits=True)
    zs = [rng.normal(size=(4, 2)) for _ in range(3)]
    hs = [rng.normal(size=(4, 5)) for _ in range(3)]
    for t in range(3):
        rec.update(t, np.arange(4), zs[t], [0, 1, 0, 1], features=hs[t])
    out = rec.result()
    np.testing.assert_allclose(out["features"], hs[1].astype(np.float32))
    np.testing.assert_allclose(out["logits"], zs[1].astype(np.float32))
    rec = DynamicsRecorder(4, 2, epochs=1)
    rec.update(0, np.arange(4), zs[0], [0, 1, 0, 1], features=hs[0])
    assert "logits" not in rec.result()
