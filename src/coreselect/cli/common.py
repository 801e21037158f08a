"""Argument helpers shared by the subcommands."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from coreselect.budget import Allocation
from coreselect.errors import InputError


def parse_assignments(items: Iterable[str], flag: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a malformed or repeated item is an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key in out:
            raise InputError(f"{flag} {key} given twice")
        out[key.strip()] = value.strip()
    return out


def parse_allocation(text: str) -> Allocation:
    """``proportional`` | ``balanced`` | ``0=50,1=20`` (sizes) | ``0=0.1,1=0.5`` (fractions of each class)."""
    if text in ("proportional", "balanced"):
        return text
    mapping: dict[int, float] = {}
    for key, value in parse_assignments(text.split(","), "--allocation").items():
        try:
            mapping[int(key)] = int(value) if value.isdigit() else float(value)
        except ValueError:
            raise InputError(f"--allocation: {key}={value} is not CLASS=SIZE or CLASS=FRACTION") from None
    return mapping


def check_output_path(path: str) -> Path:
    """The output path, checked before any work: its directory must exist and it must not be a directory."""
    out = Path(path)
    if out.is_dir():
        raise InputError(f"output path is a directory: {out}")
    if not out.parent.is_dir():
        raise InputError(f"output directory does not exist: {out.parent}")
    return out


def parse_fractions(text: str) -> tuple[float, ...]:
    """``"0.05,0.1"`` → ``(0.05, 0.1)``, each in (0, 1]."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"fractions must be numbers separated by commas, got {text!r}") from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise InputError(f"fractions must be in (0, 1], got {text!r}")
    return values
