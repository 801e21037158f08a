"""`load_dataset`: the known datasets by name, or a user's ``.npz`` by path."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from coreselect.data.dataset import Dataset
from coreselect.data.gas import read_gas_sensor
from coreselect.data.idx import read_idx_pair
from coreselect.data.libsvm import load_libsvm
from coreselect.data.root import dataset_dir, find_file
from coreselect.data.split import split_indices
from coreselect.data.synthetic import digits, four_moons_dataset
from coreselect.data.userdata import encode_labels, load_npz_dataset
from coreselect.errors import InputError

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "digits", "a9a", "gas-sensor", "four-moons")
_ALIASES = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist", "gas": "gas-sensor"}
A9A_FEATURES = 123


#: Files that mark a folder in the MNIST idx layout (MNIST, Fashion-MNIST, KMNIST, …).
IDX_MARKERS = ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")


def is_idx_folder(path: Path) -> bool:
    """Whether `path` is a folder holding MNIST-layout idx files (``train-images-idx3-ubyte[.gz]`` …)."""
    return path.is_dir() and any((path / m).is_file() for m in IDX_MARKERS)


def read_idx_folder(name: str, directory: Path, classes: int | None = None) -> Dataset:
    """The four idx files of the MNIST layout in `directory` (``train``/``t10k`` images and labels,
    gzipped or not), images scaled to [0, 1]. Labels must be ``0..classes-1`` when `classes` is given,
    else they are encoded as a user's ``.npz`` labels are."""
    splits = []
    for prefix in ("train", "t10k"):
        images, labels = read_idx_pair(
            find_file(directory, f"{prefix}-images-idx3-ubyte", name),
            find_file(directory, f"{prefix}-labels-idx1-ubyte", name),
        )
        x = images.reshape(images.shape[0], -1).astype(np.float32)
        x /= np.float32(255.0)
        splits.append((x, labels, images.shape[1:]))
    (x_train, y_train, shape), (x_test, y_test, test_shape) = splits
    if shape != test_shape:
        raise InputError(f"{name}: train images are {shape} but test images are {test_shape}")
    if classes is None:
        y_train, y_test, classes = encode_labels(y_train, y_test, name)
    elif max(y_train.max(), y_test.max()) >= classes:
        raise InputError(f"{name}: labels must be 0..{classes - 1}, found {max(y_train.max(), y_test.max())}")
    return Dataset(name, x_train, y_train, x_test, y_test, "classification", classes, (1, *shape))


def _idx_images(name: str, folder: str, root: str | Path | None) -> Dataset:
    return read_idx_folder(name, dataset_dir(name, folder, IDX_MARKERS, root), classes=10)


def _mnist(root: str | Path | None, seed: int) -> Dataset:
    return _idx_images("mnist", "mnist", root)


def _fashion_mnist(root: str | Path | None, seed: int) -> Dataset:
    return _idx_images("fashion-mnist", "fashion-mnist", root)


def _a9a(root: str | Path | None, seed: int) -> Dataset:
    directory = dataset_dir("a9a", "a9a", ("a9a.gz", "a9a"), root)
    x_train, y_train = load_libsvm(find_file(directory, "a9a", "a9a"), A9A_FEATURES, zero_based=False)
    x_test, y_test = load_libsvm(find_file(directory, "a9a.t", "a9a"), A9A_FEATURES, zero_based=False)
    return Dataset("a9a", x_train, y_train, x_test, y_test, "classification", 2, None)


def _gas_sensor(
    root: str | Path | None, seed: int, test_fraction: float = 0.2, batches: tuple[int, ...] | None = None
) -> Dataset:
    markers = tuple(f"batch{i}.dat{gz}" for i in range(1, 11) for gz in (".gz", ""))
    directory = dataset_dir("gas-sensor", "gas-sensor", markers, root)
    x, y, _, _ = read_gas_sensor(directory, batches)
    train, test = split_indices(len(y), test_fraction, seed)
    return Dataset("gas-sensor", x[train], y[train], x[test], y[test], "regression", None, None)


def _digits(root: str | Path | None, seed: int, test_fraction: float = 0.2) -> Dataset:
    return digits(seed=seed, test_fraction=test_fraction)


def _four_moons(
    root: str | Path | None, seed: int, n: int = 2000, n_test: int = 1000, noise: float = 0.1
) -> Dataset:
    return four_moons_dataset(seed=seed, n=n, n_test=n_test, noise=noise)


_LOADERS: dict[str, Callable[..., Dataset]] = {
    "mnist": _mnist,
    "fashion-mnist": _fashion_mnist,
    "digits": _digits,
    "a9a": _a9a,
    "gas-sensor": _gas_sensor,
    "four-moons": _four_moons,
}


def _options(loader: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(loader).parameters if p not in ("root", "seed", "path")]


def _check_options(name: str, loader: Callable[..., Any], kw: dict[str, Any]) -> None:
    accepted = _options(loader)
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) or "none"
        raise InputError(f"{name}: unknown option(s) {', '.join(unknown)}; accepted: {allowed}")


def dataset_key(name: str) -> str:
    """`name` as a key of the known datasets: lower case, ``_`` as ``-``, aliases (``fmnist``, ``gas``)
    resolved; other text comes back in the same form and is no key."""
    text = str(name).strip().lower().replace("_", "-")
    return _ALIASES.get(text, text)


def load_dataset(name: str, root: str | Path | None = None, seed: int = 0, **kw: Any) -> Dataset:
    """Load a dataset by name (see `DATASETS`), from a path to an ``.npz`` file, or from a folder in the
    MNIST idx layout (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]`` and the
    ``t10k-`` pair, as KMNIST and other MNIST-like sets ship).

    `root` is the directory holding the dataset folders (default: ``$CORESELECT_DATA``, else
    ``../shared/data`` relative to the working directory); `seed` drives any train/test split.
    Options: gas-sensor ``test_fraction``, ``batches``; digits ``test_fraction``; four-moons ``n``,
    ``n_test``, ``noise``; ``.npz`` files ``test_fraction``, ``task``.
    """
    text = str(name).strip()
    key = dataset_key(text)
    if key in _LOADERS:
        _check_options(key, _LOADERS[key], kw)
        return _LOADERS[key](root, seed, **kw)
    path = Path(text).expanduser()
    if is_idx_folder(path):
        if kw:
            raise InputError(f"{text}: unknown option(s) {', '.join(sorted(kw))}; an idx folder takes none")
        return read_idx_folder(path.resolve().name, path)
    if text.lower().endswith(".npz") or "/" in text or "\\" in text or path.exists():
        if not text.lower().endswith(".npz"):
            raise InputError(f"{text}: a dataset file must be an .npz with arrays 'x' and 'y'")
        _check_options(text, load_npz_dataset, kw)
        return load_npz_dataset(path, seed=seed, **kw)
    raise InputError(
        f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)} "
        f"(or a path to an .npz file with arrays 'x' and 'y', or a folder in the MNIST idx layout)"
    )
