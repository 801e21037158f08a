"""Safe loading of user arrays from ``.npy``, ``.npz``, ``.csv`` and ``.parquet`` files.

Nothing is ever unpickled: object arrays and pickle files are refused with an `InputError`.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from coreselect.errors import InputError

SUFFIXES = (".npy", ".npz", ".csv", ".csv.gz", ".parquet", ".pq")
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE = "contains Python objects (pickle); refusing to load"
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, ValueError)


def _existing(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    return p


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InputError(f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)}")


def _head(path: Path, n: int = 6) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(n)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _refuse_pickle(path: Path, exc: Exception, what: str) -> InputError:
    """The `InputError` for a failed `np.load`: pickle refusal, or the reader's own complaint."""
    if "allow_pickle" in str(exc) or "pickled" in str(exc):
        return InputError(f"{path}: {what} {_PICKLE}")
    return InputError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})")


def _load_npy(path: Path) -> np.ndarray:
    head = _head(path)
    if head != _NPY_MAGIC:
        if head[:1] == b"\x80":
            raise InputError(f"{path}: {_PICKLE}")
        hint = " (it is a zip archive; name it .npz)" if head[:4] == _ZIP_MAGIC else ""
        raise InputError(f"{path}: not a .npy file{hint}")
    try:
        return np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _refuse_pickle(path, exc, "array") from None


def load_arrays_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array in an ``.npz`` archive, by name, read without unpickling."""
    path = _existing(path)
    if _head(path, 4) != _ZIP_MAGIC:
        raise InputError(f"{path}: not an .npz (zip) archive")
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in archive.files:
                try:
                    value = archive[name]
                except _READ_ERRORS as exc:
                    raise _refuse_pickle(path, exc, f"array {name!r}") from None
                if not isinstance(value, np.ndarray):
                    raise InputError(f"{path}: member {name!r} is not a .npy array")
                out[name] = value
    except InputError:
        raise
    except _READ_ERRORS as exc:
        raise _refuse_pickle(path, exc, "archive") from None
    if not out:
        raise InputError(f"{path}: archive holds no arrays")
    return out


def _load_npz(path: Path, key: str | None) -> np.ndarray:
    if _head(path, 4) != _ZIP_MAGIC:
        raise InputError(f"{path}: not an .npz (zip) archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not names:
                raise InputError(f"{path}: archive holds no arrays")
            if key is not None and key not in names:
                raise InputError(f"{path}: no array {key!r}; it holds {', '.join(map(repr, names))}")
            name = names[0] if key is None else key
            try:
                value = archive[name]
            except _READ_ERRORS as exc:
                raise _refuse_pickle(path, exc, f"array {name!r}") from None
    except InputError:
        raise
    except _READ_ERRORS as exc:
        raise _refuse_pickle(path, exc, "archive") from None
    if not isinstance(value, np.ndarray):
        raise InputError(f"{path}: member {name!r} is not a .npy array")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_csv(path: Path, key: str | None) -> np.ndarray:
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), None)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if first is None:
        raise InputError(f"{path}: file is empty")
    fields = [field.strip().strip('"').strip("'") for field in first.rstrip("\r\n").split(",")]
    header = any(field and not _is_number(field) for field in fields)
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, dtype=np.float64, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a numeric CSV file ({exc})") from None
    if data.shape[0] == 0:
        raise InputError(f"{path}: has a header but no data rows")
    if key is not None:
        if not header:
            raise InputError(f"{path}: has no header row, so key={key!r} cannot name a column")
        if key not in fields:
            raise InputError(f"{path}: no column {key!r}; columns are {', '.join(map(repr, fields))}")
        return data[:, fields.index(key)]
    return data[:, 0] if data.shape[1] == 1 else data


def _parquet_column(column: Any, name: str, path: Path) -> np.ndarray:
    """One Arrow column as numpy: a number column as 1-D, a list column of equal-length rows as 2-D."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count:
        raise InputError(f"{path}: column {name!r} has {column.null_count} missing values")
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return column.to_numpy()
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise InputError(f"{path}: column {name!r} has type {kind}, which is neither numeric nor a list")
    if len(column) == 0:
        raise InputError(f"{path}: column {name!r} is empty")
    array = column.combine_chunks()
    lengths = np.unique(pc.list_value_length(array).to_numpy())
    if lengths.size != 1:
        raise InputError(f"{path}: list column {name!r} has rows of different lengths {lengths[:5].tolist()}")
    values = array.flatten()
    if values.null_count:
        raise InputError(f"{path}: list column {name!r} has {values.null_count} missing entries")
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise InputError(f"{path}: list column {name!r} holds {values.type}, not numbers")
    return values.to_numpy().reshape(len(array), int(lengths[0]))


def _load_parquet(path: Path, key: str | None) -> np.ndarray:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading .parquet files needs pyarrow (pip install pyarrow)") from None
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None
    names = list(schema.names)
    if key is not None and key not in names:
        raise InputError(f"{path}: no column {key!r}; columns are {', '.join(map(repr, names))}")

    def is_list(t: Any) -> bool:
        return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)

    def is_number(t: Any) -> bool:
        return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)

    if key is not None:
        wanted = [key]
    else:
        lists = [f.name for f in schema if is_list(f.type)]
        numbers = [f.name for f in schema if is_number(f.type)]
        if lists and (len(lists) > 1 or numbers):
            raise InputError(
                f"{path}: ambiguous: columns {', '.join(map(repr, lists + numbers))} could each be the "
                f"array; pass key= to pick one"
            )
        wanted = lists or numbers
        if not wanted:
            raise InputError(f"{path}: no numeric or list columns (columns: {', '.join(map(repr, names))})")
    try:
        table = pq.read_table(path, columns=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None
    if key is not None or len(wanted) == 1:
        return _parquet_column(table.column(wanted[0]), wanted[0], path)
    return np.column_stack([_parquet_column(table.column(n), n, path) for n in wanted])


def load_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """The array stored in `path`, chosen by extension (never unpickling anything).

    - ``.npy``: the array.
    - ``.npz``: the first array, or the one named `key`.
    - ``.csv`` / ``.csv.gz``: numbers as float64 (a header row is detected and skipped); `key` picks a
      column by header name. A single column comes back 1-D.
    - ``.parquet`` / ``.pq`` (needs pyarrow): all numeric columns as a 2-D array (1-D if there is one),
      or a single list/embedding column as ``(n, d)``; `key` picks a column.
    """
    path = _existing(path)
    suffix = _suffix(path)
    if suffix == ".npy":
        if key is not None:
            raise InputError(f"{path}: key={key!r} given, but a .npy file holds a single array")
        return _load_npy(path)
    if suffix == ".npz":
        return _load_npz(path, key)
    if suffix in (".csv", ".csv.gz"):
        return _load_csv(path, key)
    return _load_parquet(path, key)
