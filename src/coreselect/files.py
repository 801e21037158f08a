"""Paths on disk: input files checked for what they are, output targets checked before any work, and
atomic writes that never leave a half-written file, never replace anything but a regular file, and keep
the file mode a user expects."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from coreselect.errors import InputError

try:  # POSIX advisory locks; elsewhere temp files are never removed as stale (no way to tell a live writer)
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

#: Flags absent on some platforms (Windows) are simply not asked for.
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

PathLike = str | os.PathLike

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)
_REASONS = {
    errno.ELOOP: "symbolic link loop",
    errno.ENAMETOOLONG: "file name too long",
    errno.EACCES: "permission denied",
    errno.ENOTDIR: "a component of the path is not a directory",
}


def kind(mode: int) -> str:
    """What a ``st_mode`` names, in words: "a regular file", "a directory", "a FIFO (named pipe)", …"""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _stat(path: Path) -> os.stat_result | None:
    """``os.stat(path)`` (links followed); None when nothing is there; an `InputError` saying why a path
    cannot be looked at (a symbolic link loop, a name too long, no permission)."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"{path}: {_REASONS.get(exc.errno or 0, exc.strerror or str(exc))}") from None


def _expand(path: PathLike) -> Path:
    """`path` with ``~`` expanded; an unknown user's ``~user``, or a path that is not text, is an InputError."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise InputError(f"a path must be a str or os.PathLike, got {type(path).__name__}")
    try:
        return Path(path).expanduser()
    except RuntimeError as exc:  # ~user whose home directory is unknown
        raise InputError(f"{path}: {exc}") from None


def _file_path(path: PathLike) -> Path:
    """:func:`_expand` for a file's name: one ending in a slash names a directory (``Path`` would drop
    the slash silently), an InputError."""
    if isinstance(path, str) and path.endswith(("/", os.sep)) and path.strip("/" + os.sep):
        raise InputError(f"{path}: ends in a slash, so it names a directory, not a file")
    return _expand(path)


def regular_input(path: PathLike, what: str = "file") -> Path:
    """`path` if it names an existing regular file (links followed), else an `InputError` with the cause:
    no such `what`, a dangling link, a link loop, or a directory, device, FIFO or socket (which a reader
    would hang on or misread)."""
    p = _file_path(path)
    st = _stat(p)
    if st is None:
        raise InputError(f"{p}: no such {what}" + (" (a dangling symbolic link)" if p.is_symlink() else ""))
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: is {kind(st.st_mode)}, not a regular file")
    return p


def _output_stat(out: Path) -> os.stat_result | None:
    """The status of the output file `out` (None: nothing there yet), which must be a regular file if
    anything, in an existing directory (links followed)."""
    st = _stat(out)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(f"output path {out} is {kind(st.st_mode)}; give the name of a regular file")
    if not Path(os.path.realpath(out)).parent.is_dir():
        raise InputError(f"output directory does not exist: {out.parent}")
    return st


def check_output(path: PathLike, inputs: Iterable[PathLike | None] = ()) -> Path:
    """`path` as an output file, checked before any work: its directory exists and is writable, and
    `path` is either nothing yet or a regular file that is none of `inputs` (the same file by device
    and inode, so links and hard links count). Anything else is an `InputError`."""
    out = _file_path(path)
    st = _output_stat(out)
    _check_writable(Path(os.path.realpath(out)).parent)
    if st is not None:
        for source in inputs:
            if source is not None and same_file(out, source):
                raise InputError(f"output path {out} is the input file {source}; writing it would destroy the input")
    return out


def _check_writable(directory: Path) -> None:
    """Create and remove a temp file in `directory`, so an unwritable place (a read-only or virtual file
    system such as /proc, whatever the permission bits say) is refused before any work."""
    try:
        fd, tmp = _create_locked(directory, ".coreselect-probe-{}.tmp")
    except OSError as exc:
        raise InputError(f"cannot write in {directory}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp.unlink(missing_ok=True)


def check_output_dir(path: PathLike) -> bool:
    """`path` as an output directory, checked before any work: an existing, writable directory (True),
    or nothing yet in an existing, writable directory (False). Anything else is an `InputError`."""
    out = _expand(path)
    st = _stat(out)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise InputError(f"output path {out} is {kind(st.st_mode)}, not a directory")
    where = out if st is not None else Path(os.path.realpath(out)).parent
    if not where.is_dir():
        raise InputError(f"parent directory of {out} does not exist: {out.parent}")
    _check_writable(where)
    return st is not None


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether `a` and `b` both exist and are one file (device and inode equal, links followed)."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write the file `path` through ``write(fh)``, atomically: into a hidden temp file beside it,
    flushed to disk, then renamed over `path`. Readers see the old file or the new one, never a part.

    A link is followed (the file it names is replaced). A new file gets the mode the umask allows, as
    ``open()`` gives; a replaced file keeps its mode. Only a regular file is ever replaced: a directory,
    device, FIFO or socket at `path` is an `InputError`, and so is a missing directory. Temp names are
    short (``.coreselect-<hash of the name>-<random>.tmp``, 37 bytes), so any valid file name works; temp
    files of this pattern left by a writer that was killed are removed first (a live writer's temp file
    is locked, and left alone).
    """
    st = _output_stat(_file_path(path))
    target = Path(os.path.realpath(_file_path(path)))
    pattern = f".coreselect-{hashlib.sha256(os.fsencode(target.name)).hexdigest()[:12]}-{{}}.tmp"
    _remove_stale(target.parent, pattern)
    fd, tmp = _create_locked(target.parent, pattern)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            if st is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode))
            os.fsync(fh.fileno())
            os.replace(tmp, target)  # still locked: no other writer takes the temp file for a stale one
    except OSError as exc:  # a full disk, a quota, an I/O error: nothing was replaced
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Path(path)


def _create_locked(directory: Path, pattern: str) -> tuple[int, Path]:
    """A new temp file (mode 0666 less the umask) and its descriptor, locked against stale-file removal."""
    while True:
        tmp = directory / pattern.format(secrets.token_hex(4))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:  # no locks here: nothing removes it as stale either
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: nothing removes it as stale either
            return fd, tmp
        if os.fstat(fd).st_nlink:  # not removed as stale between its creation and the lock
            return fd, tmp
        os.close(fd)


def _remove_stale(directory: Path, pattern: str) -> None:
    """Remove the temp files of `pattern` that no live writer holds locked (left by a killed save); without
    POSIX locks nothing is removed, since a live writer's file cannot be told from a dead one's."""
    if fcntl is None:
        return
    for tmp in directory.glob(pattern.format("*")):
        try:
            fd = os.open(tmp, os.O_RDONLY | _NONBLOCK | _NOFOLLOW | _CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            opened = os.fstat(fd)
            if stat.S_ISREG(opened.st_mode) and opened.st_ino == os.lstat(tmp).st_ino:
                tmp.unlink()
        except OSError:  # locked by a live writer, or already gone
            pass
        finally:
            os.close(fd)
