"""Safe loading of user arrays from ``.npy``, ``.npz``, ``.csv`` and ``.parquet`` files.

Nothing is ever unpickled, and ``.npy``/``.npz`` files are checked against the limits of
:mod:`coreselect.npyio` before anything is read: a header of at most 10,000 bytes that matches the file's
size, at most the memory available per array, an archive that expands at most 100-fold (beyond 256 MiB),
no Python objects, no complex numbers. Each refusal is an `InputError` naming the file and the cause.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from coreselect.errors import InputError
from coreselect.files import regular_input
from coreselect.npyio import NpzArchive, check_memory, read_npy_file

SUFFIXES = (".npy", ".npz", ".csv", ".csv.gz", ".parquet", ".pq")
#: The members ``scipy.sparse.save_npz`` writes beside ``data``, ``shape`` and ``format``, by format.
_SPARSE_PARTS = {"csr": ("indices", "indptr"), "csc": ("indices", "indptr"), "bsr": ("indices", "indptr"),
                 "coo": ("row", "col"), "dia": ("offsets",)}


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InputError(f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)}")


def load_arrays_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array in an ``.npz`` archive, by name, read without unpickling (limits: see the module)."""
    path = regular_input(path)
    with NpzArchive(path) as archive:
        if not archive.names:
            raise InputError(f"{path}: archive holds no arrays")
        return archive.read_all()


def _sparse(archive: NpzArchive) -> sp.spmatrix:
    """The matrix of a ``scipy.sparse.save_npz`` file, checked whole (shape, index ranges, pointers)."""
    raw = archive.read("format")
    fmt = raw.item() if raw.shape == () else None
    fmt = fmt.decode("ascii", "replace") if isinstance(fmt, bytes) else fmt
    if fmt not in _SPARSE_PARTS:
        raise InputError(f"{archive.path}: a scipy.sparse file of unknown format {fmt!r}")
    data, shape, *parts = (archive.read(name) for name in ("data", "shape", *_SPARSE_PARTS[fmt]))
    if shape.shape != (2,) or shape.dtype.kind not in "iu":
        raise InputError(f"{archive.path}: sparse 'shape' must be two integers, got {shape!r}")
    # every row costs a row pointer once the matrix is used (CSR): refuse a shape memory cannot hold
    check_memory(8 * (int(shape[0]) + 1), f"{archive.path}: a sparse matrix of {int(shape[0]):,} rows")
    try:
        if fmt == "coo":
            return sp.coo_matrix((data, tuple(parts)), shape=tuple(shape.tolist()))
        if fmt == "dia":
            return sp.dia_matrix((data, parts[0]), shape=tuple(shape.tolist()))
        matrix = getattr(sp, f"{fmt}_matrix")((data, *parts), shape=tuple(shape.tolist()))
        matrix.check_format(full_check=True)
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise InputError(f"{archive.path}: not a valid scipy.sparse {fmt} matrix ({exc})") from None
    return matrix


def _load_npz(path: Path, key: str | None) -> np.ndarray | sp.spmatrix:
    with NpzArchive(path) as archive:
        names = archive.names
        if not names:
            raise InputError(f"{path}: archive holds no arrays")
        if key is None and {"format", "shape", "data"} <= set(names):
            return _sparse(archive)
        return archive.read(names[0] if key is None else key)


#: A decimal number as CSV files write them: no "1_000" (Python), no hex or complex (numpy's parser).
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SPECIAL = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def _decimal(text: str) -> float:
    """The value of a CSV field holding a decimal number (or nan/inf, which validation later names); a
    ValueError otherwise."""
    field = text.strip()
    if _DECIMAL.fullmatch(field) or field.lower() in _SPECIAL:
        return float(field)
    raise ValueError(f"not a decimal number: {text.strip()!r}")


def _is_number(text: str) -> bool:
    try:
        _decimal(text)
    except ValueError:
        return False
    return True


def _check_text_size(path: Path, gzipped: bool) -> None:
    """An InputError when the CSV text (decompressed, for .gz) exceeds the memory available: parsing
    holds it whole. A .gz file is streamed once and stopped as soon as it passes the limit (a
    "gzip bomb" expands a million-fold, and its header's size field only holds 32 bits)."""
    from coreselect.npyio import available_memory, format_bytes

    if not gzipped:
        check_memory(path.stat().st_size, f"{path}: the CSV text")
        return
    limit = available_memory()
    if limit is None:
        return
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 24):
                total += len(chunk)
                if total > limit:
                    raise InputError(f"{path}: decompresses to more than the {format_bytes(limit)} of memory "
                                     "available")
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


