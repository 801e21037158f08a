"""What one `coreselect bench` invocation asks for."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coreselect.errors import InputError


@dataclass(frozen=True)
class BenchConfig:
    """A benchmark request. `options` holds protocol-specific ``--option KEY=VALUE`` settings as text."""

    dataset: str
    protocol: str
    out: Path
    methods: tuple[str, ...] = ("uniform",)
    fractions: tuple[float, ...] = (0.1,)
    sizes: tuple[int, ...] = ()
    seeds: int = 3
    epochs: int | None = None
    model: str | None = None
    device: str = "auto"
    data_root: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def option(self, name: str, default: str | None = None) -> str | None:
        return self.options.get(name, default)


def option_number(options: dict[str, str], key: str, kind: type, default: Any = None, low: float = -math.inf,
                  high: float | None = None, above: bool = False) -> Any:
    """``--option key=value`` as `kind` (int or float), finite and in ``[low, high)`` (``(low, high)`` with
    `above`); `default` when the option is absent. Anything else is an :class:`InputError` naming the option."""
    text = options.get(key)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"--option {key}={text!r}: expected {'an integer' if kind is int else 'a number'}") from None
    if not (math.isfinite(value) and (value > low if above else value >= low) and (high is None or value < high)):
        bound = f"{'(' if above else '['}{low}, {high})" if high is not None else f"{'>' if above else '>='} {low}"
        raise InputError(f"--option {key}={text!r}: must be {bound}" if math.isfinite(value)
                         else f"--option {key}={text!r}: must be finite")
    return value


def option_choice(options: dict[str, str], key: str, choices: tuple[str, ...]) -> str:
    """``--option key=value``, one of `choices` (the first when the option is absent); anything else is an
    :class:`InputError` naming the option and the choices."""
    value = options.get(key, choices[0])
    if value not in choices:
        raise InputError(f"--option {key} must be one of {', '.join(choices)}, got {value!r}")
    return value
