"""Features that live in files: a glob of ``.npy`` shards, a Zarr array, Parquet files with an embedding column.

Each source becomes a lazy `(n, d)` float32 Dask array with one row chunk per shard (per Zarr row chunk),
plus a name per chunk so that an error can say which shard is bad. Everything that the metadata can tell
— a missing or unreadable shard, a non-numeric dtype, a shard that is not 2-D, widths that disagree — is
checked from the file headers before any data is read; NaN or inf is found by one per-chunk reduction
(:func:`check_values`) that names the shard and the row, and also finds the largest row norm.

``.npy`` shards are memory-mapped: a worker touches only the pages of the shards it is given.
"""

from __future__ import annotations

import glob as globlib
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize

from coreselect.errors import InputError


@dataclass(frozen=True)
class Sharded:
    """A lazy `(n, d)` float32 array and a human-readable name for each of its row chunks."""

    array: da.Array
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.sources) != len(self.array.chunks[0]):
            raise ValueError("one source name per row chunk")


def _expand(pattern: str) -> list[Path]:
    paths = sorted(Path(p) for p in globlib.glob(str(Path(pattern).expanduser())))
    if not paths:
        raise InputError(f"--features {pattern!r}: no file matches")
    return paths


def _numeric(dtype: np.dtype, where: str) -> None:
    if dtype.kind not in "fiub":
        raise InputError(f"{where}: features must be numeric, got dtype {dtype}")


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, bool]:
    """`(shape, dtype, fortran_order)` of a ``.npy`` file from its header alone (no data read)."""
    fmt = np.lib.format
    try:
        with path.open("rb") as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .npy file ({exc})") from None
    if dtype.hasobject:
        raise InputError(f"{path}: contains Python objects (pickle); refusing to load")
    return shape, dtype, fortran


def _load_npy(path: str, shape: tuple[int, int]) -> np.ndarray:
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if a.shape != shape:
        raise InputError(f"{path}: shape changed from {shape} to {a.shape} since it was opened")
    return a if a.dtype == np.float32 and a.flags.c_contiguous else np.ascontiguousarray(a, dtype=np.float32)


def npy_shards(pattern: str) -> Sharded:
    """Every ``.npy`` file matching `pattern` (sorted by name), stacked by rows; one chunk per shard."""
    paths = _expand(pattern)
    width = None
    shapes: list[tuple[int, int]] = []
    for path in paths:
        shape, dtype, _ = npy_header(path)
        if len(shape) != 2:
            raise InputError(f"{path}: a features shard must be 2-D (rows, d), got shape {shape}")
        _numeric(dtype, str(path))
        if width is None:
            width = shape[1]
        elif shape[1] != width:
            raise InputError(f"{path}: has {shape[1]} columns but {paths[0]} has {width}")
        if shape[0] == 0 or shape[1] == 0:
            raise InputError(f"{path}: empty shard (shape {shape})")
        shapes.append(tuple(shape))
    name = "npy-shards-" + tokenize([(str(p), p.stat().st_mtime_ns) for p in paths], shapes)
    graph = {(name, i, 0): (_load_npy, str(p), shape) for i, (p, shape) in enumerate(zip(paths, shapes))}
    chunks = (tuple(s[0] for s in shapes), (width,))
    return Sharded(da.Array(graph, name, chunks, dtype=np.float32), tuple(str(p) for p in paths))


def zarr_array(path: str) -> Sharded:
    """A 2-D Zarr array, row-chunked as stored (columns merged into one chunk), as float32."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{p}: no such Zarr store")
    try:
        arr = da.from_zarr(str(p))
    except Exception as exc:  # noqa: BLE001 -- zarr raises several unrelated types for a store it cannot open
        raise InputError(f"{p}: not a readable Zarr array ({type(exc).__name__}: {exc})") from None
    if arr.ndim != 2 or 0 in arr.shape:
        raise InputError(f"{p}: features must be a non-empty 2-D array, got shape {arr.shape}")
    _numeric(arr.dtype, str(p))
    arr = arr.rechunk({1: -1}).astype(np.float32)
    bounds = np.cumsum((0,) + arr.chunks[0])
    return Sharded(arr, tuple(f"{p} rows {a}-{b - 1}" for a, b in pairwise(bounds)))


def _embedding_column(path: Path, column: str | None) -> tuple[str, int | None, int]:
    """`(column, width or None when only the data can tell, rows)` of one Parquet file, from its metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    schema = pf.schema_arrow
    lists = [f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)
             or pa.types.is_fixed_size_list(f.type)]
    if column is None:
        if len(lists) != 1:
            raise InputError(f"{path}: name the embedding column with --key (list columns: {lists or 'none'})")
        column = lists[0]
    if column not in schema.names:
        raise InputError(f"{path}: no column {column!r} (columns: {', '.join(schema.names)})")
    kind = schema.field(column).type
    if column not in lists or not pa.types.is_floating(kind.value_type) and not pa.types.is_integer(kind.value_type):
        raise InputError(f"{path}: column {column!r} must hold lists of numbers, got {kind}")
    width = kind.list_size if pa.types.is_fixed_size_list(kind) else None
    return column, width, pf.metadata.num_rows


