"""Grid tuning of coresets for classification (arXiv 2507.16729, §3 "tuning", Table 1 grid).

For every size m and every grid point (sensitivity, allocation, deterministic fraction d, weighting) a
coreset is drawn with :func:`coreselect.methods.coreset.sample_coreset` (sensitivities computed once
per class and kind), a classifier is trained on it through ``sample_weight`` and scored on the
validation split by F1 of the rarer class (binary) or macro-F1, balanced accuracy beside it. The best
grid point (F1, then balanced accuracy, then grid order) wins.

Allocation values in the grid: ``"proportional"``; ``"balanced"`` (equal shares; when a class is too
small it keeps all its members and the surplus goes to the others — the documented fallback, marked
``capped`` in the table); a float `q ∈ [0, 1]` mixing the two shares, `(1 − q)·proportional + q·balanced`
(same capping); or an explicit ``{class: size}`` mapping (an infeasible mapping is a table row with
NaN scores). Every grid point is drawn with a fresh generator from the same `seed` (common random
numbers), so the winning subset is reproduced by ``coreselect.select("coreset", ..., size=m,
allocation=<its class sizes>, seed=seed, **its parameters)``.

Time: one sensitivity pass per class and kind, then per grid point O(n log n) sampling plus one fit on
≤ m rows and one prediction on the validation split. Memory: O(n) beyond the data.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np

from coreselect.budget import Budget, check_allocation
from coreselect.checks import is_integer, is_real
from coreselect.errors import InputError
from coreselect.geometry.sensitivities import SENSITIVITIES
from coreselect.methods.coreset import WEIGHTINGS, check_classes, class_scores, sample_coreset
from coreselect.pool import Pool, as_float_matrix
from coreselect.progress import progress
from coreselect.subset import Subset
from coreselect.tuning.estimators import fit_weighted, positive_label, resolve, scores

DEFAULT_GRID: dict[str, tuple[Any, ...]] = {
    "sensitivity": ("unified",),
    "allocation": ("proportional", 0.5, "balanced"),
    "deterministic": (0.0, 0.5, 1.0),
    "weighting": ("keep", "inv", "prop"),
}
COLUMNS = ("size", "sensitivity", "allocation", "class_sizes", "deterministic", "weighting", "n_unique",
           "f1", "balanced_accuracy", "seconds")


@dataclass(frozen=True)
class TuneTable:
    """The whole grid: one dict per (size, grid point), in evaluation order."""

    rows: tuple[dict[str, Any], ...]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def to_markdown(self, columns: Sequence[str] = COLUMNS) -> str:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return "nan" if math.isnan(v) else f"{v:.4g}"
            return str(v)

        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in self.rows]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TuneResult:
    """`best`: the winning coreset over all sizes; `best_by_size`: the winner at each size (by m);
    `positive`: the class F1 is computed for in a binary problem (None for macro-F1)."""

    best: Subset
    table: TuneTable
    best_by_size: dict[int, Subset]
    best_rows: dict[int, dict[str, Any]]
    seconds: float
    positive: Any = field(default=None)


def _capped(quotas: np.ndarray, sizes: np.ndarray, total: int) -> tuple[np.ndarray, bool]:
    """Integer shares near `quotas`, none above `sizes`, summing to `total` (surplus spread by quota)."""
    quotas = quotas.astype(np.float64).copy()
    capped = False
    for _ in range(sizes.size):
        over = quotas > sizes
        if not over.any():
            break
        capped = True
        surplus = float((quotas[over] - sizes[over]).sum())
        quotas[over] = sizes[over]
        room = quotas < sizes
        if not room.any():  # every class is full: total ≥ n
            break
        quotas[room] += surplus * quotas[room] / quotas[room].sum() if quotas[room].sum() > 0 else surplus / room.sum()
    base = np.minimum(np.floor(quotas + 1e-9), sizes).astype(np.int64)
    short = total - int(base.sum())
    order = np.argsort(-(quotas - base), kind="stable")
    order = order[base[order] < sizes[order]]
    base[order[:short]] += 1
    return base, capped


def class_shares(class_sizes: Mapping[Any, int], total: int, allocation: Any) -> tuple[dict[Any, int], bool]:
    """`({class: m_c}, capped)` for one grid allocation value (see module docstring)."""
    labels = list(class_sizes)
    sizes = np.array([class_sizes[c] for c in labels], dtype=np.int64)
    if isinstance(allocation, Mapping) or allocation == "proportional":
        return Budget(total, int(sizes.sum()), allocation).split(class_sizes), False
    if allocation == "balanced":
        shares = Budget(total, int(sizes.sum()), "balanced").split(class_sizes)
        return shares, any(shares[c] < total // sizes.size for c in labels)
    if is_real(allocation) and 0 <= allocation <= 1:
        q = float(allocation)
    else:
        raise InputError(f"grid allocation must be 'proportional', 'balanced', a float in [0, 1] or a mapping; "
                         f"got {allocation!r}")
    quotas = (1 - q) * total * sizes / sizes.sum() + q * total / sizes.size
    shares, capped = _capped(quotas, sizes, total)
    return dict(zip(labels, shares.tolist())), capped


def _label(allocation: Any) -> str:
    if isinstance(allocation, Mapping):
        return "{" + ",".join(f"{k}:{v}" for k, v in allocation.items()) + "}"
    return allocation if isinstance(allocation, str) else f"mix{allocation:g}"


def _sizes(sizes: Sequence[float | int], n: int) -> list[int]:
    """Coreset sizes from integers (sizes) and floats in (0, 1] (fractions of n: 1.0 is all of n),
    duplicates dropped, order kept. A float is never a size, not even 500.0 (:mod:`coreselect.checks`)."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise InputError(f"sizes must be a sequence of sizes (integers) and fractions (floats in (0, 1]), "
                         f"got {sizes!r}")
    out = []
    for s in sizes:
        if is_integer(s):
            out.append(Budget.from_request(n, size=s).total)
        elif is_real(s) and 0 < s <= 1:
            out.append(Budget.from_request(n, fraction=s).total)
        else:
            raise InputError(f"sizes: {s!r} is neither a coreset size (an integer) nor a fraction in (0, 1]")
    if not out:
        raise InputError("sizes must name at least one coreset size (an integer) or fraction (in (0, 1])")
    return list(dict.fromkeys(out))


