"""`Pool`: everything a selection method may look at, validated once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from coreselect.errors import InputError

#: Signals that are magnitudes and so must be non-negative (AUM, a margin, may be negative).
NONNEGATIVE_SIGNALS = frozenset({"el2n", "grand", "forgetting", "loss"})


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    """'rows 3, 17, 40 (and 12 more)' for the True entries of a boolean row mask."""
    bad = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in bad[:limit])
    more = f" (and {bad.size - limit} more)" if bad.size > limit else ""
    return f"row{'s' if bad.size > 1 else ''} {shown}{more}"


def as_float_matrix(name: str, x: Any) -> np.ndarray | sp.csr_matrix:
    """`x` as a 2-D float32 array (or CSR matrix), checked finite; copies only when it must."""
    if sp.issparse(x):
        m = sp.csr_matrix(x, dtype=np.float32)
        if not np.all(np.isfinite(m.data)):
            bad_rows = np.zeros(m.shape[0], bool)
            bad_rows[np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[~np.isfinite(m.data)]] = True
            raise InputError(f"{name} contains NaN or inf at {_rows(bad_rows)}")
        return m
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{name} is not a numeric array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D array (n, d), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {arr.shape})")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise InputError(f"{name} contains NaN or inf at {_rows(~finite)}")
    return arr


def _vector(name: str, v: Any, n: int, dtype: type) -> np.ndarray:
    arr = np.asarray(v)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise InputError(f"{name} has {arr.shape[0]} rows but features have {n}")
    if dtype is np.int64:
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise InputError(f"{name} must be integer class labels; got non-integer values")
        elif arr.dtype.kind not in "iub":
            raise InputError(f"{name} must be integer class labels, got dtype {arr.dtype}")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iufb":
        raise InputError(f"{name} must be numeric, got dtype {arr.dtype}")
    out = arr.astype(np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        raise InputError(f"{name} contains NaN or inf at {_rows(~finite)}")
    return out


def validate_metadata(n: int, labels: Any = None, targets: Any = None, signals: Mapping[str, Any] | None = None,
                      ) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, np.ndarray]]:
    """Labels (int64), targets (float64) and signals (float64) checked against n rows: 1-D, finite,
    integer labels, non-negative where the signal must be; raises :class:`InputError` naming the rows."""
    y = None if labels is None else _vector("labels", labels, n, np.int64)
    t = None if targets is None else _vector("targets", targets, n, np.float64)
    sig: dict[str, np.ndarray] = {}
    for name, values in (signals or {}).items():
        v = _vector(f"signal {name!r}", values, n, np.float64)
        if name in NONNEGATIVE_SIGNALS and np.any(v < 0):
            raise InputError(f"signal {name!r} must be >= 0 but is negative at {_rows(v < 0)}")
        sig[name] = v
    return y, t, sig


@dataclass(frozen=True)
class Pool:
    """The data a method selects from.

    `features (n, d) float32` (dense, or CSR for the tabular methods), optional integer `labels (n,)`,
    regression `targets (n,)`, named per-example `signals` (e.g. ``el2n``, ``aum``, ``forgetting``) and
    an optional loss `oracle` (see :class:`coreselect.oracle.Oracle`). Use :meth:`build` to validate.
    """

    features: np.ndarray | sp.csr_matrix
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None
    signals: Mapping[str, np.ndarray] = field(default_factory=dict)
    oracle: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    @classmethod
    def build(
        cls,
        features: Any,
        labels: Any = None,
        targets: Any = None,
        signals: Mapping[str, Any] | None = None,
        oracle: Any = None,
    ) -> Pool:
        """Validate and convert every input; raises :class:`InputError` naming the argument and rows."""
        if features is None:
            raise InputError("features are required: an (n, d) array")
        x = as_float_matrix("features", features)
        n = x.shape[0]
        y, t, sig = validate_metadata(n, labels, targets, signals)
        if oracle is not None:
            from coreselect.oracle import Oracle

            oracle = oracle if isinstance(oracle, Oracle) else Oracle(oracle, n)
        return cls(features=x, labels=y, targets=t, signals=sig, oracle=oracle)

    def dense_features(self, method: str) -> np.ndarray:
        """The features as a dense array; methods that cannot use sparse input call this."""
        if sp.issparse(self.features):
            raise InputError(f"method {method!r} needs dense features; convert with .toarray() first")
        return self.features

    def classes(self) -> np.ndarray:
        """Sorted distinct labels; raises when there are no labels."""
        if self.labels is None:
            raise InputError("labels are required for this operation")
        return np.unique(self.labels)

    def members(self) -> dict[int, np.ndarray]:
        """`{label: sorted row indices}` for every class (an O(n log n) stable sort, not a loop over n)."""
        if self.labels is None:
            return {0: np.arange(self.n)}
        order = np.argsort(self.labels, kind="stable")
        values, starts = np.unique(self.labels[order], return_index=True)
        return dict(zip(values.tolist(), np.split(order, starts[1:])))
