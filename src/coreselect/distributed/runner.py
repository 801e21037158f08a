"""The distributed front door: validate like :func:`coreselect.select`, then run a method's chunked runner.

The client holds only O(n) scalars (labels, targets, signals, the per-class plan) and O(k·d) state; the
features stay in their chunks. Methods with a distributed runner are listed in :data:`RUNNERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from coreselect import api, registry
from coreselect.budget import Allocation, Budget
from coreselect.distributed import inputs, kcenter, leverage, perclass, semdedup, sensitivity
from coreselect.distributed.inputs import Sharded
from coreselect.errors import InputError
from coreselect.oracle import Oracle
from coreselect.pool import Pool, scale_shift, validate_metadata
from coreselect.subset import Subset

Runner = Callable[[Any, Any, Pool, Budget, np.random.Generator], Subset]

RUNNERS: dict[str, Runner] = {
    "sensitivity": sensitivity.select,
    "uniform": perclass.select_uniform,
    "moderate": perclass.select_moderate,
    "facility-location": perclass.select_facility,
    "boss": perclass.select_boss,
    "coreset": leverage.select_coreset,
    "coreset-vanilla": leverage.select_coreset,
    "leverage": leverage.select_leverage,
    "kcenter": kcenter.select_kcenter,
    "semdedup": semdedup.select,
}


def _gather(v: Any) -> Any:
    """A Dask vector computed to NumPy (O(n) scalars); anything else as it is."""
    return v.compute() if type(v).__module__.split(".")[0] == "dask" else v


def metadata_pool(n: int, labels: Any = None, targets: Any = None, signals: Mapping[str, Any] | None = None,
                  oracle: Any = None) -> Pool:
    """A :class:`Pool` of everything but the features (a zero-width placeholder of n rows), validated."""
    gathered = {name: _gather(v) for name, v in signals.items()} if isinstance(signals, Mapping) else signals
    y, classes, t, sig = validate_metadata(n, _gather(labels), _gather(targets), gathered)
    if oracle is not None and not isinstance(oracle, Oracle):
        oracle = Oracle(_gather(oracle), n)
    return Pool(features=np.empty((n, 0), dtype=np.float32), labels=y, targets=t, signals=sig, oracle=oracle,
                classes=classes)


def select(
    method: str,
    features: Any,
    labels: Any = None,
    targets: Any = None,
    signals: Mapping[str, Any] | None = None,
    oracle: Any = None,
    fraction: float | None = None,
    size: int | None = None,
    allocation: Allocation | None = None,
    seed: int | None = 0,
    **params: Any,
) -> Subset:
    """:func:`coreselect.select` for features given as a Dask array (or :class:`Sharded` files).

    Runs on the current Dask scheduler (a ``distributed.Client`` when one is active). Bad input raises
    :class:`InputError` before any pass over the features except the NaN/inf and magnitude check, which
    is one per-chunk reduction naming the bad chunk; features beyond :data:`coreselect.pool.MAX_ROW_NORM`
    are scaled or refused as :func:`coreselect.pool.scale_shift` says for the method.
    """
    impl = registry.make(method, params)
    if impl.name not in RUNNERS:
        raise InputError(f"method {impl.name!r} has no distributed runner; available: {', '.join(sorted(RUNNERS))}")
    feats = features if isinstance(features, Sharded) else inputs.from_array(features)
    n = int(feats.array.shape[0])
    pool = metadata_pool(n, labels, targets, signals, oracle)
    budget = api.budget_for(impl, n, fraction, size, allocation)
    runner = RUNNERS[impl.name]
    api.check_inputs(impl, pool)
    api.warn_unused(impl, pool, budget)

    def run(p: Pool, b: Budget, rng: np.random.Generator) -> Subset:
        shift = scale_shift(*inputs.check_values(feats), impl.name, impl.scale)
        x = feats.array if shift == 0 else feats.array * np.float32(2.0**-shift)
        return runner(impl, x, p, b, rng)

    return api.run(impl, pool, budget, seed, select=run)
