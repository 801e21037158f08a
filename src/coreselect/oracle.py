"""A counted per-example loss oracle (sensitivity sampling queries the loss only at a few points)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coreselect.checks import is_integer
from coreselect.errors import InputError
from coreselect.pool import as_vector, check_dtype

#: Largest oracle value: the methods sum n of them (and their squares), which must stay finite.
MAX_VALUE = 1e150


def _check_nonnegative(values: np.ndarray, indices: np.ndarray) -> None:
    if np.any(values < 0):
        bad = indices[values < 0][:5].tolist()
        raise InputError(f"oracle values must be >= 0, but are negative at indices {bad}")
    if np.any(values > MAX_VALUE):
        bad = indices[values > MAX_VALUE][:5].tolist()
        raise InputError(f"oracle values must be at most {MAX_VALUE:.0e} (their sums must stay finite), but are "
                         f"larger at indices {bad}; rescale them")


class Oracle:
    """Wraps a callable ``fn(indices) -> values`` or a precomputed array of per-example values.

    Every distinct index asked for is counted in :attr:`n_queries`; values are cached, so asking again
    costs nothing. An array oracle is checked whole when it is wrapped (finite, non-negative, real: a bad
    value is an error whichever rows the clustering later queries) and then read only at the queried
    indices, exactly like a callable one, whose values are checked as they are returned.
    """

    def __init__(self, source: Callable[[np.ndarray], Any] | Any, n: int):
        if not is_integer(n) or n < 1:
            raise InputError(f"Oracle n must be a positive integer (the number of examples), got {n!r}")
        if callable(source):
            self._fn = source
        else:
            values = as_vector("oracle", source, n)
            _check_nonnegative(values, np.arange(n))
            self._fn = values.__getitem__
        self.n = n
        self._cache: dict[int, float] = {}

    @property
    def n_queries(self) -> int:
        return len(self._cache)

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        raw = np.asarray(indices)
        if raw.size and raw.dtype.kind not in "iu":
            raise InputError(f"oracle indices must be integers, got dtype {raw.dtype}")
        idx = raw.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise InputError(f"oracle queried outside [0, {self.n})")
        new = np.unique([i for i in idx.tolist() if i not in self._cache]).astype(np.int64)
        if new.size:
            try:
                got = np.asarray(self._fn(new)).reshape(-1)
            except (ValueError, TypeError) as exc:  # a ragged or non-numeric answer
                raise InputError(f"oracle returned something that is not an array of numbers ({exc})") from None
            if got.shape[0] != new.size:
                raise InputError(f"oracle returned {got.shape[0]} values for {new.size} indices")
            check_dtype("oracle values", got)
            got = got.astype(np.float64)
            if not np.all(np.isfinite(got)):
                raise InputError(f"oracle returned NaN or inf at indices {new[~np.isfinite(got)][:5].tolist()}")
            _check_nonnegative(got, new)
            self._cache.update(zip(new.tolist(), got.tolist()))
        return np.array([self._cache[i] for i in idx.tolist()], dtype=np.float64)
