"""Benchmark data: a dataset by name (:func:`coreselect.data.load_dataset`), then seeded transforms.

Transforms (``--option KEY=VALUE``), applied to the training set only, in this order:

1. ``imbalance=ρ`` — long-tailed classes with the exponential profile of Cao et al. 2019 ("Learning
   Imbalanced Datasets with Label-Distribution-Aware Margin Loss", §4): class ``c`` keeps
   ``⌊n_ref · ρ^(−c/(C−1))⌋`` (at least 1) of its rows, ``n_ref`` being the smallest class count, so
   class 0 is the head and class ``C−1`` is ``ρ`` times smaller.
2. ``train_size=N`` — a uniform sample of ``N`` training rows (quick runs).
3. ``noise=r`` — label noise of the kind ``noise_kind``:

   - ``symmetric`` (default): ``round(r·n)`` rows drawn uniformly get a label drawn uniformly from the
     *other* ``C−1`` classes, so exactly a fraction ``r`` is wrong;
   - ``uniform_mix``: Meta-Weight-Net's uniform corruption (Shu et al. 2019, official code
     ``load_corrupted_data.py``, ``uniform_mix_C``): each row's label is drawn from
     ``r·Uniform(C) + (1−r)·δ(label)``, i.e. with probability ``r`` replaced by a label drawn uniformly
     from *all* ``C`` classes (possibly the same one), so about ``r·(C−1)/C`` of the rows end up wrong.

   The rows whose label changed are kept (``BenchData.noisy``) so a protocol can report how many of
   them a subset holds.

Every transform draws from its own stream of ``numpy.random.default_rng([data_seed, k])``;
``data_seed`` defaults to the run's seed (``--option data_seed=S`` fixes it across seeds). The test set
is never transformed. Inputs are then standardised with training-set statistics: images by their
global pixel mean and std, other data per column. Time and memory O(n·d).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from coreselect.bench.config import option_number
from coreselect.data import Dataset, load_dataset
from coreselect.errors import InputError

#: Options understood here (``--option KEY=VALUE``), with their meaning.
DATA_OPTIONS: dict[str, str] = {
    "noise": "label-noise rate r in [0, 1)",
    "noise_kind": "symmetric (default: exactly r·n labels moved to another class) or uniform_mix "
                  "(Meta-Weight-Net: each label redrawn from all classes with probability r); needs noise",
    "imbalance": "long-tail imbalance ratio ρ >= 1 (largest / smallest class)",
    "train_size": "keep a uniform sample of N training rows",
    "data_seed": "seed of the transforms (default: the run's seed)",
}

#: Stream ids of the transforms (fixed so adding a transform never changes another's draws).
_IMBALANCE, _SUBSAMPLE, _NOISE = 1, 2, 3


@dataclass(frozen=True)
class Transforms:
    """The requested training-set transforms; the identity by default."""

    noise: float = 0.0
    noise_kind: str = "symmetric"
    imbalance: float = 1.0
    train_size: int | None = None
    data_seed: int | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> Transforms:
        """Parse the data options of ``--option``; other keys are ignored (they belong to the protocol)."""

        noise = option_number(options, "noise", float)
        imbalance = option_number(options, "imbalance", float)
        train_size = option_number(options, "train_size", int)
        data_seed = option_number(options, "data_seed", int)
        noise_kind = options.get("noise_kind")
        if noise_kind is not None and noise_kind not in NOISE_KINDS:
            raise InputError(f"--option noise_kind={noise_kind!r}: choose one of {', '.join(NOISE_KINDS)}")
        if noise_kind is not None and not noise:
            raise InputError(f"--option noise_kind={noise_kind} needs a noise rate: add --option noise=r (0 < r < 1)")
        if noise is not None and not 0 <= noise < 1:
            raise InputError(f"--option noise={noise}: must be in [0, 1)")
        if imbalance is not None and imbalance < 1:
            raise InputError(f"--option imbalance={imbalance}: must be >= 1")
        if train_size is not None and train_size < 2:
            raise InputError(f"--option train_size={train_size}: must be >= 2")
        if data_seed is not None and data_seed < 0:
            raise InputError(f"--option data_seed={data_seed}: must be >= 0")
        return cls(
            noise=float(noise or 0.0),
            noise_kind=noise_kind or "symmetric",
            imbalance=float(imbalance or 1.0),
            train_size=None if train_size is None else int(train_size),
            data_seed=None if data_seed is None else int(data_seed),
        )

    def describe(self) -> str:
        """Canonical text of the non-identity transforms, e.g. ``"imbalance=10,noise=0.4"`` (``""`` if none);
        the noise kind is named only when it is not the default, e.g. ``"noise=0.4,noise_kind=uniform_mix"``."""
        parts = []
        if self.imbalance != 1.0:
            parts.append(f"imbalance={self.imbalance:g}")
        if self.train_size is not None:
            parts.append(f"train_size={self.train_size}")
        if self.noise:
            parts.append(f"noise={self.noise:g}")
        if self.noise_kind != "symmetric":
            parts.append(f"noise_kind={self.noise_kind}")
        return ",".join(parts)


@dataclass(frozen=True, eq=False)
class BenchData:
    """A prepared classification dataset: standardised float32 rows ``(n, d)``, int64 labels.

    `y_train` holds the labels after noise; `noisy` marks the rows whose label the noise changed (None
    without noise); `rows` are the rows of the loaded training set that were kept, in order.
    `transform` and `data_seed` are what a result key records.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    image_shape: tuple[int, ...] | None
    transform: str
    data_seed: int
    rows: np.ndarray
    noisy: np.ndarray | None

    @property
    def n(self) -> int:
        return int(self.x_train.shape[0])


