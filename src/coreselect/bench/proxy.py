"""Reference training for benchmarks: per-dataset defaults, the signal proxy, and subset training.

Defaults when ``--model`` / ``--epochs`` / ``--option lr=`` are not given (SGD, momentum 0.9, weight
decay 5e-4, cosine schedule to 0, batch 128, no augmentation unless ``--option augment=true``):

==============  =======  ======  =====  ===============================================
dataset         model    epochs  lr     note
==============  =======  ======  =====  ===============================================
mnist           cnn      10      0.05   SmallCNN (2×2 conv blocks + FC 128)
fashion-mnist   cnn      10      0.05   SmallCNN; 92.9% after 5 full-set epochs
digits          mlp      30      0.05   8×8 images, 1,437 training rows: an MLP suffices
a9a             mlp      10      0.05   123 binary features, 32,561 rows
four-moons      mlp      30      0.05   2-D toy, 4 classes
other (files)   cnn/mlp  10      0.05   cnn for square 28×28 (or larger) images, else mlp
==============  =======  ======  =====  ===============================================

The proxy is trained on the whole (transformed) training set with a
:class:`~coreselect.signals.DynamicsRecorder` that sees an evaluation pass after every epoch; its
signals, penultimate features and last-epoch logits feed the selection methods. Training a model
costs O(epochs · n) forward/backward passes; the recorder adds one forward pass per epoch and
O(n·C + n·d) memory.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coreselect.bench.datasets import BenchData
from coreselect.errors import InputError
from coreselect.files import atomic_write
from coreselect.npyio import NpzArchive


@dataclass(frozen=True)
class Defaults:
    model: str
    epochs: int
    lr: float = 0.05
    batch_size: int = 128


DEFAULTS: dict[str, Defaults] = {
    "mnist": Defaults("cnn", 10),
    "fashion-mnist": Defaults("cnn", 10),
    "digits": Defaults("mlp", 30),
    "a9a": Defaults("mlp", 10),
    "four-moons": Defaults("mlp", 30),
}


def defaults_for(data: BenchData) -> Defaults:
    """The row of :data:`DEFAULTS` for `data`, or cnn/mlp by input shape for other datasets."""
    if data.name in DEFAULTS:
        return DEFAULTS[data.name]
    shape = data.image_shape
    square = shape is not None and len(shape) == 3 and shape[1] == shape[2] and shape[1] >= 28
    return Defaults("cnn" if square else "mlp", 10)


#: The `Recipe` settings every training protocol takes as ``--option`` (each parses them into its recipe).
RECIPE_OPTIONS: dict[str, str] = {
    "lr": "learning rate (default: the per-dataset table)",
    "batch_size": "batch size (default 128)",
    "width": "channels of the cnn's first conv block, twice that in the second (default 32)",
}


@dataclass(frozen=True)
class Recipe:
    """How one model is trained: architecture (`width`: the cnn's channels, None for its default),
    epochs and optimiser settings (seeded per run)."""

    model: str
    epochs: int
    lr: float
    batch_size: int = 128
    augment: bool = False
    width: int | None = None
    device: str = "auto"

    def config(self, seed: int, epochs: int | None = None) -> Any:
        from coreselect.train import TrainConfig

        return TrainConfig(
            epochs=self.epochs if epochs is None else epochs, batch_size=self.batch_size, lr=self.lr,
            augment=self.augment, device=self.device, seed=seed,
        )

    def inputs(self, data: BenchData, x: np.ndarray) -> np.ndarray:
        """`x` rows shaped for the model: images ``(n, C, H, W)`` for cnn/resnet18, flat otherwise."""
        if self.model == "mlp":
            return x
        if data.image_shape is None:
            raise InputError(f"model {self.model!r} needs images; dataset {data.name!r} has flat features")
        return x.reshape(x.shape[0], *data.image_shape)

    def build(self, data: BenchData, seed: int) -> Any:
        """A freshly initialised model; its weights depend only on `seed`."""
        from coreselect.train import build_model

        shape = data.image_shape if self.model != "mlp" and data.image_shape else (data.x_train.shape[1],)
        extra = {} if self.width is None else {"width": self.width}
        return build_model(self.model, shape, data.num_classes, seed=seed, **extra)

    def check(self, data: BenchData) -> None:
        """Validate the recipe for `data` before any training (unknown model, image model on flat
        features, augmentation without images, bad optimiser settings or device)."""
        from coreselect.train import MODEL_NAMES, resolve_device

        if self.model not in MODEL_NAMES:
            raise InputError(f"unknown model {self.model!r}; choose one of {', '.join(MODEL_NAMES)}")
        if self.model != "mlp" and (data.image_shape is None or len(data.image_shape) != 3):
            raise InputError(f"model {self.model!r} needs image input (C, H, W); dataset {data.name!r} has flat features")
        if self.width is not None and self.model != "cnn":
            raise InputError(f"width={self.width} sets the cnn's channels; model {self.model!r} has no such option")
        if self.augment and self.model == "mlp":
            raise InputError("augment=true needs an image model (cnn or resnet18), not mlp")
        self.config(0)  # TrainConfig validates epochs, lr, batch size and device
        resolve_device(self.device)


SIGNALS = ("el2n", "forgetting", "aum", "aum_prob", "grand", "loss")


@dataclass(frozen=True, eq=False)
class ProxyRun:
    """What the proxy yields: per-example `signals`, penultimate `features (n, d)` and `logits (n, C)`
    of the training set at the feature epoch, the final model's features and logits of the test set, its
    test accuracy, its training time in seconds (recorder passes included) and its final-epoch
    training loss."""

    signals: dict[str, np.ndarray]
    features: np.ndarray
    logits: np.ndarray
    features_test: np.ndarray
    logits_test: np.ndarray
    test_accuracy: float
    seconds: float
    train_loss: float

    def save(self, path: Path) -> None:
        """Atomic ``.npz`` (temp file + rename)."""
        arrays = {**self.signals, "features": self.features, "logits": self.logits,
                  "features_test": self.features_test, "logits_test": self.logits_test,
                  "test_accuracy": np.float64(self.test_accuracy), "seconds": np.float64(self.seconds),
                  "train_loss": np.float64(self.train_loss)}
        write_npz(path, arrays)

    @classmethod
    def load_cached(cls, path: Path) -> ProxyRun | None:
        """The run saved at `path`, or None when there is none or it is torn (it is then retrained)."""
        z = read_cache(path, (*SIGNALS, "features", "logits", "features_test", "logits_test", "test_accuracy",
                              "seconds", "train_loss"))
        if z is None:
            return None
        return cls(
            signals={k: z[k] for k in SIGNALS}, features=z["features"], logits=z["logits"],
            features_test=z["features_test"], logits_test=z["logits_test"],
            test_accuracy=float(z["test_accuracy"]), seconds=float(z["seconds"]), train_loss=float(z["train_loss"]),
        )


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``numpy.savez`` through :func:`coreselect.files.atomic_write`: never a half-written file."""
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def read_cache(path: Path, names: Iterable[str]) -> dict[str, np.ndarray] | None:
    """The arrays `names` of a cache file written by :func:`write_npz`, or None when it is missing, torn
    (a kill or a crash while it was written) or lacks one of them: the caller recomputes and rewrites it."""
    try:
        with NpzArchive(path) as archive:
            return {name: archive.read(name) for name in names}
    except InputError:
        return None


def train_proxy(data: BenchData, recipe: Recipe, seed: int, el2n_epochs: int | None = None,
                feature_epoch: int | None = None) -> ProxyRun:
    """Train `recipe` on the whole training set, recording dynamics after every epoch.

    As the BOSS and CCS evaluations do (METHODS.md, Signals): EL2N averages the first ``el2n_epochs``
    epochs (default ``min(10, epochs)``); the penultimate features and the logits (for gradient
    embeddings) are those of epoch ``feature_epoch`` (1-based, default ``min(10, epochs)``); AUM,
    aum_prob and forgetting use every epoch; GraNd and loss the last.
    """
    from coreselect.signals import DynamicsRecorder
    from coreselect.train import fit, predict

    window = el2n_epochs or min(10, recipe.epochs)
    at = feature_epoch or min(10, recipe.epochs)
    for name, value in (("el2n_epochs", window), ("feature_epoch", at)):
        if not 1 <= value <= recipe.epochs:
            raise InputError(f"{name} must be in [1, {recipe.epochs}] (the proxy's epochs), got {value}")
    recorder = DynamicsRecorder(data.n, data.num_classes, epochs=window, features_epoch=at - 1, keep_logits=True)
    model = recipe.build(data, seed)
    start = time.perf_counter()
    run = fit(model, recipe.inputs(data, data.x_train), data.y_train, recipe.config(seed), recorder=recorder)
    seconds = time.perf_counter() - start
    signals = recorder.result()
    if "features" not in signals:
        raise InputError(f"model {recipe.model!r} exposes no penultimate features (features/head)")
    features, logits = signals["features"], signals["logits"]
    logits_test, features_test = predict(
        model, recipe.inputs(data, data.x_test), device=recipe.device, return_features=True
    )
    return ProxyRun(
        signals={k: np.asarray(signals[k], dtype=np.float64) for k in SIGNALS},
        features=np.ascontiguousarray(features, dtype=np.float32),
        logits=np.ascontiguousarray(logits, dtype=np.float32),
        features_test=np.ascontiguousarray(features_test, dtype=np.float32),
        logits_test=np.ascontiguousarray(logits_test, dtype=np.float32),
        test_accuracy=float(np.mean(logits_test.argmax(axis=1) == data.y_test)),
        seconds=seconds,
        train_loss=run.train_loss[-1],
    )


@dataclass(frozen=True)
class Trained:
    """One model trained by :func:`train_subset`: test accuracy after its final epoch (never the best
    epoch), training seconds, the SGD steps taken and the final epoch's (weighted) training loss."""

    accuracy: float
    seconds: float
    steps: int
    train_loss: float


def train_subset(
    data: BenchData, recipe: Recipe, seed: int, rows: np.ndarray | None = None,
    weights: np.ndarray | None = None, epochs: int | None = None,
) -> Trained:
    """Train a fresh model on training `rows` (all when None) with per-example `weights` for `epochs`
    (default the recipe's)."""
    from coreselect.train import accuracy, fit, steps_per_epoch

    x, y = (data.x_train, data.y_train) if rows is None else (data.x_train[rows], data.y_train[rows])
    model = recipe.build(data, seed)
    config = recipe.config(seed, epochs)
    start = time.perf_counter()
    run = fit(model, recipe.inputs(data, x), y, config, sample_weight=weights)
    seconds = time.perf_counter() - start
    acc = accuracy(model, recipe.inputs(data, data.x_test), data.y_test, device=recipe.device)
    return Trained(acc, seconds, config.epochs * steps_per_epoch(y.shape[0], config.batch_size), run.train_loss[-1])


def cache_name(fields: dict[str, Any]) -> str:
    """A file name that identifies a proxy by everything its training depends on."""
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"proxy-seed{fields['seed']}-{digest}.npz"
