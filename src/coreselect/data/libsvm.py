"""Reader for LIBSVM / svmlight text files (e.g. a9a), optionally gzip- or bz2-compressed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from coreselect.errors import InputError


def libsvm_labels(raw: np.ndarray, path: str | Path) -> np.ndarray:
    """Class labels as int64: ``±1`` becomes ``0/1``; non-negative integers are kept as they are."""
    values = np.unique(raw)
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise InputError(
            f"{path}: labels must be integers for classification, got e.g. {values[:5].tolist()}"
        )
    if np.all(np.isin(values, (-1.0, 1.0))):
        return (raw > 0).astype(np.int64)
    if values[0] < 0:
        raise InputError(f"{path}: labels must be ±1 or non-negative integers, got {values[:5].tolist()}")
    return raw.astype(np.int64)


def load_libsvm(
    path: str | Path,
    n_features: int | None = None,
    zero_based: bool | Literal["auto"] = "auto",
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Features (CSR float32) and int64 class labels from a LIBSVM file.

    Pass `n_features` so a train and a test file get the same width (a9a has 123); `zero_based`
    says whether feature indices start at 0 (LIBSVM's own convention is 1, i.e. ``False``).
    """
    from sklearn.datasets import load_svmlight_file

    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        x, y = load_svmlight_file(str(path), n_features=n_features, dtype=np.float32, zero_based=zero_based)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable LIBSVM file ({exc})") from None
    x = sp.csr_matrix(x, dtype=np.float32)
    x.sort_indices()
    return x, libsvm_labels(np.asarray(y), path)
