"""The method registry: selection methods are frozen dataclasses registered by name.

A method class has class attributes ``needs`` (inputs it reads: ``"labels"``, ``"targets"``,
``"oracle"`` or signal names such as ``"el2n"``), ``weighted`` (whether its weights carry information
beyond ``n/m``) and ``reference`` (the paper), and a method
``select(pool, budget, rng) -> Subset``. Methods whose inputs depend on a parameter override
``requires()``.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.pool import Pool
from coreselect.subset import Subset

_REGISTRY: dict[str, type] = {}


class Method(Protocol):
    name: typing.ClassVar[str]
    needs: typing.ClassVar[frozenset[str]]
    weighted: typing.ClassVar[bool]
    reference: typing.ClassVar[str]

    def requires(self) -> frozenset[str]: ...

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset: ...


class MethodBase:
    """Defaults shared by every method class (mixed into the frozen dataclasses)."""

    name: typing.ClassVar[str] = ""
    needs: typing.ClassVar[frozenset[str]] = frozenset()
    weighted: typing.ClassVar[bool] = False
    reference: typing.ClassVar[str] = ""
    #: What the bench passes as features: plain embeddings, or last-layer gradient embeddings.
    embedding: typing.ClassVar[str] = "features"

    def requires(self) -> frozenset[str]:
        return self.needs


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a method available as ``coreselect.select(name, ...)``."""

    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"method {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_all() -> None:
    """Import every module of :mod:`coreselect.methods` (each registers its methods)."""
    import coreselect.methods as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")


def available() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get_method(name: str) -> type:
    _load_all()
    if name not in _REGISTRY:
        raise InputError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def parameters(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def make(name: str, params: Mapping[str, Any]) -> Any:
    """Instantiate method `name` with `params`; unknown names list the valid ones."""
    cls = get_method(name)
    valid = parameters(cls)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        listing = ", ".join(valid) or "none"
        raise InputError(f"method {name!r} has no parameter {', '.join(map(repr, unknown))}; parameters: {listing}")
    try:
        return cls(**params)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"method {name!r}: {exc}") from None


def _parse_as(hint: Any, text: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        if text.lower() == "none" and type(None) in typing.get_args(hint):
            return None
        errors = []
        for arm in typing.get_args(hint):
            if arm is type(None):
                continue
            try:
                return _parse_as(arm, text)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        for c in choices:
            if str(c) == text:
                return c
        raise ValueError(f"expected one of {', '.join(map(str, choices))}")
    if hint is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if hint is int:
        return int(text)
    if hint is float:
        return float(text)
    if hint is str:
        return text
    raise ValueError(f"cannot be given on the command line (type {hint})")


def parse_param(name: str, key: str, text: str) -> Any:
    """Convert the command-line value `text` of parameter `key` of method `name` to its declared type."""
    cls = get_method(name)
    if key not in parameters(cls):
        listing = ", ".join(parameters(cls)) or "none"
        raise InputError(f"method {name!r} has no parameter {key!r}; parameters: {listing}")
    hint = typing.get_type_hints(cls)[key]
    try:
        return _parse_as(hint, text)
    except ValueError as exc:
        raise InputError(f"parameter {key}={text!r} of method {name!r}: {exc}") from None
