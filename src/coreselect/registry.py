"""The method registry: selection methods are frozen dataclasses registered by name.

A method class has class attributes ``needs`` (inputs it reads: ``"labels"``, ``"targets"``,
``"oracle"`` or signal names such as ``"el2n"``), ``weighted`` (whether its weights carry information
beyond ``n/m``) and ``reference`` (the paper), and a method
``select(pool, budget, rng) -> Subset``. Methods whose inputs depend on a parameter override
``requires()``.

Parameters are checked once, here, against the dataclass's type hints (:func:`check_param`), before a
method is built: ``int`` takes Python or NumPy integers only — not ``True``, not ``"3"`` and not ``5.0``
(as scikit-learn's parameter validation does; the command line's ``--param k=5.0`` is refused the same
way); ``float`` takes any real number (ints included) and must be finite; ``bool`` takes ``True`` or
``False`` only; ``str`` a string; ``Literal[...]`` one of its values; ``X | None`` also None. NumPy
scalars become the equivalent Python value, so every recorded parameter is plain JSON.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import math
import pkgutil
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from coreselect.budget import Budget
from coreselect.checks import is_integer, is_real
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

    def uses(self) -> frozenset[str]: ...

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset: ...


class MethodBase:
    """Defaults shared by every method class (mixed into the frozen dataclasses)."""

    name: typing.ClassVar[str] = ""
    needs: typing.ClassVar[frozenset[str]] = frozenset()
    weighted: typing.ClassVar[bool] = False
    reference: typing.ClassVar[str] = ""
    #: Inputs read when given but not required (labels, for methods that then work class by class).
    optional: typing.ClassVar[frozenset[str]] = frozenset()
    #: What the bench passes as features: plain embeddings, or last-layer gradient embeddings.
    embedding: typing.ClassVar[str] = "features"
    #: How the method copes with the features' magnitude (see :func:`coreselect.pool.check_scale`):
    #: ``"any"`` — it reads no feature values, or computes in float64: every finite float32 is fine;
    #: ``"invariant"`` — float32 geometry whose answer does not change when the features are multiplied
    #: by a constant: features beyond :data:`coreselect.pool.MAX_ROW_NORM` are scaled by a power of two
    #: (exact in floating point, so the subset is the one exact arithmetic would give);
    #: ``"bounded"`` — float32 geometry in the features' own units: beyond the limit, an InputError.
    scale: typing.ClassVar[typing.Literal["any", "invariant", "bounded"]] = "bounded"
    #: What the weights add up to, when it is not exactly n (shown by ``coreselect inspect``).
    weight_total: typing.ClassVar[str] = "n"
    #: The class split when the caller names none (``allocation=None``, the front door's default).
    default_allocation: typing.ClassVar[str] = "proportional"

    def requires(self) -> frozenset[str]:
        return self.needs

    def uses(self) -> frozenset[str]:
        """Every input this method, with its parameters, reads: what it requires and what it may use."""
        return self.requires() | self.optional


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


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """``" (did you mean 'kcenter'?)"`` for the closest of `choices` (difflib), or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def get_method(name: str) -> type:
    _load_all()
    if not isinstance(name, str):
        raise InputError(f"method must be a method name (a string), got {name!r}")
    if name not in _REGISTRY:
        raise InputError(f"unknown method {name!r}{_did_you_mean(name, _REGISTRY)}; "
                         f"available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def parameters(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def _no_such_parameter(name: str, cls: type, unknown: list[str]) -> InputError:
    listing = ", ".join(parameters(cls)) or "none"
    hint = _did_you_mean(unknown[0], parameters(cls)) if len(unknown) == 1 else ""
    names = ", ".join(map(repr, unknown))
    return InputError(f"method {name!r} has no parameter {names}{hint}; parameters: {listing}")


def _describe(hint: Any) -> str:
    """What a type hint accepts, in words (for error messages)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        arms = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = " or None" if type(None) in typing.get_args(hint) else ""
        return " or ".join(_describe(a) for a in arms) + optional
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    words = {bool: "True or False", int: "an integer", float: "a finite number", str: "a string"}
    return words.get(hint, str(hint))


def _coerce(hint: Any, value: Any) -> Any:
    """`value` as the plain Python value of type `hint`; ValueError when it is not one (module docstring)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in typing.get_args(hint):
            return None
        for arm in typing.get_args(hint):
            if arm is not type(None):
                try:
                    return _coerce(arm, value)
                except ValueError:
                    pass
        raise ValueError(hint)
    if origin is typing.Literal:
        plain = value.item() if isinstance(value, np.generic) else value
        for choice in typing.get_args(hint):
            if type(plain) is type(choice) and plain == choice:
                return choice
        raise ValueError(hint)
    if hint is bool and isinstance(value, (bool, np.bool_)):
        return bool(value)
    if hint is int and is_integer(value):
        return int(value)
    if hint is float and is_real(value) and math.isfinite(value):
        return float(value)
    if hint is str and isinstance(value, str):
        return str(value)
    if hint in (bool, int, float, str):
        raise ValueError(hint)
    return value  # a type this registry does not know: the method checks it


def _hint(name: str, key: str) -> Any:
    """The type hint of parameter `key` of method `name`; an unknown parameter is an InputError."""
    cls = get_method(name)
    if key not in parameters(cls):
        raise _no_such_parameter(name, cls, [key])
    return typing.get_type_hints(cls)[key]


def check_param(name: str, key: str, value: Any) -> Any:
    """`value` of parameter `key` of method `name` checked against its type hint (module docstring) and
    returned as a plain Python value; raises :class:`InputError` naming the parameter."""
    hint = _hint(name, key)
    try:
        return _coerce(hint, value)
    except ValueError:
        raise InputError(f"method {name!r}: parameter {key} must be {_describe(hint)}, "
                         f"got {value!r}") from None


def make(name: str, params: Mapping[str, Any]) -> Any:
    """Instantiate method `name` with `params`, each checked by :func:`check_param`; unknown method and
    parameter names list the valid ones (with the closest match)."""
    cls = get_method(name)
    if not isinstance(params, Mapping):
        raise InputError(f"method parameters must be a mapping of name to value, got {params!r}")
    unknown = sorted(set(params) - set(parameters(cls)), key=str)
    if unknown:
        raise _no_such_parameter(name, cls, unknown)
    checked = {key: check_param(name, key, value) for key, value in params.items()}
    try:
        return cls(**checked)
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
    try:
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        raise ValueError(f"expected {_describe(hint)}") from None
    if hint is str:
        return text
    raise ValueError(f"cannot be given on the command line (type {hint})")


def parse_param(name: str, key: str, text: str) -> Any:
    """Convert the command-line value `text` of parameter `key` of method `name` to its declared type."""
    hint = _hint(name, key)
    try:
        return _parse_as(hint, text)
    except ValueError as exc:
        raise InputError(f"parameter {key}={text!r} of method {name!r}: {exc}") from None
