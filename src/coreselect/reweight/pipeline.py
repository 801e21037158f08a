"""CW-ERM end to end ("The Power of Few: Accelerating and Enhancing Data Reweighting with Coreset
Selection", 2024, §3): coreset → Meta-Weight-Net on the coreset → broadcast → weighted ERM.

1. features of every example from a feature model (or given);
2. a per-class moderate coreset (Xia et al. 2023) of `fraction` of the rows (default 1%), or a
   class-stratified uniform one;
3. Meta-Weight-Net (:func:`~coreselect.reweight.mwnet.train_mwnet`) on the coreset, its meta set
   the trusted rows (Meta-Weight-Net's clean meta set: the official code holds out 1,000 clean
   examples); only when asked, without them, a class-stratified split of the coreset with its
   observed labels;
4. the coreset weights broadcast to all rows by nearest neighbour in feature space, among the
   coreset examples of the same class by default (:func:`~coreselect.reweight.broadcast.broadcast`);
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
from coreselect.pool import encode_labels
from coreselect.reweight.broadcast import broadcast, row_indices
from coreselect.reweight.flags import split_threshold
from coreselect.reweight.mwnet import MetaConfig, train_mwnet
from coreselect.subset import Subset
from coreselect.train import TrainConfig, build_model, fit, predict

#: Coreset selectors of :func:`cwerm` and their parameters: the paper's per-class moderate coreset, or
#: a class-stratified uniform sample (under symmetric label noise the moderate band can hold almost no
#: flipped example, leaving Meta-Weight-Net nothing to learn to down-weight).
SELECTORS = {"moderate": {"per_class": True}, "uniform": {"stratified": True}}

#: Why a meta set without trusted labels is refused unless asked for.
UNTRUSTED = (
    "Meta-Weight-Net needs a trusted meta set: give trusted= (rows whose labels you have verified; a few "
    "hundred, class-stratified, is the usual case), or allow_untrusted=True to carve the meta set from the "
    "coreset with its observed labels (under label noise the weight net then learns to raise the weight "
    "of high-loss, i.e. mislabelled, examples)"
)


@dataclass(eq=False)
class CWERMResult:
    """What :func:`cwerm` returns.

    `weights (n,)` the full-set weights (aligned with the rows of `x`, > 0; training normalises them to
    mean 1); `coreset` the selected :class:`~coreselect.Subset`; `coreset_weights (m,)` the weights of
    ``coreset.indices``; `meta_indices` the rows of the meta set; `trusted` whether those were trusted
    rows (False: a split of the coreset with its observed labels, "no trusted set"); `threshold` the
    weight below which :meth:`flagged` calls an example suspect; `model` the model trained with
    `weights` (None with ``train=False``); `timings` seconds per stage: ``features``, ``select``,
    ``meta_train``, ``broadcast``, ``train``, ``total``.
    """

    weights: np.ndarray
    coreset: Subset
    coreset_weights: np.ndarray
    meta_indices: np.ndarray
    trusted: bool
    threshold: float
    model: nn.Module | None
    timings: dict[str, float] = field(default_factory=dict)

    def flagged(self) -> np.ndarray:
        """Sorted rows whose weight is below `threshold`: the examples the weight net down-weights,
        suspected mislabelled (meaningless without a trusted meta set). Trusted rows are never flagged."""
        return np.flatnonzero(self.weights < self.threshold)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``weights`` (aligned with the dataset rows), ``coreset_indices``, ``coreset_weights``,
        ``meta_indices`` and ``flagged`` to an ``.npz`` (atomically). Load with
        ``np.load(path)["weights"]`` and pass them as ``sample_weight`` to any weighted training."""
        return atomic_write(path, lambda fh: np.savez(
            fh, weights=self.weights, coreset_indices=self.coreset.indices,
            coreset_weights=self.coreset_weights, meta_indices=self.meta_indices, flagged=self.flagged(),
        ))


