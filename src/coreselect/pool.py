"""`Pool`: everything a selection method may look at, validated once."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from coreselect.checks import is_integer
from coreselect.errors import InputError

#: Signals that are magnitudes and so must be non-negative (AUM, a margin, may be negative).
NONNEGATIVE_SIGNALS = frozenset({"el2n", "grand", "forgetting", "loss"})

#: Largest feature row norm the float32 geometry (distances, k-means, nearest neighbours) takes as it is:
#: squared distances then stay below 4·10³⁶, a hundredth of float32's largest value (3.4·10³⁸), which
#: leaves room for the sums the methods form. Beyond it a scale-invariant method sees the features scaled
#: by a power of two (exact), and a method whose answer depends on the scale refuses them
#: (:meth:`Pool.scaled_for`).
MAX_ROW_NORM = 1e18
#: Below this largest row norm, squared float32 distances underflow: scaled up (or refused) likewise.
MIN_ROW_NORM = 1e-18

_EMBEDDINGS_HINT = (
    "pass an (n, d) array of numbers — embeddings, e.g. recorded with coreselect.signals.DynamicsRecorder "
    "or `coreselect score` — or, for a small dataset, np.stack([x for x, _ in dataset])"
)


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    """'rows 3, 17, 40 (and 12 more)' for the True entries of a boolean row mask."""
    bad = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in bad[:limit])
    more = f" (and {bad.size - limit} more)" if bad.size > limit else ""
    return f"row{'s' if bad.size > 1 else ''} {shown}{more}"


def _array(name: str, x: Any, hint: str = "") -> np.ndarray:
    """`x` as a NumPy array: arrays, anything with ``__array__`` (pandas, torch tensors, …) and sequences.

    A masked array is taken when nothing is masked and refused naming the masked rows otherwise; an
    object that is not array-like (a torch ``Dataset``, a generator, …) is refused before NumPy would
    iterate over it. `hint` is appended to the error messages.
    """
    if isinstance(x, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(x)
        if mask.any():
            rows = mask.reshape(mask.shape[0], -1).any(axis=1)
            raise InputError(f"{name} has masked entries at {_rows(rows)}; fill them (x.filled(value)) or "
                             "drop those rows")
        return np.asarray(x.data)
    if not (isinstance(x, (np.ndarray, Sequence)) or hasattr(x, "__array__")
            or hasattr(x, "__array_interface__")):
        raise InputError(f"{name} must be an array, got a {type(x).__name__}{hint}")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, perhaps on a GPU or requiring grad
        try:
            x = x.detach().cpu()
        except (NotImplementedError, RuntimeError) as exc:  # a meta tensor holds no values
            raise InputError(f"{name} is a tensor whose values cannot be read ({exc}){hint}") from None
        if x.is_floating_point() and x.element_size() < 4 and str(x.dtype) != "torch.float16":
            x = x.float()  # bfloat16 and float8, which NumPy lacks: float32 holds them exactly
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise InputError(f"{name} is not a numeric array: {exc}{hint}") from None


def check_dtype(name: str, arr: np.ndarray, hint: str = "") -> None:
    """Refuse anything but booleans, integers and real floats (complex, strings, objects, dates)."""
    if arr.dtype.kind == "c":
        raise InputError(f"{name} are complex ({arr.dtype}); pass the real part (x.real) or its real and "
                         "imaginary parts as separate columns")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must be numeric, got dtype {arr.dtype}{hint}")


def _frame(name: str, x: Any) -> np.ndarray:
    """A pandas DataFrame as float32: every column numeric or boolean, missing values as NaN."""
    bad = [str(c) for c, dt in zip(x.columns, x.dtypes) if getattr(dt, "kind", "O") not in "biuf"]
    if bad:
        raise InputError(f"{name} column{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} "
                         "must be numeric or boolean; encode or drop them")
    return x.to_numpy(dtype=np.float32, na_value=np.nan)


def as_float_matrix(name: str, x: Any) -> np.ndarray | sp.csr_matrix:
    """`x` as a 2-D float32 array (or CSR matrix), checked finite; copies only when it must.

    Takes NumPy arrays, scipy-sparse matrices, pandas DataFrames (numeric or boolean columns), masked
    arrays with nothing masked and anything ``np.asarray`` turns into numbers. Complex values, values
    beyond float32's range and objects that are not arrays (a torch ``Dataset``) are refused.
    """
    hint = f"; {_EMBEDDINGS_HINT}" if name == "features" else ""
    if sp.issparse(x):
        check_dtype(name, x)
        from coreselect.npyio import check_memory

        # per-column statistics (norms, means) are dense vectors: a column count no memory holds is refused
        check_memory(8 * (int(x.shape[0]) + int(x.shape[1])), f"{name}: a sparse matrix of shape {x.shape}")
        m = sp.csr_matrix(x, dtype=np.float32)
        if not np.all(np.isfinite(m.data)):
            bad_rows = np.zeros(m.shape[0], bool)
            bad_rows[np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))[~np.isfinite(m.data)]] = True
            raise InputError(f"{name} contains NaN or inf (or values beyond float32's range) at "
                             f"{_rows(bad_rows)}")
        return m
    source = _frame(name, x) if hasattr(x, "columns") and hasattr(x, "dtypes") else _array(name, x, hint)
    check_dtype(name, source, hint)
    if source.ndim == 1:
        source = source[:, None]
    if source.ndim != 2:
        raise InputError(f"{name} must be a 2-D array (n, d), got shape {source.shape}")
    if source.shape[0] == 0 or source.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {source.shape})")
    with np.errstate(over="ignore"):
        arr = np.ascontiguousarray(source, dtype=np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        beyond = ~finite
        beyond[beyond] = np.isfinite(source[beyond]).all(axis=1)  # finite until the float32 cast
        if beyond.any():
            raise InputError(f"{name} holds values beyond float32's range (±3.4e38) at {_rows(beyond)}; "
                             "rescale them")
        raise InputError(f"{name} contains NaN or inf at {_rows(~finite)}")
    if source.dtype.itemsize > 4 and source.dtype.kind == "f":
        # a row whose every value is below float32's smallest (1.4e-45) would become all zeros
        lost = ~arr.any(axis=1) & source.any(axis=1)
        if lost.any():
            raise InputError(f"{name} has rows of non-zero values all below float32's range (1.4e-45) at "
                             f"{_rows(lost)}; rescale them")
    return arr


def _vector_array(name: str, v: Any, n: int) -> np.ndarray:
    """`v` as a 1-D array of n entries (an (n, 1) or (1, n) array is flattened)."""
    arr = _array(name, v)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise InputError(f"{name} has {arr.shape[0]} rows but features have {n}")
    return arr


def as_vector(name: str, v: Any, n: int) -> np.ndarray:
    """`v` as a finite (n,) float64 vector (targets, signals, an oracle's values); names the bad rows."""
    arr = _vector_array(name, v, n)
    check_dtype(name, arr)
    out = arr.astype(np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        raise InputError(f"{name} contains NaN or inf at {_rows(~finite)}")
    return out


def _is_missing(v: Any) -> bool:
    """None, a float NaN, or pandas' ``NA`` / ``NaT`` (recognised without importing pandas)."""
    nan = isinstance(v, (float, np.floating)) and math.isnan(v)
    return v is None or nan or type(v).__name__ in ("NAType", "NaTType")


def encode_labels(name: str, v: Any, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Class labels as `(int64 labels, classes)`.

    Integer labels (or integral floats) are kept as they are, with ``classes = None``. Strings (NumPy,
    pandas Series or Categorical, object arrays of ``str``) and booleans become codes into `classes`, their
    sorted distinct values (``np.unique(..., return_inverse=True)``), which the subset's metadata records.
    Non-integral numbers, NaN and None are refused naming the rows.
    """
    arr = _vector_array(name, v, n)
    if isinstance(v, (list, tuple)) and arr.dtype.kind in "US":  # NumPy reads [1, "a"] as ["1", "a"]
        kinds = {type(x).__name__ for x in np.array(v, dtype=object).reshape(-1) if not isinstance(x, (str, bytes))}
        if kinds:
            raise InputError(f"{name} mix strings with {', '.join(sorted(kinds))}; give labels of one kind")
    if arr.dtype.kind == "O":
        missing = np.fromiter(map(_is_missing, arr), bool, arr.size)
        if missing.any():
            raise InputError(f"{name} are missing (None or NaN) at {_rows(missing)}")
        kinds = {"str" if isinstance(x, str) else "bool" if isinstance(x, (bool, np.bool_))
                 else "int" if is_integer(x) else type(x).__name__ for x in arr}
        if len(kinds) > 1 or kinds - {"str", "bool", "int"}:
            raise InputError(f"{name} must be integers, strings or booleans of one kind, "
                             f"got {', '.join(sorted(kinds))}")
        try:
            arr = arr.astype({"str": str, "bool": bool, "int": np.int64}[kinds.pop()])
        except OverflowError:
            raise InputError(f"{name} hold integers beyond 64 bits") from None
    kind = arr.dtype.kind
    if kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise InputError(f"{name} hold integers beyond 64 bits")
    if kind in "iu":
        return arr.astype(np.int64), None
    if kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InputError(f"{name} are NaN or inf at {_rows(bad)}")
        bad = arr != np.round(arr)
        if bad.any():
            raise InputError(f"{name} must be integer class labels, strings or booleans; {_rows(bad)} hold "
                             "non-integer numbers")
        bad = np.abs(arr) > 2**53  # beyond this a float is no longer one integer (and int64 overflows)
        if bad.any():
            raise InputError(f"{name} hold integers beyond 2**53 as floats at {_rows(bad)}; give them as integers")
        return arr.astype(np.int64), None
    if kind in "bUS":
        text = np.char.decode(arr, "utf-8", "backslashreplace") if kind == "S" else arr  # distinct stays distinct
        classes, codes = np.unique(text, return_inverse=True)
        return codes.astype(np.int64).reshape(-1), classes
    raise InputError(f"{name} must be integer class labels, strings or booleans, got dtype {arr.dtype}")


Vector = np.ndarray | None


def validate_metadata(n: int, labels: Any = None, targets: Any = None, signals: Mapping[str, Any] | None = None,
                      ) -> tuple[Vector, Vector, Vector, dict[str, np.ndarray]]:
    """Labels (int64, with their classes: :func:`encode_labels`), targets (float64) and signals (float64)
    checked against n rows: 1-D, finite, class labels, non-negative where the signal must be; raises
    :class:`InputError` naming the argument and the rows."""
    y, classes = (None, None) if labels is None else encode_labels("labels", labels, n)
    t = None if targets is None else as_vector("targets", targets, n)
    if signals is not None and not isinstance(signals, Mapping):
        raise InputError(f"signals must be a mapping of name to (n,) values, e.g. {{'el2n': scores}}, "
                         f"got a {type(signals).__name__}")
    sig: dict[str, np.ndarray] = {}
    for given, values in (signals or {}).items():
        name = str(given).lower()  # signal names are case-insensitive: "EL2N" is "el2n"
        if name in sig:
            raise InputError(f"signal {name!r} given twice (names are case-insensitive)")
        v = as_vector(f"signal {name!r}", values, n)
        if name in NONNEGATIVE_SIGNALS and np.any(v < 0):
            raise InputError(f"signal {name!r} must be >= 0 but is negative at {_rows(v < 0)}")
        sig[name] = v
    return y, classes, t, sig


def group_rows(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct values of `labels`, sorted, and for each the sorted rows that hold it: one stable
    O(n log n) sort, no loop over n."""
    order = np.argsort(labels, kind="stable")
    values, starts = np.unique(labels[order], return_index=True)
    return values, np.split(order, starts[1:])


@dataclass(frozen=True)
class Pool:
    """The data a method selects from.

    `features (n, d) float32` (dense, or CSR for the tabular methods), optional integer `labels (n,)`,
    regression `targets (n,)`, named per-example `signals` (e.g. ``el2n``, ``aum``, ``forgetting``) and
    an optional loss `oracle` (see :class:`coreselect.oracle.Oracle`). Labels that were not integers
    (strings, booleans) are held as codes into `classes`, their sorted original values; a class is then
    named by its original value everywhere (:meth:`members`, budget allocations, error messages).
    Use :meth:`build` to validate.
    """

    features: np.ndarray | sp.csr_matrix
    labels: np.ndarray | None = None
    targets: np.ndarray | None = None
    signals: Mapping[str, np.ndarray] = field(default_factory=dict)
    oracle: Callable[[np.ndarray], np.ndarray] | None = None
    classes: np.ndarray | None = None

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
        y, classes, t, sig = validate_metadata(n, labels, targets, signals)
        if oracle is not None:
            from coreselect.oracle import Oracle

            oracle = oracle if isinstance(oracle, Oracle) else Oracle(oracle, n)
        return cls(features=x, labels=y, targets=t, signals=sig, oracle=oracle, classes=classes)

    def dense_features(self, method: str) -> np.ndarray:
        """The features as a dense array; methods that cannot use sparse input call this."""
        if sp.issparse(self.features):
            raise InputError(f"method {method!r} needs dense features; convert with .toarray() first")
        return self.features

    def class_name(self, label: int) -> Any:
        """The class an int64 label stands for, as :meth:`members` names it: the label itself, or its
        original value when the labels were not integers."""
        return int(label) if self.classes is None else self.classes[label].item()

    def class_params(self) -> dict[str, list[Any]]:
        """``{"classes": [class values]}`` for a subset's metadata when the labels were not integers,
        else {}."""
        return {} if self.classes is None else {"classes": self.classes.tolist()}

    def members(self) -> dict[Any, np.ndarray]:
        """`{class: sorted row indices}` for every class, classes in sorted order and named by their
        original values (``{0: all rows}`` without labels). An O(n log n) stable sort, no loop over n."""
        if self.labels is None:
            return {0: np.arange(self.n)}
        values, rows = group_rows(self.labels)
        names = values.tolist() if self.classes is None else self.classes[values].tolist()
        return dict(zip(names, rows))

    def encode(self, name: str, labels: Any, n: int) -> np.ndarray:
        """Labels of other examples (a validation split of `n` rows) in this pool's encoding; a class
        this pool has no example of is an InputError naming it."""
        if self.labels is None:
            raise InputError(f"{name} were given but the pool has no labels")
        y, classes = encode_labels(name, labels, n)
        if (classes is None) != (self.classes is None):
            raise InputError(f"{name} and the training labels are of different kinds "
                             "(integers vs strings or booleans)")
        known = np.unique(self.labels) if self.classes is None else self.classes
        values = y if classes is None else classes
        absent = np.setdiff1d(values, known)
        if absent.size:
            raise InputError(f"{name} hold classes absent from the training labels: {absent.tolist()}")
        return y if classes is None else np.searchsorted(self.classes, classes)[y]

    def restrict(self, rows: np.ndarray) -> Pool:
        """The pool of rows `rows` only (sorted, unique, in range: :func:`candidate_rows`), numbered 0…m−1
        in that order; classes keep their names and codes, an oracle is asked for the original rows."""
        oracle = self.oracle
        if oracle is not None:
            from coreselect.oracle import Oracle

            oracle = Oracle(lambda idx: self.oracle(rows[idx]), rows.size)
        return dataclasses.replace(
            self,
            features=self.features[rows],
            labels=None if self.labels is None else self.labels[rows],
            targets=None if self.targets is None else self.targets[rows],
            signals={name: values[rows] for name, values in self.signals.items()},
            oracle=oracle,
        )

    def scaled_for(self, method: str, scale: str) -> Pool:
        """This pool as method `method` (whose ``scale`` is `scale`, see :func:`scale_shift`) can take it:
        unchanged while every feature row norm is at most :data:`MAX_ROW_NORM`, else with the features
        multiplied by a power of two (exact) or an InputError. Sparse features are left as they are (the
        methods that take them compute in float64; the others refuse them). One O(n·d) pass."""
        x = self.features
        if scale == "any" or sp.issparse(x) or x.shape[1] == 0:
            return self
        sq = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        top = int(np.argmax(sq))
        shift = scale_shift(float(np.sqrt(sq[top])), f"row {top}", method, scale)
        return self if shift == 0 else dataclasses.replace(self, features=x * np.float32(2.0**-shift))


def candidate_rows(within: Any, n: int) -> np.ndarray:
    """The sorted rows a selection may choose among: `within` is a :class:`~coreselect.subset.Subset` of
    the same `n` examples (e.g. what ``semdedup`` kept) or a non-empty 1-d array of distinct integer row
    indices in ``[0, n)``."""
    from coreselect.subset import Subset

    if isinstance(within, Subset):
        if within.n != n:
            raise InputError(f"within is a subset of {within.n} examples, but the features have {n} rows")
        return np.sort(within.indices)
    raw = np.asarray(within)
    if raw.dtype.kind == "b":
        raise InputError("within must hold row indices, not a boolean mask: pass np.flatnonzero(mask)")
    if raw.ndim != 1 or raw.size == 0 or raw.dtype.kind not in "iu":
        raise InputError(f"within must be a Subset or a non-empty 1-d array of integer row indices, got "
                         f"{raw.size} values of dtype {raw.dtype} in {raw.ndim} dimension(s)")
    if raw.min() < 0 or raw.max() >= n:
        raise InputError(f"within holds row indices outside [0, {n}), the features' rows")
    rows = np.unique(raw.astype(np.int64))
    if rows.size != raw.size:
        raise InputError(f"within repeats {raw.size - rows.size} row indices; give each row once")
    return rows


def scale_shift(largest: float, where: str, method: str, scale: str) -> int:
    """The power of two to divide features by, whose largest row norm `largest` (found at `where`) is
    beyond :data:`MAX_ROW_NORM`, for a method whose ``scale`` is `scale`: 0 within the limit or for
    ``"any"`` (no float32 geometry); for ``"invariant"`` the smallest shift that brings the features
    within (multiplying by 2⁻ˢ is exact in floating point, so the subset is the one exact arithmetic
    would give); for ``"bounded"`` (the answer depends on the scale) an InputError naming the norm, the
    row and the limit."""
    if scale == "any" or largest == 0 or MIN_ROW_NORM <= largest <= MAX_ROW_NORM:
        return 0
    if scale != "invariant":
        bound, act = ("beyond the", "divide") if largest > MAX_ROW_NORM else ("all below the", "multiply")
        limit = MAX_ROW_NORM if largest > MAX_ROW_NORM else MIN_ROW_NORM
        raise InputError(f"features reach a row norm of {largest:.3g} ({where}), {bound} {limit:.0e} that "
                         f"method {method!r} computes distances with in float32; {act} the features by a "
                         "constant first")
    if largest > MAX_ROW_NORM:
        return math.ceil(math.log2(largest / MAX_ROW_NORM))
    return -math.ceil(math.log2(MIN_ROW_NORM / largest))  # tiny features (squared distances would underflow)