def check_grid(grid: Mapping[str, Sequence[Any]] | None) -> dict[str, tuple[Any, ...]]:
    full = dict(DEFAULT_GRID)
    if grid is not None and not isinstance(grid, Mapping):
        raise InputError(f"grid must be a mapping of key to values, got {type(grid).__name__}")
    unknown = set(grid or {}) - set(full)
    if unknown:
        raise InputError(f"grid has unknown keys {sorted(unknown)}; keys: {sorted(full)}")
    for key, values in (grid or {}).items():
        values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        if not values:
            raise InputError(f"grid[{key!r}] is empty")
        full[key] = values
    for d in full["deterministic"]:
        if not is_real(d) or not 0 <= d <= 1:
            raise InputError(f"grid deterministic values must be in [0, 1], got {d!r}")
    for a in full["allocation"]:
        if isinstance(a, Mapping):
            check_allocation(a)
        elif a not in ("proportional", "balanced") and not (is_real(a) and 0 <= a <= 1):
            raise InputError(f"grid allocation values must be proportional, balanced, a share in [0, 1] "
                             f"or a mapping, got {a!r}")
    for key, valid in (("weighting", WEIGHTINGS), ("sensitivity", SENSITIVITIES)):
        bad = [v for v in full[key] if v not in valid]
        if bad:
            raise InputError(f"grid {key} values must be in {valid}, got {bad}")
    return full


def check_train_val(x: Any, y: Any, x_val: Any, y_val: Any) -> tuple[Pool, Any, np.ndarray]:
    """Checked training pool and validation arrays (NaN, shapes, widths, at least two classes); the
    validation labels come back in the pool's encoding, and a validation class that the training labels
    lack is an InputError (no F1 could be learnt for it)."""
    pool = Pool.build(x, labels=y)
    check_classes(pool)
    xv = as_float_matrix("validation features", x_val)
    if y_val is None:
        raise InputError("validation labels are required")
    yv = pool.encode("validation labels", y_val, xv.shape[0])
    if xv.shape[1] != pool.features.shape[1]:
        raise InputError(f"validation features have {xv.shape[1]} columns but training features have "
                         f"{pool.features.shape[1]}")
    return pool, xv, yv