def _load_csv(path: Path, key: str | None) -> np.ndarray:
    gzipped = path.name.lower().endswith(".gz")
    _check_text_size(path, gzipped)
    opener: Any = gzip.open if gzipped else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as f:  # a BOM is not text
            first = next((line for line in f if line.strip()), None)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if first is None:
        raise InputError(f"{path}: file is empty")
    fields = [field.strip().strip('"').strip("'") for field in first.rstrip("\r\n").split(",")]
    numeric = [bool(field) and _is_number(field) for field in fields]
    if len(fields) > 1 and fields == [str(i) for i in range(len(fields))]:
        numeric = [False] * len(fields)  # "0,1,…,d-1": the column names pandas writes for a default frame
    if any(numeric) and not all(numeric):  # "0x10,2", "1+2j,3", "x,1": neither a header nor numbers
        raise InputError(f"{path}: the first row mixes numbers with text or empty fields ({first.strip()[:80]!r}); "
                         "a header row must name every column, and data rows hold only decimal numbers")
    header = not any(numeric)
    try:
        # decimal text per field: numpy's own parser also takes hex ("0x10") and complex ("1+2j") text,
        # Python's float() "1_000"
        data = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, dtype=np.float64, ndmin=2,
                          converters=_decimal, encoding="utf-8-sig")
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
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
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
    meta = parquet.metadata  # read with the schema: the footer
    leaves = [meta.schema.column(j).path.split(".")[0] for j in range(meta.num_columns)]
    values = sum(meta.row_group(g).column(j).num_values
                 for g in range(meta.num_row_groups) for j in range(meta.num_columns) if leaves[j] in wanted)
    # the Arrow table (≤ 8 bytes a value) and its float64 copy: encoding and compression do not matter
    check_memory(16 * values, f"{path}: {values:,} values of columns {', '.join(map(repr, wanted))}")
    try:
        table = parquet.read(columns=wanted)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None
    if key is not None or len(wanted) == 1:
        return _parquet_column(table.column(wanted[0]), wanted[0], path)
    return np.column_stack([_parquet_column(table.column(n), n, path) for n in wanted])


def load_array(path: str | Path, key: str | None = None) -> np.ndarray | sp.spmatrix:
    """The array stored in `path`, a regular file, chosen by extension (never unpickling anything).

    - ``.npy``: the array.
    - ``.npz``: the first array, or the one named `key`; a ``scipy.sparse.save_npz`` file (members
      ``format``, ``shape``, ``data``, …) is its sparse matrix, unless `key` picks a member.
    - ``.csv`` / ``.csv.gz``: numbers as float64 (a first row of names, or of pandas' default names
      ``0,1,…,d-1``, is a header and skipped; one mixing numbers with text is an error); `key` picks a
      column by header name. A single column comes back 1-D.
    - ``.parquet`` / ``.pq`` (needs pyarrow): all numeric columns as a 2-D array (1-D if there is one),
      or a single list/embedding column as ``(n, d)``; `key` picks a column.
    """
    path = regular_input(path)
    suffix = _suffix(path)
    if suffix == ".npy":
        if key is not None:
            raise InputError(f"{path}: key={key!r} given, but a .npy file holds a single array")
        return read_npy_file(path)
    if suffix == ".npz":
        return _load_npz(path, key)
    if suffix in (".csv", ".csv.gz"):
        return _load_csv(path, key)
    return _load_parquet(path, key)


def load_vector(path: str | Path, what: str) -> np.ndarray:
    """One value per example from `path` (labels, targets, a signal, oracle losses): a dense 1-D array
    (an (n, 1) or (1, n) array is flattened); a sparse matrix, a scalar or a table is an InputError
    naming `what`."""
    values = load_array(path)
    if sp.issparse(values):
        raise InputError(f"{what} {path}: is a sparse matrix; give a dense (n,) array")
    if values.ndim == 2 and 1 in values.shape:
        values = values.reshape(-1)
    if values.ndim != 1:
        raise InputError(f"{what} {path}: must be one value per example, shape (n,), got shape {values.shape}")
    return values