def _features(x: Any, features: Any, feature_model: nn.Module | None, device: str) -> np.ndarray:
    if (features is None) == (feature_model is None):
        raise InputError("give exactly one of features (an (n, d) array) or feature_model (an nn.Module)")
    if features is not None:
        return np.asarray(features, dtype=np.float32)
    _, h = predict(feature_model, x, device=device, return_features=True)
    return h


def _take(x: Any, rows: np.ndarray) -> Any:
    return x[torch.as_tensor(rows)] if isinstance(x, torch.Tensor) else x[rows]


def cwerm(
    x: Any,
    y: Any,
    build_model: Callable[[], nn.Module],
    *,
    trusted: Any = None,
    allow_untrusted: bool = False,
    features: Any = None,
    feature_model: nn.Module | None = None,
    fraction: float = 0.01,
    allocation: str = "proportional",
    selector: str = "moderate",
    coreset: Subset | None = None,
    meta_config: MetaConfig | None = None,
    train_config: TrainConfig | None = None,
    k: int = 1,
    same_class: bool = True,
    seed: int = 0,
    train: bool = True,
) -> CWERMResult:
    """Coreset-reweighted ERM on ``(x, y)``.

    `build_model()` returns a fresh classifier; it is called for the Meta-Weight-Net classifier and
    for the final model. Features come from `features` ``(n, d)`` or from `feature_model`'s
    ``features(x)`` (penultimate activations). The coreset is `coreset` when given, else `selector`
    (:data:`SELECTORS`: ``"moderate"`` per class, or ``"uniform"`` stratified) at `fraction` with
    `allocation` and `seed`.

    `trusted`: distinct row indices whose labels in `y` are verified; they are the meta set, the
    coreset rows outside them are reweighted, and each trusted row's own weight is the largest learned
    coreset weight (a verified example counts as much as the most trusted reweighted one). Without
    `trusted` an InputError, unless ``allow_untrusted=True``: the meta set is then a class-stratified
    split of the coreset (``meta_config.meta_fraction``) with its observed labels, and ``trusted`` of
    the result is False.

    `meta_config` / `train_config` default to :class:`MetaConfig` / :class:`TrainConfig` with `seed`.
    `k` and `same_class` (default: broadcast only from coreset examples of the example's own label;
    False is the paper's code) go to :func:`broadcast`. ``train=False`` stops after the broadcast.
    """
    t0 = time.perf_counter()
    meta_config = meta_config or MetaConfig(seed=seed)
    train_config = train_config or TrainConfig(seed=seed)
    labels = np.asarray(y)
    n = labels.shape[0] if labels.ndim == 1 else -1
    if labels.ndim != 1 or len(x) != n:
        raise InputError(f"y must be 1-D with one label per row of x ({len(x)} rows), got shape {labels.shape}")
    if trusted is None and not allow_untrusted:
        raise InputError(UNTRUSTED)
    meta = None if trusted is None else row_indices("trusted", trusted, n)
    if selector not in SELECTORS:
        raise InputError(f"selector must be one of {', '.join(SELECTORS)}, got {selector!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    timings: dict[str, float] = {}

    start = time.perf_counter()
    feats = _features(x, features, feature_model, meta_config.device)
    if feats.ndim != 2 or feats.shape[0] != n:
        raise InputError(f"features must be (n, d) with n = {n} rows, got shape {feats.shape}")
    timings["features"] = time.perf_counter() - start

    start = time.perf_counter()
    if coreset is None:
        coreset = api.select(
            selector, features=feats, labels=labels, fraction=fraction, allocation=allocation, seed=seed,
            **SELECTORS[selector],
        )
    elif coreset.n != n:
        raise InputError(f"coreset was chosen from {coreset.n} rows, the data have {n}")
    timings["select"] = time.perf_counter() - start

    idx = coreset.indices
    if meta is None:
        sources, rows, meta_rows = idx, idx, None
    else:
        sources = np.setdiff1d(idx, meta)
        rows, meta_rows = np.concatenate([sources, np.sort(meta)]), np.arange(sources.size, sources.size + meta.size)
    missing = np.setdiff1d(np.unique(labels), labels[sources]) if same_class else np.empty(0)
    if missing.size:
        raise InputError(
            f"class {missing[0].item()!r} has no reweighted coreset example to broadcast from (same_class=True): "
            "use a larger fraction, allocation='balanced', or fewer trusted rows of that class"
        )
    result = train_mwnet(build_model(), _take(x, rows), labels[rows], meta_config, meta_rows=meta_rows)
    timings["meta_train"] = result.seconds
    learned = result.weights[: sources.size]

    start = time.perf_counter()
    weights = broadcast(feats, sources, learned, k=k, labels=labels if same_class else None)
    if meta is not None:
        weights[meta] = learned.max()
    timings["broadcast"] = time.perf_counter() - start

    model = None
    if train:
        model = build_model()
        timings["train"] = fit(model, x, labels, train_config, sample_weight=weights, progress=False).wall_time
    timings["total"] = time.perf_counter() - t0
    return CWERMResult(
        weights=weights, coreset=coreset, coreset_weights=weights[idx],
        meta_indices=rows[result.meta_rows], trusted=meta is not None,
        threshold=split_threshold(result.weights[result.train_rows]), model=model, timings=timings,
    )


def reweight(
    features: Any,
    labels: Any,
    *,
    trusted: Any = None,
    allow_untrusted: bool = False,
    fraction: float = 0.01,
    allocation: str = "proportional",
    selector: str = "moderate",
    meta_config: MetaConfig | None = None,
    k: int = 1,
    same_class: bool = True,
    hidden: tuple[int, ...] = (128,),
    seed: int = 0,
) -> CWERMResult:
    """CW-ERM's per-example weights for a dataset given as features ``(n, d)`` and class labels, for
    any learner that takes ``sample_weight`` (no final model is trained).

    The classifier Meta-Weight-Net trains on the coreset is an MLP (`hidden` widths; ``()``:
    multinomial logistic regression) on the standardised features; the coreset is chosen and the
    weights broadcast on the features as given. Labels of any kind (integers, strings) are encoded as
    classes. `trusted`, `allow_untrusted`, `fraction`, `allocation`, `selector`, `meta_config`, `k`,
    `same_class` and `seed` as in :func:`cwerm`. Time: the coreset selection, ``meta_config.epochs``
    Meta-Weight-Net epochs on the coreset and trusted rows, and one O(n·m·d) nearest-neighbour pass.
    """
    feats = np.asarray(features)
    if feats.ndim != 2 or feats.shape[0] < 2 or feats.shape[1] < 1:
        raise InputError(f"features must be a 2-D array (n, d) with n >= 2 and d >= 1, got shape {feats.shape}")
    if not np.issubdtype(feats.dtype, np.number) or np.iscomplexobj(feats):
        raise InputError(f"features must hold real numbers, got dtype {feats.dtype}")
    feats = feats.astype(np.float32)
    bad = ~np.isfinite(feats).all(axis=1)
    if bad.any():
        raise InputError(f"features contain NaN or inf at rows {np.flatnonzero(bad)[:5].tolist()} ({int(bad.sum())} in all)")
    n, d = feats.shape
    codes, _ = encode_labels("labels", labels, n)
    classes, y = np.unique(codes, return_inverse=True)
    if classes.size < 2:
        raise InputError(f"labels must hold at least two classes, got {classes.size}")
    scale = feats.std(axis=0)
    z = (feats - feats.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    meta_config = meta_config or MetaConfig(seed=seed)
    return cwerm(
        z, y, lambda: build_model("mlp", (d,), classes.size, seed=seed, hidden=hidden), trusted=trusted,
        allow_untrusted=allow_untrusted, features=feats, fraction=fraction, allocation=allocation,
        selector=selector, meta_config=meta_config, k=k, same_class=same_class, seed=seed, train=False,
    )
