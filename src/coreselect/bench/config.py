"""What one `coreselect bench` invocation asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
