"""Weighted training loop over whole tensors, batched prediction, device handling.

The data are moved to the device once; each epoch visits a permutation drawn from a seeded
``torch.Generator`` (no DataLoader), so the same seed gives the same run on CPU. Per-example weights
follow the library convention (normalised to mean 1 over the training set): the loss of a batch is
``mean_i(w_i · CE_i)``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from coreselect import threads
from coreselect.checks import check_seed
from coreselect.errors import InputError
from coreselect.progress import Progress
from coreselect.signals import DynamicsRecorder
from coreselect.train.augment import random_crop_flip

_OPTIMIZERS = ("sgd", "adam")
_SCHEDULES = ("cosine", "constant")
_DEVICES = ("auto", "cpu", "cuda")
_MAX_FLOAT32 = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`fit`.

    ``lr=None`` means 0.1 for SGD and 1e-3 for Adam. ``schedule="cosine"`` anneals the learning rate
    to 0 over all steps. ``augment`` applies :func:`random_crop_flip` (images only). ``device="auto"``
    is CUDA when available, else CPU. ``deterministic`` asks torch for deterministic kernels during
    the fit (on CUDA only when ``CUBLAS_WORKSPACE_CONFIG`` is set, as cuBLAS requires). ``threads``
    is torch's CPU thread count during the fit (None: :func:`coreselect.threads.default_threads`, which
    is 1 on machines with at most 2 cores: small models train several times faster there on one thread).
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    augment: bool = False
    device: str = "auto"
    seed: int = 0
    eval_batch_size: int = 1024
    deterministic: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value, low = getattr(self, name), 0 if name == "epochs" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"TrainConfig.{name} must be an integer >= {low}, got {value!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise InputError(f"TrainConfig.optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in _SCHEDULES:
            raise InputError(f"TrainConfig.schedule must be one of {_SCHEDULES}, got {self.schedule!r}")
        if self.device not in _DEVICES:
            raise InputError(f"TrainConfig.device must be one of {_DEVICES}, got {self.device!r}")
        if self.lr is not None and not (math.isfinite(self.lr) and 0 < self.lr <= _MAX_FLOAT32):
            raise InputError(f"TrainConfig.lr must be > 0 and a float32 (at most {_MAX_FLOAT32:.3g}), got {self.lr!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise InputError(f"TrainConfig.threads must be a positive integer or None, got {self.threads!r}")
        if not (self.momentum >= 0 and self.weight_decay >= 0):
            raise InputError("TrainConfig.momentum and weight_decay must be >= 0")
        check_seed("TrainConfig.seed", self.seed)

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 0.1 if self.optimizer == "sgd" else 1e-3


@dataclass
class FitResult:
    """What :func:`fit` returns. `model` is the trained model itself (trained in place, left in eval
    mode); `train_loss[e]` the weighted mean training loss of epoch e; `eval_accuracy[e]` the accuracy
    on ``(x_eval, y_eval)`` after epoch e when given; `wall_time` seconds."""

    model: nn.Module
    train_loss: list[float]
    wall_time: float
    eval_accuracy: list[float] | None = None
    device: str = "cpu"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cuda"`` without CUDA is an InputError."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device='cuda' requested but torch sees no CUDA device")
    try:
        return torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}") from None


def _as_tensor(a: Any, name: str, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
    """`a` (numpy, torch or array-like) as a `dtype` tensor on `device`, rejecting bad values."""
    try:
        t = a.detach() if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{name}: not a numeric array ({exc})") from None
    if t.is_complex() or t.dtype == torch.bool:
        raise InputError(f"{name} must be real numbers, got dtype {t.dtype}")
    if not dtype.is_floating_point and t.is_floating_point() and not bool(torch.all(t == torch.round(t))):
        raise InputError(f"{name} must hold integer class labels, got non-integer values")
    if dtype.is_floating_point and t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
        raise InputError(f"{name} contains NaN or inf")
    return t.to(device=device, dtype=dtype)


def _forward(model: nn.Module, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits and penultimate features when the model exposes ``features``/``head``."""
    if hasattr(model, "features") and isinstance(getattr(model, "head", None), nn.Module):
        h = model.features(xb)  # type: ignore[operator]
        return model.head(h), h  # type: ignore[operator]
    return model(xb), None


