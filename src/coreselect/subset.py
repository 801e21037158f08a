"""`Subset`: the answer of a selection method, and its file format."""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from coreselect.errors import InputError
from coreselect.files import atomic_write, regular_input
from coreselect.npyio import NpzArchive

FORMAT_VERSION = 1
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entries carry no wall-clock time, so equal subsets are equal bytes
_MEMBERS = ("indices", "weights", "metadata")
_MAX_N = int(np.iinfo(np.int64).max)


def _json_value(value: Any) -> Any:
    """``json.dumps`` hook: a NumPy scalar or array as its Python value; anything else is not JSON."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


def _rows(x: Any) -> int | None:
    """How many rows `x` has (``shape[0]`` or ``len``), or None when it does not say."""
    shape = getattr(x, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) else 0
    return len(x) if hasattr(x, "__len__") else None


def _integer(name: str, value: Any, minimum: int) -> int:
    """`value` as an int ≥ `minimum` (numpy integers accepted; bools, floats and text are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _vector(name: str, value: Any, kinds: str, what: str) -> np.ndarray:
    """`value` as a non-empty 1-D array whose dtype kind is one of `kinds`."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nesting and the like
        raise InputError(f"{name} is not an array of {what}: {exc}") from None
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind not in kinds:
        raise InputError(f"{name} must be {what}, got dtype {arr.dtype}")
    if arr.size == 0:
        raise InputError(f"{name} is empty: a subset holds at least one example")
    return arr


def _positions(mask: np.ndarray) -> str:
    """``[3, 17] (and 2 more)`` for the True entries of `mask`."""
    bad = np.flatnonzero(mask)
    return f"{bad[:5].tolist()}" + (f" (and {bad.size - 5} more)" if bad.size > 5 else "")


@dataclass(frozen=True, eq=False)
class Subset:
    """Chosen `indices (m,)` (unique, int64) into a pool of `n` examples, with `weights (m,) > 0`.

    Weight convention: ``weights[i]`` is how many full-set examples example ``indices[i]`` stands for,
    so ``weights.sum() ≈ n``. `timings` (seconds) are kept in memory only: the saved file holds what is
    deterministic, so the same seed and inputs give a byte-identical file.
    """

    indices: np.ndarray
    weights: np.ndarray
    n: int
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    n_queries: int = 0
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        """Check every field; bad values raise `InputError` (a `ValueError`) naming the field."""
        n = _integer("n", self.n, 1)
        if n > _MAX_N:
            raise InputError(f"n must be at most 2**63 - 1 (indices are int64), got {n}")
        raw = _vector("indices", self.indices, "iu", "integers")
        if raw.size > n:
            raise InputError(f"n = {n} is smaller than the {raw.size} indices")
        outside = (raw < 0) | (raw >= n)
        if outside.any():
            raise InputError(f"indices out of range [0, {n}) at positions {_positions(outside)}")
        idx = raw.astype(np.int64)
        values, counts = np.unique(idx, return_counts=True)
        if values.size != idx.size:
            raise InputError(f"indices must be unique; repeated: {values[counts > 1][:5].tolist()} "
                             f"(merge duplicates by adding their weights)")
        w = _vector("weights", self.weights, "iuf", "real numbers").astype(np.float64)
        if w.size != idx.size:
            raise InputError(f"weights has {w.size} entries but indices has {idx.size}")
        bad = ~(np.isfinite(w) & (w > 0))
        if bad.any():
            raise InputError(f"weights must be finite and > 0; not at positions {_positions(bad)}")
        if not isinstance(self.method, str):
            raise InputError(f"method must be a string, got {self.method!r}")
        if not isinstance(self.params, dict):
            raise InputError(f"params must be a dict (a JSON object), got {type(self.params).__name__}")
        seed = None if self.seed is None else _integer("seed", self.seed, 0)
        for name, value in (("n", n), ("indices", idx), ("weights", w), ("seed", seed),
                            ("n_queries", _integer("n_queries", self.n_queries, 0))):
            object.__setattr__(self, name, value)

    @classmethod
    def from_draws(cls, draws: np.ndarray, draw_weights: np.ndarray, n: int, **meta: Any) -> Subset:
        """Merge repeated draws of an i.i.d. sample: one entry per distinct index, weights added."""
        idx, inverse = np.unique(np.asarray(draws, dtype=np.int64), return_inverse=True)
        w = np.bincount(inverse, weights=np.asarray(draw_weights, dtype=np.float64), minlength=idx.size)
        return cls(indices=idx, weights=w, n=n, **meta)

    @classmethod
    def uniform_weights(cls, indices: np.ndarray, n: int, **meta: Any) -> Subset:
        """Unweighted selection: each of the m chosen examples stands for n/m (the weight convention)."""
        idx = np.asarray(indices, dtype=np.int64)
        return cls(indices=idx, weights=np.full(idx.size, n / max(idx.size, 1)), n=n, **meta)

    def __eq__(self, other: object) -> bool:
        """Same indices (in order), weights, pool size and metadata; timings are ignored."""
        if not isinstance(other, Subset):
            return NotImplemented
        return (
            np.array_equal(self.indices, other.indices)
            and np.array_equal(self.weights, other.weights)
            and self.metadata() == other.metadata()
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays inside: not hashable

    def __len__(self) -> int:
        return int(self.indices.size)

    def __repr__(self) -> str:
        """One line: ``Subset(method='kcenter', m=500 of n=10000, weights 20..20, seed=0)``."""
        return (f"Subset(method={self.method!r}, m={len(self)} of n={self.n}, "
                f"weights {self.weights.min():.4g}..{self.weights.max():.4g}, seed={self.seed})")

    def take(self, x: Any) -> Any:
        """Rows of `x` in subset order, by position: a numpy array, sparse matrix, torch tensor or
        anything indexable by an int array; a pandas DataFrame or Series through ``.iloc`` (whatever
        its index); a list or tuple gives a list. `x` must have the subset's n rows."""
        rows = _rows(x)
        if rows is not None and rows != self.n:
            raise InputError(f"x has {rows} rows but the subset was drawn from n = {self.n}")
        if isinstance(x, (list, tuple)):
            return [x[i] for i in self.indices]
        iloc = getattr(x, "iloc", None)
        return x[self.indices] if iloc is None else iloc[self.indices]

    def as_sample_weight(self, n: int | None = None) -> np.ndarray:
        """Full-length `(n,)` weights: the subset's weight at chosen rows, 0 elsewhere (`n` at least the
        subset's n)."""
        out = np.zeros(self.n if n is None else _integer("n", n, self.n), dtype=np.float64)
        out[self.indices] = self.weights
        return out

    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "n": self.n,
            "method": self.method,
            "params": self.params,
            "seed": self.seed,
            "n_queries": self.n_queries,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write an ``.npz`` (``indices``, ``weights``, JSON ``metadata`` as uint8 bytes) atomically, by
        :func:`coreselect.files.atomic_write`: temp file + rename, a replaced file keeps its mode, and
        only a regular file is ever replaced."""
        try:
            text = json.dumps(self.metadata(), sort_keys=True, allow_nan=False, default=_json_value)
        except (TypeError, ValueError) as exc:  # an object, NaN or inf among the params
            raise InputError(f"params must hold JSON values (finite numbers, strings, lists, dicts): {exc}") from None
        arrays = {"indices": self.indices, "weights": self.weights,
                  "metadata": np.frombuffer(text.encode(), dtype=np.uint8)}

        def write(fh: BinaryIO) -> None:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, arr in arrays.items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                    zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME), buf.getvalue())

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Subset:
        """Read a file written by :meth:`save`, validated whole; never unpickles.

        The file must be a regular ``.npz`` within the limits of :mod:`coreselect.npyio`, holding
        ``indices`` (1-D integers, unique, in [0, n), at least one), ``weights`` (1-D real, finite,
        > 0, as many) and ``metadata``: UTF-8 JSON text (uint8 bytes) of an object with ``n`` (a
        positive integer), and optionally ``format`` (≤ this version's), ``method`` (a string),
        ``params`` (an object), ``seed`` (an integer or null) and ``n_queries`` (an integer ≥ 0).
        Anything else is an `InputError` naming the file and the field.
        """
        path = regular_input(path, "subset file")
        with NpzArchive(path) as archive:
            missing = [name for name in _MEMBERS if name not in archive.names]
            if missing:
                raise InputError(f"{path}: not a coreselect subset file: it has no {', '.join(missing)}")
            indices, weights, raw = (archive.read(name) for name in _MEMBERS)
        meta = _metadata(raw, path)
        try:
            return cls(indices=indices, weights=weights, n=meta["n"], method=meta.get("method", ""),
                       params=meta.get("params", {}), seed=meta.get("seed"), n_queries=meta.get("n_queries", 0))
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None


def _not_json(name: str) -> Any:
    """``json.loads`` hook: ``NaN``/``Infinity`` are Python's extension, not JSON, and are refused."""
    raise ValueError(f"{name} is not JSON")


def _metadata(raw: np.ndarray, path: Path) -> dict[str, Any]:
    """The JSON object of a subset file's ``metadata`` member, with its ``n`` and ``format`` checked."""
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise InputError(f"{path}: metadata must be JSON text as 1-D uint8 bytes, got {raw.dtype} {raw.shape}")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, numbers too long, nesting too deep
        raise InputError(f"{path}: metadata is not JSON text ({exc})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: metadata must be a JSON object, got {type(meta).__name__}")
    if "n" not in meta:
        raise InputError(f"{path}: metadata lacks the pool size 'n'")
    version = meta.get("format", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise InputError(f"{path}: metadata format {version!r} is not one this version reads (1 to {FORMAT_VERSION})")
    return meta
