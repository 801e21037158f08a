"""Reading ``.npy`` arrays and ``.npz`` archives that nobody vouched for.

Nothing is unpickled, and no array is allocated before its size is known to be sound. Limits:

- a ``.npy`` header is at most :data:`MAX_HEADER_BYTES` long (numpy's own limit) and describes an array
  the file really holds: shape × item size may not exceed the bytes after the header;
- one array may need at most the memory available (``MemAvailable`` of ``/proc/meminfo``);
- the ``.npy`` members of an ``.npz`` may together expand to at most :data:`MAX_EXPANSION` times the
  archive's size, or :data:`EXPANSION_FREE_BYTES`, whichever is larger: a zip bomb is refused from the
  archive's directory, before anything is decompressed (save highly compressible arrays with
  ``numpy.savez``, which does not compress);
- arrays of Python objects (pickles) and of complex numbers are refused.

Every refusal is an `InputError` naming the file, the array and the cause.
"""

from __future__ import annotations

import ast
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from coreselect.errors import InputError

if TYPE_CHECKING:
    from typing import Self

MAX_HEADER_BYTES = 10_000
MAX_EXPANSION = 100
EXPANSION_FREE_BYTES = 256 * 2**20

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with members, an empty archive
PICKLE = "contains Python objects (pickle); refusing to load"
_VERSIONS = {(1, 0): 2, (2, 0): 4, (3, 0): 4}  # .npy format version → bytes of the header length
_PARSE_ERRORS = (ValueError, TypeError, SyntaxError, KeyError, IndexError, RecursionError, MemoryError)
#: What reading a damaged file or zip member may raise (zipfile: RuntimeError for encrypted members,
#: NotImplementedError for unknown compression).
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, struct.error, RuntimeError,
               NotImplementedError)


