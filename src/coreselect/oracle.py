"""A counted per-example loss oracle (sensitivity sampling queries the loss only at a few points)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coreselect.errors import InputError


class Oracle:
    """Wraps a callable ``fn(indices) -> values`` or a precomputed array of per-example values.

    Every distinct index asked for is counted in :attr:`n_queries`; values are cached, so asking again
    costs nothing. Returned values are validated: one finite, non-negative value per index.
    An array oracle is read only at the queried indices, exactly like a callable one.
    """

    def __init__(self, source: Callable[[np.ndarray], Any] | Any, n: int):
        if callable(source):
            self._fn = source
        else:
            values = np.asarray(source)
            if values.ndim != 1 or values.shape[0] != n or values.dtype.kind not in "iuf":
                raise InputError(
                    f"oracle must be a callable or a numeric (n,) array with n = {n}; got shape "
                    f"{values.shape} dtype {values.dtype}"
                )
            self._fn = values.__getitem__
        self.n = n
        self._cache: dict[int, float] = {}

    @property
    def n_queries(self) -> int:
        return len(self._cache)

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise InputError(f"oracle queried outside [0, {self.n})")
        new = np.unique([i for i in idx.tolist() if i not in self._cache]).astype(np.int64)
        if new.size:
            got = np.asarray(self._fn(new), dtype=np.float64).reshape(-1)
            if got.shape[0] != new.size:
                raise InputError(f"oracle returned {got.shape[0]} values for {new.size} indices")
            if not np.all(np.isfinite(got)):
                raise InputError(f"oracle returned NaN or inf at indices {new[~np.isfinite(got)][:5].tolist()}")
            if np.any(got < 0):
                raise InputError(f"oracle returned negative values at indices {new[got < 0][:5].tolist()}")
            self._cache.update(zip(new.tolist(), got.tolist()))
        return np.array([self._cache[i] for i in idx.tolist()], dtype=np.float64)
