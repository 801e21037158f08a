"""Where dataset files are looked for: ``root=``, else ``$CORESELECT_DATA``, else ``../shared/data``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from coreselect.errors import InputError

ENV_VAR = "CORESELECT_DATA"
DEFAULT_ROOT = Path("..") / "shared" / "data"


def default_data_root() -> Path:
    """``$CORESELECT_DATA`` if set, else ``../shared/data``, made absolute against the working directory."""
    env = os.environ.get(ENV_VAR, "").strip()
    base = Path(env).expanduser() if env else DEFAULT_ROOT
    return (Path.cwd() / base).resolve()


def _root_origin(root: str | Path | None) -> tuple[Path, str]:
    if root is not None:
        return (Path.cwd() / Path(root).expanduser()).resolve(), "--data-root / root="
    if os.environ.get(ENV_VAR, "").strip():
        return default_data_root(), f"${ENV_VAR}"
    return default_data_root(), f"the default {DEFAULT_ROOT.as_posix()} (relative to the working directory)"


def dataset_dir(name: str, folder: str, markers: Sequence[str], root: str | Path | None = None) -> Path:
    """The directory holding dataset `name`: ``root/folder``, or `root` itself if it holds the files.

    A directory qualifies when it contains any of the file names in `markers`.
    """
    base, origin = _root_origin(root)
    for candidate in (base / folder, base):
        if any((candidate / m).is_file() for m in markers):
            return candidate
    raise InputError(
        f"{name}: data not found; looked in {base / folder} and {base} (data root from {origin}) for "
        f"{' or '.join(markers)}. Point at a copy with --data-root DIR on the command line, "
        f"load_dataset({name!r}, root=DIR) in Python, or {ENV_VAR}=DIR, where DIR/{folder}/ holds the files."
    )


def find_file(directory: Path, stem: str, name: str) -> Path:
    """``directory/stem.gz`` or ``directory/stem``, whichever exists."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise InputError(f"{name}: {directory} has no {stem} or {stem}.gz")