def tune(x: Any, y: Any, x_val: Any, y_val: Any, estimator: Any = "logreg",
         sizes: Sequence[float | int] = (0.01,), grid: Mapping[str, Sequence[Any]] | None = None,
         seed: int = 0) -> TuneResult:
    """Grid-search coreset parameters on a validation split (module docstring); returns the best subset.

    `estimator`: ``"logreg"`` | ``"linsvm"`` | ``"xgboost"`` or a classifier whose ``fit`` accepts
    ``sample_weight`` (otherwise InputError). `sizes`: integers (coreset sizes) or floats in (0, 1]
    (fractions of n; 1.0 is all of n). `grid`: overrides of :data:`DEFAULT_GRID` keys. Labels may be
    strings or booleans (classes by their values, as in :func:`coreselect.select`); every validation
    class must occur in the training labels. The winner's weights are those of the ``coreset`` method at
    its grid point: they sum to n, with ``params["unit_weight"]`` the weight of an example standing for
    itself only (:func:`coreselect.methods.coreset.sample_coreset`); the tuner trains on them
    normalised to mean 1.
    """
    t0 = time.perf_counter()
    est = resolve(estimator, seed)
    full = check_grid(grid)
    pool, xv, yv = check_train_val(x, y, x_val, y_val)
    if not is_integer(seed) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    ms = _sizes(sizes, pool.n)
    members = pool.members()
    class_sizes = {c: rows.size for c, rows in members.items()}
    positive = positive_label(pool.labels) if len(members) == 2 else None  # a code, like the labels
    cache: dict[str, dict[int, np.ndarray]] = {}
    points = list(product(ms, full["sensitivity"], full["allocation"], full["deterministic"], full["weighting"]))
    rows: list[dict[str, Any]] = []
    best: dict[int, tuple[tuple[float, float], Subset, dict[str, Any]]] = {}
    for m, kind, alloc, d, weighting in progress(points, total=len(points), desc="tune"):
        t1 = time.perf_counter()
        row: dict[str, Any] = {"size": m, "sensitivity": kind, "allocation": _label(alloc),
                               "deterministic": float(d), "weighting": weighting}
        try:
            shares, capped = class_shares(class_sizes, m, alloc)
        except InputError as exc:
            rows.append({**row, "class_sizes": "", "n_unique": 0, "f1": math.nan,
                         "balanced_accuracy": math.nan, "seconds": 0.0, "note": str(exc)})
            continue
        if kind not in cache:
            cache[kind] = class_scores(pool, kind)
        plan = [(members[c], m_c, cache[kind][c]) for c, m_c in shares.items() if m_c > 0]
        subset = sample_coreset(plan, pool.n, float(d), weighting, np.random.default_rng(seed))
        model = fit_weighted(est, pool.features[subset.indices], pool.labels[subset.indices], subset.weights)
        metrics = scores(yv, model.predict(xv), positive)
        row.update(class_sizes="/".join(f"{c}:{k}" for c, k in shares.items()) + (" capped" if capped else ""),
                   n_unique=len(subset), **metrics, seconds=time.perf_counter() - t1)
        rows.append(row)
        rank = (metrics["f1"], metrics["balanced_accuracy"])
        if m not in best or rank > best[m][0]:
            params = {"sensitivity": kind, "deterministic": float(d), "weighting": weighting, "lewis_iters": 20,
                      "allocation": {str(c): k for c, k in shares.items()}, **pool.class_params(), **subset.params}
            best[m] = (rank, dataclasses.replace(subset, method="coreset", params=params, seed=int(seed)), row)
    if not best:
        raise InputError("no grid point was feasible for these sizes; see the allocation values")
    winner = max(best.values(), key=lambda b: b[0])[1]
    return TuneResult(best=winner, table=TuneTable(tuple(rows)), best_by_size={m: b[1] for m, b in best.items()},
                      best_rows={m: b[2] for m, b in best.items()}, seconds=time.perf_counter() - t0,
                      positive=None if positive is None else pool.class_name(positive))
