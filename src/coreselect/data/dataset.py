"""`Dataset`: a train/test pair of features and labels, in the dtypes coreselect uses everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from coreselect.errors import InputError

Task = Literal["classification", "regression"]
Features = np.ndarray | sp.csr_matrix


def _shape(x: Features) -> str:
    kind = "csr" if sp.issparse(x) else "dense"
    return f"{x.shape[0]}x{x.shape[1]} {kind}"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset.

    Features are 2-D float32 (dense, or CSR for sparse sources such as a9a); image datasets are
    flattened row-wise and `image_shape` (channels-first, e.g. ``(1, 28, 28)``) says how to unflatten
    them. Classification labels are int64 in ``0..num_classes-1``; regression targets are float64 and
    `num_classes` is None.
    """

    name: str
    x_train: Features
    y_train: np.ndarray
    x_test: Features
    y_test: np.ndarray
    task: Task
    num_classes: int | None
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise InputError(f"task must be 'classification' or 'regression', got {self.task!r}")
        label_dtype = np.int64 if self.task == "classification" else np.float64
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.ndim != 2 or x.dtype != np.float32:
                raise InputError(f"x_{split} must be 2-D float32, got {x.ndim}-D {x.dtype}")
            if sp.issparse(x) and x.format != "csr":
                raise InputError(f"sparse x_{split} must be CSR, got {x.format}")
            if y.ndim != 1 or y.shape[0] != x.shape[0] or y.dtype != label_dtype:
                raise InputError(
                    f"y_{split} must be 1-D {np.dtype(label_dtype)} with {x.shape[0]} rows, "
                    f"got shape {y.shape} {y.dtype}"
                )
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise InputError(
                f"train has {self.x_train.shape[1]} features but test has {self.x_test.shape[1]}"
            )
        if (self.task == "classification") != (self.num_classes is not None):
            raise InputError("num_classes must be set for classification and None for regression")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != self.x_train.shape[1]:
            raise InputError(
                f"image_shape {self.image_shape} does not match {self.x_train.shape[1]} features"
            )

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def __repr__(self) -> str:
        classes = f", num_classes={self.num_classes}" if self.num_classes is not None else ""
        image = f", image_shape={self.image_shape}" if self.image_shape is not None else ""
        return (
            f"Dataset({self.name!r}, {self.task}{classes}, train={_shape(self.x_train)}, "
            f"test={_shape(self.x_test)}{image})"
        )
