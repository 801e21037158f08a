"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import glob
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from coreselect.budget import Allocation
from coreselect.errors import InputError
from coreselect.files import check_output

#: What ``--dataset`` of ``bench`` and ``score`` takes (:func:`coreselect.data.load_dataset`).
DATASET_HELP = ("mnist, fashion-mnist, digits, a9a, four-moons, a path to an .npz with x, y, or a folder of "
                "MNIST-layout idx files")


def nonempty_path(text: str) -> str:
    """An argparse ``type`` for file and directory options: an empty string names nothing, and would
    otherwise be taken for "not given" or for the current directory."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file")
    return text


def parse_assignments(items: Iterable[str], flag: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a malformed or repeated item is an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key in out:
            raise InputError(f"{flag} {key} given twice")
        out[key] = value.strip()
    return out


def parse_allocation(text: str | None, classes: np.ndarray | None = None) -> Allocation | None:
    """``proportional`` | ``balanced`` | ``0=50,1=20`` (sizes) | ``0=0.1,1=0.5`` (fractions of each class);
    None (not given) stays None: the method's default.

    With integer labels a key is the class number. With text or boolean labels, `classes` holds their
    sorted values and a key names the class whose value reads as it: ``cat=10,dog=5``, ``0=5`` for the
    text class "0", ``True=5`` for the boolean class True."""
    if text is None or text in ("proportional", "balanced"):
        return text
    by_name = None if classes is None else {str(c): c for c in classes.tolist()}
    mapping: dict[Any, float] = {}
    for key, value in parse_assignments(text.split(","), "--allocation").items():
        if by_name is not None and key not in by_name:
            raise InputError(f"--allocation: no class {key!r}; the classes are {', '.join(map(repr, by_name))}")
        name = by_name[key] if by_name is not None else int(key) if key.lstrip("-").isdigit() else key
        try:
            mapping[name] = int(value) if value.isdigit() else float(value)
        except ValueError:
            raise InputError(f"--allocation: {key}={value} is not CLASS=SIZE or CLASS=FRACTION") from None
    return mapping


def check_output_path(path: str, inputs: Iterable[str | None] = ()) -> Path:
    """The output path, checked before any work (see :func:`coreselect.files.check_output`): its
    directory exists and is writable, and it is nothing yet or a regular file that is not one of the
    command's `inputs` (``None`` entries are skipped; a glob stands for the files it matches)."""
    files: list[str] = []
    for spec in inputs:
        if spec:
            files += glob.glob(spec) if any(c in spec for c in "*?[") else [spec]
    return check_output(path, files)


def parse_fractions(text: str) -> tuple[float, ...]:
    """``"0.05,0.1"`` → ``(0.05, 0.1)``, each in (0, 1]."""
    try:
        values = tuple(float(v) for v in text.split(","))  # an empty entry ("0.1,,") is an error too
    except ValueError:
        raise InputError(f"fractions must be numbers separated by commas, got {text!r}") from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise InputError(f"fractions must be in (0, 1], got {text!r}")
    return values