def steps_per_epoch(n: int, batch_size: int) -> int:
    """SGD steps :func:`fit` takes per epoch on `n` examples (a last batch of one joins the previous)."""
    return sum(1 for _ in _batches(n, batch_size))


def _batches(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of `size`; a last batch of one example joins the previous one (BatchNorm
    cannot train on a single example)."""
    starts = list(range(0, n, size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    for i, s in enumerate(starts):
        yield slice(s, starts[i + 1] if i + 1 < len(starts) else n)


@contextlib.contextmanager
def _determinism(enabled: bool, device: torch.device) -> Iterator[None]:
    if not enabled:
        yield
        return
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    if device.type != "cuda" or os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2], saved[3]


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _num_classes(model: nn.Module, x1: torch.Tensor) -> int:
    with _eval_mode(model):
        try:
            out = model(x1)
        except RuntimeError as exc:
            raise InputError(
                f"x of shape {tuple(x1.shape[1:])} per example does not fit the model: {exc}"
            ) from None
    if out.ndim != 2:
        raise InputError(f"the model must return (batch, classes) logits, got shape {tuple(out.shape)}")
    return int(out.shape[1])


def _check_labels(y: torch.Tensor, n: int, num_classes: int, name: str) -> None:
    if y.shape != (n,):
        raise InputError(f"{name} must have shape ({n},), got {tuple(y.shape)}")
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise InputError(f"{name} must be in [0, {num_classes}) (the model's outputs)")


def _normalised_weights(sample_weight: Any, n: int, device: torch.device) -> torch.Tensor:
    w = np.asarray(
        sample_weight.detach().cpu().numpy() if isinstance(sample_weight, torch.Tensor) else sample_weight,
        dtype=np.float64,
    ).reshape(-1)
    if w.shape != (n,):
        raise InputError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(
            f"sample_weight: {int(np.sum(~np.isfinite(w) | (w < 0)))} values are negative or not finite"
        )
    if w.sum() <= 0:
        raise InputError("sample_weight: all weights are zero")
    return torch.as_tensor(w / w.mean(), dtype=torch.float32, device=device)


def fit(
    model: nn.Module,
    x: Any,
    y: Any,
    config: TrainConfig | None = None,
    sample_weight: Any | None = None,
    recorder: DynamicsRecorder | None = None,
    x_eval: Any | None = None,
    y_eval: Any | None = None,
    progress: bool = True,
) -> FitResult:
    """Train `model` on ``(x, y)`` with cross-entropy, in place.

    `x` ``(n, ...)`` float features or images, `y` ``(n,)`` integer labels (numpy or torch).
    `sample_weight` ``(n,)`` ≥ 0 is normalised to mean 1; the batch loss is ``mean(w_i · CE_i)``.
    With a :class:`~coreselect.signals.DynamicsRecorder`, after every epoch an evaluation pass (eval
    mode, no augmentation) over the whole training set calls ``recorder.update(epoch, idx, logits,
    labels, features)``. With ``x_eval, y_eval``, `eval_accuracy` is recorded after every epoch.
    The global torch RNG is left as it was; all randomness comes from ``config.seed``.
    """
    config = config or TrainConfig()
    if (x_eval is None) != (y_eval is None):
        raise InputError("give both x_eval and y_eval, or neither")
    device = resolve_device(config.device)
    X = _as_tensor(x, "x", torch.float32, device)
    n = int(X.shape[0]) if X.ndim else 0
    if n == 0:
        raise InputError("x has no examples")
    if config.augment and X.ndim != 4:
        raise InputError(f"augment=True needs images (n, C, H, W), got x of shape {tuple(X.shape)}")
    model.to(device)
    num_classes = _num_classes(model, X[:1])
    Y = _as_tensor(y, "y", torch.int64, device)
    _check_labels(Y, n, num_classes, "y")
    W = None if sample_weight is None else _normalised_weights(sample_weight, n, device)
    if recorder is not None and (recorder.n != n or recorder.num_classes != num_classes):
        raise InputError(
            f"recorder is for n={recorder.n}, {recorder.num_classes} classes; "
            f"the training set has n={n}, the model {num_classes} classes"
        )
    Xe = Ye = None
    if x_eval is not None:
        Xe = _as_tensor(x_eval, "x_eval", torch.float32, None)
        Ye = _as_tensor(y_eval, "y_eval", torch.int64, None)
        _check_labels(Ye, int(Xe.shape[0]), num_classes, "y_eval")

    lr = config.learning_rate
    if config.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=config.weight_decay)
    steps = max(1, config.epochs * steps_per_epoch(n, config.batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        (lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
        if config.schedule == "cosine"
        else (lambda s: 1.0),
    )
    gen = torch.Generator().manual_seed(config.seed)  # CPU generator: same draws on every device
    fork_devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if device.type == "cuda"
        else []
    )
    losses: list[float] = []
    accs: list[float] | None = [] if Xe is not None else None
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_determinism(config.deterministic, device))
        stack.enter_context(torch.random.fork_rng(devices=fork_devices))
        if device.type == "cpu":
            stack.enter_context(threads.limit(config.threads if config.threads is not None
                                              else threads.default_threads()))
        report = stack.enter_context(Progress(steps, "train", unit="batches", enabled=progress))
        # dropout and other module-level randomness; restored by fork_rng on exit
        torch.default_generator.manual_seed(config.seed)
        for index in fork_devices:
            torch.cuda.default_generators[index].manual_seed(config.seed)
        for epoch in range(config.epochs):
            model.train()
            perm = torch.randperm(n, generator=gen).to(device)
            total = torch.zeros((), device=device)
            for sl in _batches(n, config.batch_size):
                idx = perm[sl]
                xb = X[idx]
                if config.augment:
                    xb = random_crop_flip(xb, generator=gen)
                ce = F.cross_entropy(model(xb), Y[idx], reduction="none")
                loss = (ce * W[idx]).mean() if W is not None else ce.mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.detach() * idx.numel()
                report.update()
            losses.append(float(total) / n)
            if recorder is not None:
                _record(model, X, Y, recorder, epoch, config.eval_batch_size)
            if accs is not None:
                assert Xe is not None and Ye is not None
                accs.append(accuracy(model, Xe, Ye, config.eval_batch_size, device))
            report.note(epoch=f"{epoch + 1}/{config.epochs}", loss=f"{losses[-1]:.4f}")
    model.eval()
    return FitResult(model, losses, time.perf_counter() - start, accs, str(device))


def _record(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    recorder: DynamicsRecorder,
    epoch: int,
    batch_size: int,
) -> None:
    with _eval_mode(model):
        for sl in _batches(X.shape[0], batch_size):
            logits, h = _forward(model, X[sl])
            idx = np.arange(sl.start, sl.stop)
            recorder.update(epoch, idx, logits.float(), Y[sl], None if h is None else h.float())


def predict(
    model: nn.Module,
    x: Any,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
    return_features: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Logits ``(n, C)`` float32 of `model` on `x` in eval mode, batch by batch (the model is moved to
    `device`; `x` moves one batch at a time). With `return_features`, also the penultimate
    features ``(n, d)`` (models with ``features``/``head``)."""
    dev = resolve_device(device)
    model.to(dev)
    X = _as_tensor(x, "x", torch.float32, None)
    if return_features and not (
        hasattr(model, "features") and isinstance(getattr(model, "head", None), nn.Module)
    ):
        raise InputError("return_features=True needs a model with features(x) and head")
    logits, feats = [], []
    with _eval_mode(model):
        for sl in _batches(X.shape[0], batch_size):
            z, h = _forward(model, X[sl].to(dev))
            logits.append(z.float().cpu())
            if return_features and h is not None:
                feats.append(h.float().cpu())
    num_classes = logits[0].shape[1] if logits else 0
    z_all = torch.cat(logits).numpy() if logits else np.empty((0, num_classes), np.float32)
    if not return_features:
        return z_all
    h_all = torch.cat(feats).numpy() if feats else np.empty((0, 0), np.float32)
    return z_all, h_all


def accuracy(
    model: nn.Module, x: Any, y: Any, batch_size: int = 1024, device: str | torch.device = "auto"
) -> float:
    """Fraction of `x` whose argmax logit equals `y`."""
    logits = predict(model, x, batch_size, device)
    assert isinstance(logits, np.ndarray)
    labels = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y).reshape(-1)
    if labels.shape[0] != logits.shape[0]:
        raise InputError(f"y has {labels.shape[0]} labels for {logits.shape[0]} examples")
    return float(np.mean(logits.argmax(axis=1) == labels)) if labels.size else float("nan")
