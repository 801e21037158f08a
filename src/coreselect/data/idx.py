"""Reader for the idx format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Layout: two zero bytes, a type code, the number of dimensions ``k``, then ``k`` big-endian uint32
sizes, then the values in C order, big-endian. Nothing is unpickled.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from coreselect.errors import InputError

#: idx type code -> numpy dtype (big-endian, as stored).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an idx file (``.gz`` is detected from the content), in native byte order.

    Raises `InputError` when the magic number, type code or sizes do not match the file's length.
    """
    path = Path(path).expanduser()
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise InputError(f"{path}: not an idx file (bad magic number {data[:4].hex() or 'empty'})")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise InputError(f"{path}: unknown idx type code 0x{code:02x}")
    if ndim == 0:
        raise InputError(f"{path}: idx header declares zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(f"{path}: truncated idx header ({len(data)} bytes, need {header})")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise InputError(
            f"{path}: idx file {problem}: header says shape {shape} of {dtype.name} "
            f"({expected} bytes) but the data has {len(data)} bytes"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx_pair(images: str | Path, labels: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, h, w)`` uint8 and labels ``(n,)`` int64 from an idx3/idx1 pair, checked to agree."""
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise InputError(f"{images}: expected an idx3 uint8 image file, got shape {x.shape} {x.dtype}")
    if y.ndim != 1 or y.dtype != np.uint8:
        raise InputError(f"{labels}: expected an idx1 uint8 label file, got shape {y.shape} {y.dtype}")
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{images} has {x.shape[0]} images but {labels} has {y.shape[0]} labels")
    return x, y.astype(np.int64)