def _load_parquet(path: str, column: str, rows: int, width: int) -> np.ndarray:
    import pyarrow.parquet as pq

    col = pq.read_table(path, columns=[column]).column(column).combine_chunks()
    if col.null_count:
        raise InputError(f"{path}: column {column!r} has {col.null_count} missing embeddings")
    values = col.flatten().to_numpy(zero_copy_only=False)
    if len(col) != rows or values.size != rows * width or not np.all(np.diff(np.asarray(col.offsets)) == width):
        raise InputError(f"{path}: embeddings in column {column!r} are not all {width} long")
    return values.astype(np.float32, copy=False).reshape(rows, width)


def parquet_files(pattern: str, column: str | None = None) -> Sharded:
    """Parquet files matching `pattern` whose `column` holds one embedding (a list of numbers) per row.

    One chunk per file. The width comes from the schema for fixed-size lists; for variable-size lists it
    is read from the first file's first embedding, and every file is checked against it when it is read.
    """
    import pyarrow.parquet as pq

    paths = _expand(pattern)
    metas = [_embedding_column(p, column) for p in paths]
    name = metas[0][0]
    width = metas[0][1]
    if width is None:
        first = pq.ParquetFile(paths[0]).read_row_group(0, columns=[name]).column(name)
        width = len(first[0].as_py())
    blocks = []
    for path, (col, w, rows) in zip(paths, metas):
        if col != name:
            raise InputError(f"{path}: its embedding column is {col!r} but {paths[0]}'s is {name!r}")
        if w is not None and w != width:
            raise InputError(f"{path}: embeddings have {w} values but {paths[0]}'s have {width}")
        if rows == 0:
            raise InputError(f"{path}: no rows")
        task = dask.delayed(_load_parquet, pure=True)(str(path), name, rows, width)
        blocks.append(da.from_delayed(task, shape=(rows, width), dtype=np.float32))
    return Sharded(da.concatenate(blocks, axis=0), tuple(str(p) for p in paths))


def open_features(spec: str, column: str | None = None) -> Sharded:
    """Sharded features from a ``.npy`` glob, a ``.zarr`` store or a Parquet glob (`column`: embedding column)."""
    low = spec.rstrip("/").lower()
    if low.endswith((".parquet", ".pq")):
        return parquet_files(spec, column)
    if column is not None and low.endswith((".zarr", ".npy")):
        raise InputError(f"--key {column!r}: {spec!r} holds one array, with no names to choose from "
                         "(--key names an array in an .npz file or the embedding column of Parquet shards)")
    if low.endswith(".zarr"):
        return zarr_array(spec)
    if low.endswith(".npy"):
        return npy_shards(spec)
    raise InputError(f"--features {spec!r}: sharded features must be .npy files, .parquet files or a .zarr store")


def from_array(x: da.Array) -> Sharded:
    """A user's Dask array as :class:`Sharded` (columns in one chunk, float32); chunks named by their rows."""
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or 0 in x.shape:
        raise InputError(f"features must be a non-empty 2-D array (n, d), got shape {x.shape}")
    if any(np.isnan(c) for c in x.chunks[0]):
        raise InputError("features have unknown chunk sizes; call .compute_chunk_sizes() first")
    _numeric(np.dtype(x.dtype), "features")
    x = x.rechunk({1: -1}).astype(np.float32)
    bounds = np.cumsum((0,) + x.chunks[0])
    return Sharded(x, tuple(f"chunk {j} (rows {a}-{b - 1})" for j, (a, b) in enumerate(pairwise(bounds))))


def _scan_block(block: np.ndarray) -> np.ndarray:
    """`[first non-finite row or -1, how many, row of the largest norm, that squared norm]` of one chunk."""
    bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
    sq = np.einsum("ij,ij->i", block, block, dtype=np.float64)
    top = int(np.argmax(sq)) if sq.size else 0
    return np.array([bad[0] if bad.size else -1, bad.size, top, sq[top] if sq.size else 0.0])


def check_values(features: Sharded) -> tuple[float, str]:
    """One pass over the chunks: raise :class:`InputError` naming the first shard (and row) with NaN or
    inf, else return the largest row norm and where it is (for :func:`coreselect.pool.scale_shift`)."""
    x = features.array
    found = x.map_blocks(_scan_block, drop_axis=1, chunks=((4,) * len(x.chunks[0]),), dtype=np.float64)
    found = found.compute().reshape(-1, 4)
    for source, (row, count, _, _) in zip(features.sources, found):
        if row >= 0:
            more = f" (and {int(count) - 1} more rows)" if count > 1 else ""
            raise InputError(f"{source}: features contain NaN or inf at row {int(row)} of the shard{more}")
    j = int(np.argmax(found[:, 3]))
    return float(np.sqrt(found[j, 3])), f"{features.sources[j]}, row {int(found[j, 2])} of the shard"
