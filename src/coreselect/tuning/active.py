"""Active refinement of a coreset (arXiv 2507.16729, §3, Algorithm 1 "active sampling").

Round r: train the classifier on the current weighted subset, score it on the validation split, then
add the `batch` remaining training examples with the smallest margin (|decision| for binary problems,
top-1 minus top-2 score otherwise; seeded random tie-break). An added example gets its prior weight 1,
i.e. the subset's ``params["unit_weight"]`` (1 when it has none): it was queried for itself, not
sampled to stand for others (giving it the mean coreset weight instead swamped the minority class on
imbalanced a9a and drove validation F1 to 0). Then every weight is scaled by one common factor so the
subset again sums to n, and ``unit_weight`` with it (training normalises weights to mean 1, so the
factor changes no classifier). Stop after `patience` rounds without a better validation F1 (ties broken by
balanced accuracy) or after `max_rounds`; the best subset along the path is returned and the whole
F1 path is recorded.

Time per round: one fit on the current subset, one prediction on the validation split and one on the
n − |subset| remaining rows; memory O(n).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from coreselect.checks import is_integer
from coreselect.errors import InputError
from coreselect.subset import Subset
from coreselect.tuning.estimators import fit_weighted, positive_label, resolve, scores
from coreselect.tuning.grid import check_train_val


@dataclass(frozen=True)
class RefineResult:
    """`best`: the subset with the best validation F1 along `path` (one dict per round, round 0 = start);
    `last`: the subset at the end of the path."""

    best: Subset
    path: tuple[dict[str, Any], ...]
    best_round: int
    seconds: float
    last: Subset


def refine(subset: Subset, x: Any, y: Any, x_val: Any, y_val: Any, estimator: Any = "logreg",
           batch: int | None = None, patience: int = 3, max_rounds: int = 10, seed: int = 0) -> RefineResult:
    """Grow `subset` by the least-certain remaining examples while validation F1 improves (module docstring).

    `batch` defaults to 10% of the starting subset (at least 1). The returned subset may hold up to
    ``len(subset) + max_rounds · batch`` examples; once it has grown, its weights sum to n.
    """
    t0 = time.perf_counter()
    if not isinstance(subset, Subset):
        raise InputError(f"subset must be a coreselect.Subset (e.g. tune(...).best), got {type(subset).__name__}")
    est = resolve(estimator, seed)
    pool, xv, yv = check_train_val(x, y, x_val, y_val)
    if subset.n != pool.n:
        raise InputError(f"subset was drawn from {subset.n} examples but x has {pool.n} rows")
    batch = max(1, len(subset) // 10) if batch is None else batch
    for name, v, low in (("batch", batch, 1), ("patience", patience, 1), ("max_rounds", max_rounds, 0)):
        if not is_integer(v) or v < low:
            raise InputError(f"{name} must be an integer ≥ {low}, got {v!r}")
    positive = positive_label(pool.labels) if np.unique(pool.labels).size == 2 else None
    rng = np.random.default_rng(seed)
    current, path = subset, []
    best_rank, best, best_round, stale = None, subset, 0, 0
    for r in range(max_rounds + 1):
        model = fit_weighted(est, pool.features[current.indices], pool.labels[current.indices], current.weights)
        metrics = scores(yv, model.predict(xv), positive)
        path.append({"round": r, "size": len(current), **metrics})
        rank = (metrics["f1"], metrics["balanced_accuracy"])
        if best_rank is None or rank > best_rank:
            best_rank, best, best_round, stale = rank, current, r, 0
        else:
            stale += 1
        if stale >= patience or r == max_rounds:
            break
        remaining = np.setdiff1d(np.arange(pool.n), current.indices, assume_unique=True)
        if remaining.size == 0:
            break
        margin = model.margin(pool.features[remaining])
        new_rows = remaining[np.lexsort((rng.random(remaining.size), margin))[:batch]]
        unit = float(current.params.get("unit_weight", 1.0))
        indices = np.concatenate([current.indices, new_rows])
        weights = np.concatenate([current.weights, np.full(new_rows.size, unit)])
        scale = pool.n / weights.sum()
        order = np.argsort(indices, kind="stable")
        current = Subset(indices=indices[order], weights=weights[order] * scale, n=pool.n,
                         params={"unit_weight": unit * scale})
    params = {**subset.params, **best.params, "active_batch": int(batch), "active_rounds": best_round,
              "patience": int(patience)}
    best = dataclasses.replace(best, method=subset.method or "coreset", params=params, seed=subset.seed)
    return RefineResult(best=best, path=tuple(path), best_round=best_round, seconds=time.perf_counter() - t0,
                        last=current)
