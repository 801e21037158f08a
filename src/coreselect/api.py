"""The one front door: :func:`select`."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from coreselect import registry, threads
from coreselect.budget import Allocation, Budget
from coreselect.checks import is_integer
from coreselect.errors import InputError, UnusedInputWarning
from coreselect.pool import Pool, candidate_rows
from coreselect.subset import Subset

_INPUT_NAMES = {"labels", "targets", "oracle"}


def check_inputs(method: Any, pool: Pool) -> None:
    """Raise :class:`InputError` listing everything `method` needs that `pool` lacks."""
    needs = method.requires()
    missing = [x for x in sorted(needs & _INPUT_NAMES) if getattr(pool, x) is None]
    missing += [f"signal {s!r}" for s in sorted(needs - _INPUT_NAMES) if s not in pool.signals]
    if missing:
        listing = ", ".join(sorted(needs)) or "features only"
        given = f"; signals given: {', '.join(map(repr, sorted(pool.signals)))}" if pool.signals else ""
        raise InputError(f"method {method.name!r} is missing {', '.join(missing)} (it needs: {listing}){given}")


def budget_for(method: Any, n: int, fraction: float | None, size: int | None,
               allocation: Allocation | None) -> Budget:
    """The checked budget of a request; ``allocation=None`` is the method's own default
    (:attr:`~coreselect.registry.MethodBase.default_allocation`: proportional, balanced for ``coreset``)."""
    return Budget.from_request(n, fraction=fraction, size=size,
                               allocation=method.default_allocation if allocation is None else allocation)


def unused_inputs(method: Any, pool: Pool, budget: Budget) -> list[str]:
    """The inputs in `pool` that `method`, with its parameters, never reads (e.g. labels for a global
    k-center), and the budget's class allocation when nothing is selected class by class."""
    uses = method.uses()
    unused = [x for x in sorted(_INPUT_NAMES) if getattr(pool, x) is not None and x not in uses]
    unused += [f"signal {s!r}" for s in sorted(pool.signals) if s not in uses]
    if budget.allocation != "proportional" and ("labels" not in uses or pool.labels is None):
        unused.append("the allocation")
    return unused


