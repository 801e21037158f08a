"""A user's own dataset as an ``.npz`` archive with arrays ``x``, ``y`` (and optionally ``x_test``, ``y_test``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coreselect.data.arrays import load_arrays_npz
from coreselect.data.dataset import Dataset, Task
from coreselect.data.split import split_indices
from coreselect.errors import InputError

_SPARSE_KEYS = {"data", "indices", "indptr", "format", "shape"}


_CHANNEL_COUNTS = (1, 3, 4)


def is_channels_last(shape: tuple[int, ...]) -> bool:
    """Whether 4-D images of this shape are ``(n, h, w, c)`` rather than ``(n, c, h, w)``.

    Channels-last is how Keras, TensorFlow Datasets and most image libraries store RGB arrays (CIFAR-10
    as ``(50000, 32, 32, 3)``); PyTorch stores channels first. The last axis is read as channels when it
    holds 1, 3 or 4 values and the second axis does not; ``(n, 3, 3, 3)`` stays channels-first.
    """
    return len(shape) == 4 and shape[3] in _CHANNEL_COUNTS and shape[1] not in _CHANNEL_COUNTS


def as_features(x: np.ndarray, what: str) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """Rows flattened to 2-D float32, plus the per-row image shape (channels-first) for 3-D/4-D input.

    4-D images may be channels-first or channels-last (see `is_channels_last`); channels-last rows are
    flattened in channels-first order. uint8 images (3-D or 4-D) are scaled to [0, 1].
    """
    if x.dtype.kind not in "biuf":
        raise InputError(f"{what} must be numeric, got dtype {x.dtype}")
    if x.ndim == 0 or x.size == 0:
        raise InputError(f"{what} is empty (shape {x.shape})")
    image_shape = None
    if x.ndim == 3:
        image_shape = (1, *x.shape[1:])
    elif x.ndim == 4:
        if is_channels_last(x.shape):
            x = np.moveaxis(x, 3, 1)
        image_shape = tuple(x.shape[1:])
    elif x.ndim > 4:
        raise InputError(f"{what} has {x.ndim} dimensions; expected (n, d) or images (n, [c,] h, w)")
    flat = x.reshape(x.shape[0], -1)
    if image_shape is not None and x.dtype == np.uint8:
        out = flat.astype(np.float32) / np.float32(255.0)
    else:
        out = np.ascontiguousarray(flat, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise InputError(f"{what} contains NaN or inf")
    return out, image_shape


def encode_labels(y_train: np.ndarray, y_test: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Class labels as int64 ``0..C-1`` and ``C``.

    Non-negative integers (or integral floats) are kept as they are (``C = max + 1``) when they are
    nearly dense (C at most four times the number of distinct labels); anything else (negative integers
    such as ±1, sparse codes such as 10⁹, strings) is mapped to the rank of its value among the train
    labels, so a model never gets one output per unused code.
    """
    if y_train.dtype.kind == "f":
        both = np.concatenate([y_train, y_test])
        if not np.all(np.isfinite(both)) or np.any(both != np.round(both)):
            raise InputError(f"{what}: classification labels must be integers, got non-integer floats")
        y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    if y_train.dtype.kind not in "biuUS":
        raise InputError(f"{what}: labels must be integers or strings, got dtype {y_train.dtype}")
    if y_train.dtype.kind in "biu" and y_train.min() >= 0 and (y_test.size == 0 or y_test.min() >= 0):
        classes = int(max(y_train.max(), y_test.max() if y_test.size else 0)) + 1
        if classes <= 4 * np.unique(y_train).size:
            return y_train.astype(np.int64), y_test.astype(np.int64), classes
    values = np.unique(y_train)
    unseen = np.setdiff1d(y_test, values)
    if unseen.size:
        raise InputError(f"{what}: test labels {unseen[:5].tolist()} never occur in the training labels")
    return (
        np.searchsorted(values, y_train).astype(np.int64),
        np.searchsorted(values, y_test).astype(np.int64),
        int(values.size),
    )


def _column(y: np.ndarray) -> np.ndarray:
    """An ``(n, 1)`` label array as ``(n,)``; anything else unchanged."""
    return y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y


def _infer_task(y: np.ndarray) -> Task:
    return "regression" if y.dtype.kind == "f" else "classification"


def load_npz_dataset(
    path: str | Path, seed: int = 0, test_fraction: float = 0.2, task: Task | None = None
) -> Dataset:
    """A `Dataset` from an ``.npz`` with ``x`` and ``y`` and, optionally, ``x_test`` and ``y_test``.

    Without a test set, a seeded split holds out `test_fraction` (stratified for classification).
    `task` defaults to regression for float labels and classification otherwise.
    """
    path = Path(path).expanduser()
    arrays = load_arrays_npz(path)
    if _SPARSE_KEYS <= arrays.keys():
        raise InputError(
            f"{path}: looks like a scipy.sparse matrix file; save a dataset with "
            f"numpy.savez(path, x=features, y=labels)"
        )
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise InputError(f"{path}: needs arrays 'x' and 'y'; it holds {', '.join(map(repr, arrays))}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise InputError(f"{path}: has only one of 'x_test' and 'y_test'; give both or neither")
    if task not in (None, "classification", "regression"):
        raise InputError(f"task must be 'classification' or 'regression', got {task!r}")
    y_all = _column(arrays["y"])
    task = task or _infer_task(y_all)
    x, image_shape = as_features(arrays["x"], f"{path}: x")
    if y_all.ndim != 1 or y_all.shape[0] != x.shape[0]:
        raise InputError(f"{path}: y must be 1-D with {x.shape[0]} entries, got shape {arrays['y'].shape}")
    if "x_test" in arrays:
        x_test, test_shape = as_features(arrays["x_test"], f"{path}: x_test")
        y_test = _column(arrays["y_test"])
        if x_test.shape[1] != x.shape[1] or test_shape != image_shape:
            raise InputError(
                f"{path}: x_test rows have shape {arrays['x_test'].shape[1:]}, x rows {arrays['x'].shape[1:]}"
            )
        if y_test.ndim != 1 or y_test.shape[0] != x_test.shape[0]:
            raise InputError(f"{path}: y_test must be 1-D with {x_test.shape[0]} entries, got {y_test.shape}")
        x_train, y_train = x, y_all
    else:
        strata = y_all if task == "classification" else None
        train, test = split_indices(x.shape[0], test_fraction, seed, strata=strata)
        x_train, y_train, x_test, y_test = x[train], y_all[train], x[test], y_all[test]
    if task == "classification":
        y_train, y_test, num_classes = encode_labels(y_train, y_test, str(path))
    else:
        num_classes = None
        if y_train.dtype.kind not in "biuf":
            raise InputError(f"{path}: regression targets must be numeric, got dtype {y_train.dtype}")
        y_train, y_test = y_train.astype(np.float64), y_test.astype(np.float64)
        if not (np.all(np.isfinite(y_train)) and np.all(np.isfinite(y_test))):
            raise InputError(f"{path}: regression targets contain NaN or inf")
    name = path.name[: -len(".npz")] if path.name.lower().endswith(".npz") else path.name
    return Dataset(name, x_train, y_train, x_test, y_test, task, num_classes, image_shape)
