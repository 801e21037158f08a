"""Method specifications of ``--methods``: ``name`` or ``name:key=value:key=value``.

``prune:signal=aum`` is the ``prune`` method with ``signal="aum"``; the canonical label (parameters
sorted by name) identifies the method in result keys and reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coreselect import registry
from coreselect.errors import InputError


@dataclass(frozen=True)
class MethodSpec:
    """A registered method with parameters: `label` (canonical text), `name`, `params` (typed)."""

    label: str
    name: str
    params: dict[str, Any]

    def make(self) -> Any:
        return registry.make(self.name, self.params)


def parse_method(spec: str) -> MethodSpec:
    """Parse and validate one method specification (unknown method or parameter: InputError)."""
    name, *items = (part.strip() for part in spec.strip().split(":"))
    if not name:
        raise InputError(f"empty method name in {spec!r}")
    texts: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"method {spec!r}: expected name:key=value, got {item!r}")
        if key in texts:
            raise InputError(f"method {spec!r}: parameter {key} given twice")
        texts[key] = value.strip()
    params = {k: registry.parse_param(name, k, v) for k, v in texts.items()}
    method = registry.make(name, params)  # validates values (the method's __post_init__)
    label = ":".join([method.name, *(f"{k}={texts[k]}" for k in sorted(texts))])
    return MethodSpec(label, method.name, params)


def parse_methods(specs: tuple[str, ...] | list[str]) -> list[MethodSpec]:
    """Every specification parsed; an empty list or a repeated label is an InputError."""
    parsed = [parse_method(s) for s in specs]
    if not parsed:
        raise InputError("no methods given")
    labels = [p.label for p in parsed]
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise InputError(f"method(s) given twice: {', '.join(repeated)}")
    return parsed
