"""CW-ERM end to end ("The Power of Few: Accelerating and Enhancing Data Reweighting with Coreset
Selection", 2024, §3): coreset → Meta-Weight-Net on the coreset → broadcast → weighted ERM.

1. features of every example from a feature model (or given);
2. a per-class moderate coreset (Xia et al. 2023) of `fraction` of the rows (default 1%);
3. Meta-Weight-Net (:func:`~coreselect.reweight.mwnet.train_mwnet`) on the coreset alone, with a
   class-stratified meta split of the coreset;
4. the coreset weights broadcast to all rows by nearest neighbour in feature space
   (:func:`~coreselect.reweight.broadcast.broadcast`);
5. a fresh model trained on the full set with those per-example weights.

The expensive bilevel optimisation runs on m = fraction·n rows instead of n: its cost falls by ≈ n/m
while the final training costs what plain ERM costs (one weighted pass per batch).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from coreselect import api
from coreselect.errors import InputError
from coreselect.files import atomic_write
from coreselect.reweight.broadcast import broadcast
from coreselect.reweight.mwnet import MetaConfig, train_mwnet
from coreselect.subset import Subset
from coreselect.train import TrainConfig, fit, predict


@dataclass(eq=False)
class CWERMResult:
    """What :func:`cwerm` returns.

    `weights (n,)` the full-set weights (aligned with the rows of `x`; in (0, 1), training normalises
    them to mean 1); `coreset` the selected :class:`~coreselect.Subset`; `coreset_weights (m,)` the
    Meta-Weight-Net weights of ``coreset.indices``; `meta_indices` the rows of the meta split;
    `model` the model trained with `weights` (None with ``train=False``); `timings` seconds per stage:
    ``features``, ``select``, ``meta_train``, ``broadcast``, ``train``, ``total``.
    """

    weights: np.ndarray
    coreset: Subset
    coreset_weights: np.ndarray
    meta_indices: np.ndarray
    model: nn.Module | None
    timings: dict[str, float] = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``weights`` (aligned with the dataset rows), ``coreset_indices``, ``coreset_weights``
        and ``meta_indices`` to an ``.npz`` (atomically). Load with ``np.load(path)["weights"]`` and
        pass them as ``sample_weight`` to any weighted training."""
        return atomic_write(path, lambda fh: np.savez(
            fh, weights=self.weights, coreset_indices=self.coreset.indices,
            coreset_weights=self.coreset_weights, meta_indices=self.meta_indices,
        ))


def _features(x: Any, features: Any, feature_model: nn.Module | None, device: str) -> np.ndarray:
    if (features is None) == (feature_model is None):
        raise InputError("give exactly one of features (an (n, d) array) or feature_model (an nn.Module)")
    if features is not None:
        return np.asarray(features, dtype=np.float32)
    _, h = predict(feature_model, x, device=device, return_features=True)
    return h


def cwerm(
    x: Any,
    y: Any,
    build_model: Callable[[], nn.Module],
    *,
    features: Any = None,
    feature_model: nn.Module | None = None,
    fraction: float = 0.01,
    allocation: str = "proportional",
    coreset: Subset | None = None,
    meta_config: MetaConfig | None = None,
    train_config: TrainConfig | None = None,
    k: int = 1,
    same_class: bool = False,
    meta_labels: Any = None,
    seed: int = 0,
    train: bool = True,
) -> CWERMResult:
    """Coreset-reweighted ERM on ``(x, y)``.

    `build_model()` returns a fresh classifier; it is called for the Meta-Weight-Net classifier and
    for the final model. Features come from `features` ``(n, d)`` or from `feature_model`'s
    ``features(x)`` (penultimate activations). The coreset is `coreset` when given, else
    ``select("moderate", per_class=True)`` at `fraction` with `allocation` and `seed`.
    `meta_config` / `train_config` default to :class:`MetaConfig` / :class:`TrainConfig` with `seed`.
    `k` and ``same_class`` (restrict broadcast neighbours to the example's own label) go to
    :func:`broadcast`. `meta_labels` ``(n,)``: trusted labels for the meta split (default `y`).
    ``train=False`` stops after the broadcast (weights only).
    """
    t0 = time.perf_counter()
    meta_config = meta_config or MetaConfig(seed=seed)
    train_config = train_config or TrainConfig(seed=seed)
    labels = np.asarray(y)
    n = labels.shape[0] if labels.ndim == 1 else -1
    if labels.ndim != 1 or len(x) != n:
        raise InputError(f"y must be 1-D with one label per row of x ({len(x)} rows), got shape {labels.shape}")
    if meta_labels is not None and np.asarray(meta_labels).shape != labels.shape:
        raise InputError(f"meta_labels must have shape {labels.shape}, got {np.asarray(meta_labels).shape}")
    timings: dict[str, float] = {}

    start = time.perf_counter()
    feats = _features(x, features, feature_model, meta_config.device)
    if feats.ndim != 2 or feats.shape[0] != n:
        raise InputError(f"features must be (n, d) with n = {n} rows, got shape {feats.shape}")
    timings["features"] = time.perf_counter() - start

    start = time.perf_counter()
    if coreset is None:
        coreset = api.select(
            "moderate", features=feats, labels=labels, fraction=fraction, allocation=allocation, seed=seed,
            per_class=True,
        )
    elif coreset.n != n:
        raise InputError(f"coreset was chosen from {coreset.n} rows, the data have {n}")
    timings["select"] = time.perf_counter() - start

    idx = coreset.indices
    x_core = x[idx] if not isinstance(x, torch.Tensor) else x[torch.as_tensor(idx)]
    trusted = None if meta_labels is None else np.asarray(meta_labels)[idx]
    result = train_mwnet(build_model(), x_core, labels[idx], meta_config, meta_labels=trusted)
    timings["meta_train"] = result.seconds

    start = time.perf_counter()
    weights = broadcast(feats, idx, result.weights, k=k, labels=labels if same_class else None)
    timings["broadcast"] = time.perf_counter() - start

    model = None
    if train:
        model = build_model()
        timings["train"] = fit(model, x, labels, train_config, sample_weight=weights, progress=False).wall_time
    timings["total"] = time.perf_counter() - t0
    return CWERMResult(
        weights=weights, coreset=coreset, coreset_weights=result.weights,
        meta_indices=idx[result.meta_rows], model=model, timings=timings,
    )
