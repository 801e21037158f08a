"""`Subset`: the answer of a selection method, and its file format."""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coreselect.errors import InputError

FORMAT_VERSION = 1
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entries carry no wall-clock time, so equal subsets are equal bytes


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
        idx = np.asarray(self.indices, dtype=np.int64).reshape(-1)
        w = np.asarray(self.weights, dtype=np.float64).reshape(-1)
        if idx.shape != w.shape:
            raise ValueError(f"indices {idx.shape} and weights {w.shape} differ in length")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"indices out of range [0, {self.n})")
        if np.unique(idx).size != idx.size:
            raise ValueError("indices must be unique (merge duplicates by adding their weights)")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("weights must be finite and > 0")
        object.__setattr__(self, "indices", idx)
        object.__setattr__(self, "weights", w)

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

    def take(self, x: Any) -> Any:
        """Rows of `x` (array, sparse matrix, or anything indexable by an int array) in subset order."""
        return x[self.indices]

    def as_sample_weight(self, n: int | None = None) -> np.ndarray:
        """Full-length `(n,)` weights: the subset's weight at chosen rows, 0 elsewhere."""
        out = np.zeros(self.n if n is None else n, dtype=np.float64)
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
        """Write an ``.npz`` (``indices``, ``weights``, JSON ``metadata``) atomically: temp file + rename."""
        path = Path(path)
        if not path.parent.is_dir():
            raise InputError(f"output directory does not exist: {path.parent}")
        arrays = {
            "indices": self.indices,
            "weights": self.weights,
            "metadata": np.frombuffer(json.dumps(self.metadata(), sort_keys=True).encode(), dtype=np.uint8),
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, arr in arrays.items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                    zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME), buf.getvalue())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Subset:
        """Read a file written by :meth:`save` (never unpickles)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["metadata"].tobytes().decode())
                indices, weights = data["indices"], data["weights"]
        except FileNotFoundError:
            raise InputError(f"no such subset file: {path}") from None
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path} is not a coreselect subset file: {exc}") from None
        return cls(
            indices=indices,
            weights=weights,
            n=int(meta["n"]),
            method=meta.get("method", ""),
            params=meta.get("params", {}),
            seed=meta.get("seed"),
            n_queries=int(meta.get("n_queries", 0)),
        )