#: The package's own source folder (with its separator, so a sibling folder whose name merely starts
#: the same is outside it): a warning points at the first frame outside it.
_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def _user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by this function's caller point at the first line
    outside coreselect (the user's call, however deep the entry point that reached it)."""
    frame, level = sys._getframe(2), 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def warn_unused(method: Any, pool: Pool, budget: Budget) -> None:
    """One :class:`UnusedInputWarning` naming every input `method` ignores, and why it may matter; it
    points at the user's line that called coreselect."""
    unused = unused_inputs(method, pool, budget)
    if unused:
        switch = next((k for k in ("per_class", "stratified") if k in registry.parameters(type(method))), None)
        per_class = {"labels", "the allocation"} & set(unused)
        hint = f"; pass {switch}=True to select class by class" if per_class and switch else ""
        warnings.warn(f"method {method.name!r} does not use {', '.join(unused)}: ignored{hint}",
                      UnusedInputWarning, stacklevel=_user_stacklevel())


def run(method: Any, pool: Pool, budget: Budget, seed: int | None,
        select: Callable[[Pool, Budget, np.random.Generator], Subset] | None = None) -> Subset:
    """Run an instantiated method on a validated pool; records parameters, seed and timing.

    `select` replaces ``method.select`` (the distributed runner passes its chunked implementation).
    """
    if seed is not None and (not is_integer(seed) or seed < 0):
        raise InputError(f"seed must be a non-negative integer or None, got {seed!r}")
    check_inputs(method, pool)
    pool = pool.scaled_for(method.name, method.scale)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with threads.limit(work=pool.n * int(pool.features.shape[1])):
        subset = (method.select if select is None else select)(pool, budget, rng)
    elapsed = time.perf_counter() - t0
    # the method's settings, plus what it derived and recorded itself (e.g. sensitivity's λ used)
    params = {**subset.params, **dataclasses.asdict(method)}
    if not isinstance(budget.allocation, str) or budget.allocation != "proportional":
        params["allocation"] = (
            budget.allocation if isinstance(budget.allocation, str) else {str(k): v for k, v in budget.allocation.items()}
        )
    params.update(pool.class_params())
    n_queries = pool.oracle.n_queries if pool.oracle is not None else subset.n_queries
    return dataclasses.replace(
        subset,
        method=method.name,
        params=params,
        seed=None if seed is None else int(seed),
        n_queries=n_queries,
        timings={**subset.timings, "select": elapsed},
    )


def select(
    method: str,
    features: Any,
    labels: Any = None,
    targets: Any = None,
    signals: Mapping[str, Any] | None = None,
    oracle: Callable[[np.ndarray], Any] | Any = None,
    fraction: float | None = None,
    size: int | None = None,
    allocation: Allocation | None = None,
    seed: int | None = 0,
    within: Any = None,
    **params: Any,
) -> Subset:
    """Select a weighted subset with method `method` (see ``coreselect.available_methods()``).

    Give exactly one of `fraction` (of n) or `size`. `allocation` splits the budget over classes for
    per-class methods (``"proportional"``, ``"balanced"`` or ``{class: size}``; None, the default, is the
    method's own: proportional, balanced for ``coreset``). `params` are the
    method's own hyper-parameters. The same inputs and `seed` give the same subset. Features given as a
    Dask array run on the current Dask scheduler (see :mod:`coreselect.distributed`).

    `within` chains a selection after a first step, e.g. deduplication: a :class:`Subset` of these
    examples (what ``semdedup`` kept) or row indices; the method then sees those rows only. The budget
    still counts in the whole set (``fraction=0.1`` is a tenth of all n rows, and must fit in `within`),
    indices are rows of the whole set, and the weights are scaled by n / len(within), so that they still
    sum to about n (each kept row also stands for the rows the first step removed);
    ``params["within"]`` records how many rows there were to choose from. In-memory features only.

    Every argument is checked before any heavy work, and bad input is an :class:`InputError` naming it:

    * integers (`size`, `seed`, integer parameters such as ``k``) are Python or NumPy integers — ``5.0``,
      ``True`` and ``"5"`` are refused, as scikit-learn refuses them; numbers may be NumPy scalars
      (``np.float32(0.1)`` is a fraction) and must be finite; booleans are ``True`` or ``False``
      (:mod:`coreselect.registry`);
    * `features`: an (n, d) array of real numbers, a pandas DataFrame of numeric columns or a scipy-sparse
      matrix, converted to float32; complex values, masked entries and objects that are not arrays (a
      torch ``Dataset``: pass its embeddings) are refused. Features whose row norms exceed
      :data:`coreselect.pool.MAX_ROW_NORM` (10¹⁸) are scaled by a power of two for the methods whose
      answer does not depend on the scale (the same subset, exactly) and refused by the others
      (``sensitivity``, ``regression-sensitivity``);
    * `labels`: integers, or strings / booleans (pandas Categorical included), which are encoded in
      sorted order; the subset's ``params["classes"]`` then lists the class values, and an `allocation`
      mapping names classes by those values (``{"cat": 10, "dog": 5}``);
    * `signals`: a mapping of name to (n,) values; an array `oracle` is checked whole (finite, ≥ 0).

    >>> import numpy as np, coreselect
    >>> X = np.random.default_rng(0).normal(size=(1000, 8)).astype("float32")
    >>> s = coreselect.select("kcenter", features=X, fraction=0.05, seed=0)
    >>> len(s), round(s.weights.sum())
    (50, 1000)
    """
    if type(features).__module__.split(".")[0] == "dask":  # never imports Dask itself
        if within is not None:
            raise InputError("within takes in-memory features; for a Dask array, select from x[rows] (and the "
                             "labels and signals of those rows) and map the indices back with rows[indices]")
        from coreselect.distributed.runner import select as distributed_select

        return distributed_select(method, features, labels=labels, targets=targets, signals=signals,
                                  oracle=oracle, fraction=fraction, size=size, allocation=allocation,
                                  seed=seed, **params)
    impl = registry.make(method, params)
    pool = Pool.build(features, labels=labels, targets=targets, signals=signals, oracle=oracle)
    return select_in_pool(impl, pool, budget_for(impl, pool.n, fraction, size, allocation), seed, within)


def select_in_pool(method: Any, pool: Pool, budget: Budget, seed: int | None, within: Any = None) -> Subset:
    """Check that `pool` holds what `method` needs, warn about what it ignores and run it (:func:`run`);
    with `within`, among those rows only (:func:`run_within`)."""
    rows = None if within is None else candidate_rows(within, pool.n)  # bad `within`: an error before any work
    check_inputs(method, pool)
    warn_unused(method, pool, budget)
    return run(method, pool, budget, seed) if rows is None else run_within(method, pool, budget, seed, rows)


def run_within(method: Any, pool: Pool, budget: Budget, seed: int | None, within: Any) -> Subset:
    """:func:`run` on the rows of `within` only (a :class:`Subset` of the pool or row indices), the subset
    returned in the pool's numbering: `budget` counts in the whole pool and must fit in `within`; the
    weights are scaled by n / len(within) so that they still sum to about n; ``params["within"]`` is
    the number of rows there were to choose from."""
    rows = candidate_rows(within, pool.n)
    if budget.total > rows.size:
        raise InputError(f"the budget of {budget.total} rows exceeds the {rows.size} rows of within")
    inner = Budget.from_request(rows.size, size=budget.total, allocation=budget.allocation)
    subset = run(method, pool.restrict(rows), inner, seed)
    return dataclasses.replace(subset, indices=rows[subset.indices], weights=subset.weights * (pool.n / rows.size),
                               n=pool.n, params={**subset.params, "within": int(rows.size)})