def load(name: str, root: str | None = None) -> Dataset:
    """The named classification dataset (or an ``.npz`` path), its train/test split fixed (seed 0)."""
    dataset = load_dataset(name, root=root, seed=0)
    if dataset.task != "classification":
        raise InputError(f"dataset {name!r} is a {dataset.task} task; this benchmark needs classification labels")
    return dataset


def long_tail_rows(labels: np.ndarray, num_classes: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows kept by the exponential long-tail profile (Cao et al. 2019) with `ratio` = n_0 / n_{C−1}."""
    members = [np.flatnonzero(labels == c) for c in range(num_classes)]
    present = [rows.size for rows in members if rows.size]
    n_ref = min(present)
    keep = []
    for c, rows in enumerate(members):
        share = ratio ** (-c / max(num_classes - 1, 1))
        m = min(rows.size, max(1, math.floor(n_ref * share))) if rows.size else 0
        keep.append(rng.choice(rows, size=m, replace=False))
    return np.sort(np.concatenate(keep))


def symmetric_noise(
    labels: np.ndarray, num_classes: int, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``round(rate·n)`` uniformly chosen rows moved to a uniformly drawn other class, and the mask."""
    n = labels.size
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=round(rate * n), replace=False)] = True
    noisy = labels.copy()
    shift = rng.integers(1, num_classes, size=int(flipped.sum()))
    noisy[flipped] = (labels[flipped] + shift) % num_classes
    return noisy, flipped


def uniform_mix_noise(
    labels: np.ndarray, num_classes: int, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Labels of which each is, with probability `rate`, replaced by a class drawn uniformly from all
    `num_classes` (Meta-Weight-Net's ``uniform_mix_C`` corruption), and the mask of the labels that changed."""
    replaced = rng.random(labels.size) < rate
    noisy = labels.copy()
    noisy[replaced] = rng.integers(0, num_classes, size=int(replaced.sum()))
    return noisy, noisy != labels


#: The label-noise kinds (``--option noise_kind``) and the function drawing each.
NOISE_KINDS = {"symmetric": symmetric_noise, "uniform_mix": uniform_mix_noise}


def _standardise(x_train: np.ndarray, x_test: np.ndarray, image: bool) -> tuple[np.ndarray, np.ndarray]:
    if image:
        mean = np.float32(x_train.mean(dtype=np.float64))
        std = np.float32(x_train.std(dtype=np.float64) or 1.0)
    else:
        mean = x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
        std = x_train.std(axis=0, dtype=np.float64).astype(np.float32)
        std[std == 0] = 1.0
    return (x_train - mean) / std, (x_test - mean) / std


def prepare(dataset: Dataset, transforms: Transforms, seed: int) -> BenchData:
    """Apply `transforms` to the training set of `dataset` for run `seed` and standardise the inputs."""
    if dataset.num_classes is None:
        raise InputError(f"dataset {dataset.name!r} has no classes; this benchmark needs classification labels")
    if dataset.num_classes < 2:
        raise InputError(f"dataset {dataset.name!r} has {dataset.num_classes} class; a classification benchmark "
                         "needs at least two")
    data_seed = seed if transforms.data_seed is None else transforms.data_seed
    x_all = dataset.x_train.toarray() if sp.issparse(dataset.x_train) else dataset.x_train
    x_test = dataset.x_test.toarray() if sp.issparse(dataset.x_test) else dataset.x_test
    y_all, c = dataset.y_train, int(dataset.num_classes)
    rows = np.arange(y_all.size)
    if transforms.imbalance != 1.0:
        rows = long_tail_rows(y_all, c, transforms.imbalance, np.random.default_rng([data_seed, _IMBALANCE]))
    if transforms.train_size is not None:
        if transforms.train_size > rows.size:
            raise InputError(
                f"--option train_size={transforms.train_size}: the training set has only {rows.size} rows"
            )
        rng = np.random.default_rng([data_seed, _SUBSAMPLE])
        rows = np.sort(rng.choice(rows, size=transforms.train_size, replace=False))
    y = y_all[rows]
    noisy = None
    if transforms.noise:
        corrupt = NOISE_KINDS[transforms.noise_kind]
        y, noisy = corrupt(y, c, transforms.noise, np.random.default_rng([data_seed, _NOISE]))
    x_train, x_test = _standardise(x_all[rows], x_test, dataset.image_shape is not None)
    return BenchData(
        name=dataset.name,
        x_train=np.ascontiguousarray(x_train, dtype=np.float32),
        y_train=y.astype(np.int64),
        x_test=np.ascontiguousarray(x_test, dtype=np.float32),
        y_test=dataset.y_test,
        num_classes=c,
        image_shape=dataset.image_shape,
        transform=transforms.describe(),
        data_seed=int(data_seed),
        rows=rows,
        noisy=noisy,
    )
