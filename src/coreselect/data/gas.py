"""Reader for the UCI gas-sensor array drift batches (``batchN.dat[.gz]``).

Each line is CSV: gas name, concentration (ppmv), then 128 sensor features.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import numpy as np

from coreselect.errors import InputError

N_FEATURES = 128
_BATCH = re.compile(r"^batch(\d+)\.dat(\.gz)?$")


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("ascii")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: corrupt or unreadable ({exc})") from None


def read_gas_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features ``(n, 128)`` float32, concentrations ``(n,)`` float64 and gas names ``(n,)`` str."""
    path = Path(path).expanduser()
    rows = [line.split(",") for line in _text(path).splitlines() if line.strip()]
    for i, row in enumerate(rows):
        if len(row) != N_FEATURES + 2:
            raise InputError(f"{path}: line {i + 1} has {len(row)} fields, expected {N_FEATURES + 2}")
    try:
        values = np.array([row[1:] for row in rows], dtype=np.float64).reshape(len(rows), N_FEATURES + 1)
    except ValueError as exc:
        raise InputError(f"{path}: non-numeric concentration or feature ({exc})") from None
    if not np.all(np.isfinite(values)):
        raise InputError(f"{path}: contains NaN or inf")
    names = np.array([row[0].strip() for row in rows], dtype=str)
    return values[:, 1:].astype(np.float32), values[:, 0].copy(), names


def gas_batch_files(directory: str | Path) -> dict[int, Path]:
    """Batch number -> ``batchN.dat`` (preferred) or ``batchN.dat.gz`` in `directory`, in batch order."""
    try:
        entries = sorted(Path(directory).iterdir(), key=lambda p: p.name, reverse=True)
    except OSError as exc:
        raise InputError(f"{directory}: cannot list directory ({exc.strerror or exc})") from None
    found = {int(m.group(1)): p for p in entries if (m := _BATCH.match(p.name))}
    return dict(sorted(found.items()))


def read_gas_sensor(
    directory: str | Path, batches: tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All batches in `directory` (or only `batches`), stacked in batch order.

    Returns features float32 ``(n, 128)``, concentrations float64, gas names and batch numbers int64.
    """
    files = gas_batch_files(directory)
    if batches is not None:
        wanted = {int(b) for b in batches}
        missing = sorted(wanted - files.keys())
        if missing:
            raise InputError(f"{directory}: no batch file for batch(es) {missing}")
        files = {b: p for b, p in files.items() if b in wanted}
    if not files:
        raise InputError(f"{directory}: no batchN.dat or batchN.dat.gz files")
    parts = [read_gas_batch(p) for p in files.values()]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([np.full(len(p[1]), b, np.int64) for b, p in zip(files, parts)]),
    )