def cgroup_headroom(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes left under this process's control-group memory limit (``limit − usage``; cgroup v2's
    ``memory.max``/``memory.current`` or v1's ``memory.limit_in_bytes``/``memory.usage_in_bytes``), or None
    when there is no finite limit or it cannot be read. A container's limit is often far below the host's
    free memory, which is all ``/proc/meminfo`` shows."""
    try:
        with open(proc_cgroup) as fh:
            lines = [line.rstrip("\n").split(":", 2) for line in fh]
    except OSError:
        return None
    candidates = []
    for fields in lines:
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        path = path.lstrip("/")
        if controllers == "":  # cgroup v2
            candidates.append((os.path.join(root, path, "memory.max"), os.path.join(root, path, "memory.current")))
        elif "memory" in controllers.split(","):  # cgroup v1
            base = os.path.join(root, "memory", path)
            candidates.append((os.path.join(base, "memory.limit_in_bytes"), os.path.join(base, "memory.usage_in_bytes")))
    for limit_file, usage_file in candidates:
        try:
            with open(limit_file) as fh:
                limit_text = fh.read().strip()
            with open(usage_file) as fh:
                usage = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or not limit_text.isdigit() or int(limit_text) >= 2**62:  # unlimited
            continue
        return max(0, int(limit_text) - usage)
    return None


def available_memory() -> int | None:
    """Bytes a new allocation may take: ``MemAvailable`` of ``/proc/meminfo`` (else the physical memory),
    capped by the headroom under a control-group memory limit (:func:`cgroup_headroom`); None when unknown."""
    system = None
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    system = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if system is None:
        try:
            system = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            system = None
    headroom = cgroup_headroom()
    if headroom is None:
        return system
    return headroom if system is None else min(system, headroom)


def format_bytes(n: int) -> str:
    """``5.4 GiB``-style size."""
    if n < 1024:
        return f"{n} bytes"
    size = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def check_memory(nbytes: int, what: str) -> None:
    """An InputError when `what` needs more than the memory available."""
    memory = available_memory()
    if memory is not None and nbytes > memory:
        raise InputError(f"{what} needs {format_bytes(nbytes)}, more than the {format_bytes(memory)} of memory available")


@dataclass(frozen=True)
class Header:
    """A parsed ``.npy`` header: the array's `dtype`, `shape`, and where its data start (`offset`)."""

    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_header(fh: IO[bytes], what: str) -> Header:
    """The header of the ``.npy`` stream at `fh`'s position; `what` names the array in messages."""
    start = fh.read(8)
    if start[:6] != NPY_MAGIC:
        if start[:1] == b"\x80":
            raise InputError(f"{what} is a Python pickle, not a .npy array; refusing to load")
        hint = " (it is a zip archive; name it .npz)" if start[:4] in ZIP_MAGICS else ""
        raise InputError(f"{what} is not a .npy array{hint}")
    if len(start) < 8:
        raise InputError(f"{what} is truncated inside its header")
    version = (start[6], start[7])
    if version not in _VERSIONS:
        raise InputError(f"{what} has an unknown .npy format version {version}")
    raw = fh.read(_VERSIONS[version])
    length = int.from_bytes(raw, "little")
    if len(raw) < _VERSIONS[version]:
        raise InputError(f"{what} is truncated inside its header")
    if length > MAX_HEADER_BYTES:
        raise InputError(f"{what} has a header of {length} bytes, more than the limit of {MAX_HEADER_BYTES}")
    text = fh.read(length)
    if len(text) < length:
        raise InputError(f"{what} is truncated inside its header")
    try:
        fields = ast.literal_eval(text.decode("utf-8" if version == (3, 0) else "latin-1"))
        shape, fortran = fields["shape"], fields["fortran_order"]
        well_formed = (isinstance(fields, dict) and sorted(fields) == ["descr", "fortran_order", "shape"]
                       and isinstance(fortran, bool) and isinstance(shape, tuple)
                       and all(type(s) is int and s >= 0 for s in shape))
        dtype = np.lib.format.descr_to_dtype(fields["descr"]) if well_formed else None
    except _PARSE_ERRORS:
        dtype = None
    if dtype is None:
        raise InputError(f"{what} has a malformed .npy header")
    return Header(dtype, shape, 6 + 2 + len(raw) + length)


def read_npy(fh: IO[bytes], what: str, size: int) -> np.ndarray:
    """The array of the ``.npy`` stream `fh` (seekable, `size` bytes long), its header checked against
    the limits of this module before any data are read or allocated."""
    header = read_header(fh, what)
    if header.dtype.hasobject:
        raise InputError(f"{what} {PICKLE}")
    if header.dtype.kind == "c":
        raise InputError(f"{what} holds complex numbers ({header.dtype}); coreselect needs real values")
    if header.offset + header.nbytes > size:
        raise InputError(f"{what} is truncated: its header gives shape {header.shape} of {header.dtype} "
                         f"({format_bytes(header.nbytes)}), but only {format_bytes(max(size - header.offset, 0))} follow")
    check_memory(header.nbytes, what)
    fh.seek(0)
    return np.lib.format.read_array(fh, allow_pickle=False, max_header_size=MAX_HEADER_BYTES)


def read_npy_file(path: Path) -> np.ndarray:
    """The array of the ``.npy`` file `path` (a regular file; see :func:`read_npy`)."""
    try:
        with path.open("rb") as fh:
            return read_npy(fh, str(path), os.fstat(fh.fileno()).st_size)
    except InputError:
        raise
    except READ_ERRORS as exc:
        raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


class NpzArchive:
    """An open ``.npz`` (a regular file) whose directory passed the limits; arrays are read one by one.

    `names` are its members without the ``.npy`` suffix, in archive order. Use it as a context manager.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            self._file = path.open("rb")
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        try:
            if self._file.read(4) not in ZIP_MAGICS:
                raise InputError(f"{path}: not an .npz (zip) archive")
            self._file.seek(0)
            self._zip = zipfile.ZipFile(self._file)
            infos = self._zip.infolist()
            self._members = {i.filename.removesuffix(".npy"): i for i in infos}
            self._check_sizes(infos, os.fstat(self._file.fileno()).st_size)
        except InputError:
            self._file.close()
            raise
        except READ_ERRORS as exc:
            self._file.close()
            raise InputError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc})") from None

    def _check_sizes(self, infos: list[zipfile.ZipInfo], size: int) -> None:
        total = sum(i.file_size for i in infos)
        allowed = max(EXPANSION_FREE_BYTES, MAX_EXPANSION * size)
        if total > allowed:
            raise InputError(
                f"{self.path}: its members would expand to {format_bytes(total)}, more than {MAX_EXPANSION} times "
                f"the archive's {format_bytes(size)} (a zip bomb?); save large, very compressible arrays with "
                f"numpy.savez, which does not compress")
        for info in infos:
            check_memory(info.file_size, f"{self.path}: array {info.filename.removesuffix('.npy')!r}")

    @property
    def names(self) -> list[str]:
        return list(self._members)

    def read(self, name: str) -> np.ndarray:
        """The array `name` (an `InputError` when it is missing, not a ``.npy`` member, or damaged)."""
        what = f"{self.path}: array {name!r}"
        info = self._members.get(name)
        if info is None:
            raise InputError(f"{self.path}: no array {name!r}; it holds {', '.join(map(repr, self.names))}")
        if not info.filename.endswith(".npy"):
            raise InputError(f"{self.path}: member {name!r} is not a .npy array")
        try:
            with self._zip.open(info) as fh:
                return read_npy(fh, what, info.file_size)
        except InputError:
            raise
        except READ_ERRORS as exc:
            raise InputError(f"{what} cannot be read ({type(exc).__name__}: {exc})") from None

    def read_all(self) -> dict[str, np.ndarray]:
        """Every array, by name (their total size checked against the memory available first)."""
        check_memory(sum(i.file_size for i in self._members.values()), f"{self.path}: its arrays")
        return {name: self.read(name) for name in self._members}

    def close(self) -> None:
        self._zip.close()
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
