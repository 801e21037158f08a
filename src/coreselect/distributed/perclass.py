"""Per-class methods on a cluster: every class is an independent task; a class too large for one worker
runs GreeDi.

Each class task gathers its class's rows (from whatever chunks hold them) on one worker and runs the
method's own single-machine code on them: ``uniform`` needs no features at all (it runs on the client,
exactly as on one machine), ``moderate`` computes each class's median distances in a task (a class too
large for one worker by Dask's exact column-chunked median), and
``facility-location`` / ``boss`` run :meth:`GraphOptions.select` per class. Deterministic methods give the
single-machine subset: the lazy and naive greedy draw exactly one number (the kNN-graph seed) from the
generator per class, so class c gets the generator state the single-machine loop reaches at class c.
(The stochastic greedy's draws depend on the data; its classes get independent generators spawned from
the seed — the same law, not the same subset.)

A class whose facility-location working set exceeds the per-class memory budget (half the smallest
worker's memory limit; the Dask config key ``coreselect.class-bytes`` overrides it) runs **GreeDi**
(Mirzasoleiman, Karbasi, Sarkar & Krause, "Distributed Submodular Maximization: Identifying
Representative Elements in Massive Data", NeurIPS 2013, Algorithm 1): the class is split uniformly at
random into p parts that fit; greedy picks m_c in each part (round 1, parallel); greedy picks m_c again
among the union of the p partial solutions (round 2, one task); the answer is the better, by the class's
F, of the round-2 set and the best round-1 set (compared by the all-pairs F whatever the scope: the
kNN graph of a class too large for one worker exists nowhere whole, so that comparison stands in for it). Guarantee: for any partition
``F(A_GreeDi) ≥ (1 − 1/e)² / min(p, m_c) · F(OPT)`` (Theorem 4.2 with κ = m_c); for the uniformly
random partition used here ``E F(A_GreeDi) ≥ (1 − 1/e)/2 · F(OPT)`` (Barbosa, Ene, Nguyen & Ward, "The
Power of Randomization", ICML 2015, Theorem 3). The measured gap to single-machine greedy is in
``benchmarks/results/dask-scale.md``. Round 2 maximises F over the rows of the union (the data a worker
holds); the final comparison evaluates F over the whole class, chunk by chunk, which needs a
similarity computed row by row (``cosine``, the default and BOSS's).

Cost per class: that of the method on its rows, on one worker (GreeDi: p parallel greedy runs on n_c/p
rows, one on ≤ p·m_c rows, and (p + 1) passes of O(n_c·m_c·d) to compare the candidates).
"""

from __future__ import annotations

from collections.abc import Callable

import dask
import dask.array as da
import numpy as np

from coreselect.budget import Budget
from coreselect.distributed.cluster import worker_memory
from coreselect.errors import InputError
from coreselect.geometry.facility import dense_value
from coreselect.methods._perclass import class_budgets
from coreselect.methods.boss import BOSS, fill_saturated
from coreselect.methods.facility_location import FacilityLocationMethod, GraphOptions
from coreselect.methods.moderate import Moderate, median_distances
from coreselect.methods.uniform import Uniform
from coreselect.npyio import available_memory
from coreselect.pool import Pool
from coreselect.registry import MethodBase
from coreselect.subset import Subset

#: Share of the smallest worker memory limit one class task may use.
CLASS_MEMORY_SHARE = 0.5

ClassPlan = list[tuple[np.ndarray, int, np.ndarray | None]]  # (rows, m_c, importance of the rows)


def class_memory_budget() -> float:
    """Bytes one class task may use: ``coreselect.class-bytes`` from the Dask config, else half a worker
    (without a cluster: half the memory available here, control-group limits included)."""
    configured = dask.config.get("coreselect.class-bytes", None)
    if configured is not None:
        return float(configured)
    import psutil

    here = available_memory()
    return CLASS_MEMORY_SHARE * worker_memory(default=float(psutil.virtual_memory().available if here is None else here))


def facility_bytes(n: int, d: int, opts: GraphOptions) -> float:
    """Working memory of facility location on n rows: the rows (twice: input and normalised), plus the
    dense n×n block (scope "global", or "auto" when it fits `opts.dense_mb`), else the kNN graph (both
    orientations, int64 + float32)."""
    dense = 4.0 * n * n
    use_dense = opts.scope == "global" or (opts.scope == "auto" and dense <= opts.dense_mb * 2**20)
    table = dense if use_dense else 2.0 * n * (opts.neighbors + 1) * 12
    return 8.0 * n * d + table


def generators(rng: np.random.Generator, plan: list[tuple[np.ndarray, int]],
               advance: Callable[[np.random.Generator, np.ndarray], object]) -> list[np.random.Generator]:
    """One generator per class, in the state the single-machine class loop reaches at that class:
    `advance(rng, rows)` replays what the method draws for a class (it must not depend on the data)."""
    out = []
    for rows, _ in plan:
        g = np.random.default_rng()
        g.bit_generator.state = rng.bit_generator.state
        out.append(g)
        advance(rng, rows)
    return out


def _greedy_generators(rng: np.random.Generator, plan: list, opts: GraphOptions) -> list[np.random.Generator]:
    """Lazy and naive greedy draw one number per class (the kNN-graph seed): replay it. The stochastic
    greedy's draws depend on the data: its classes get independent generators spawned from the seed."""
    if opts.optimizer == "stochastic":
        return [np.random.default_rng(s) for s in rng.integers(2**63 - 1, size=len(plan))]
    return generators(rng, [(rows, m) for rows, m, _ in plan], lambda g, rows: g.integers(2**31))


def class_tasks(method: MethodBase, x: da.Array, pool: Pool, plan: list[tuple[np.ndarray, int]],
                advance: Callable[[np.random.Generator, np.ndarray], object], rng: np.random.Generator) -> np.ndarray:
    """`method`'s own ``select`` on every class's rows, the classes as parallel tasks; chosen global rows
    in class order. `advance` replays the method's draws per class (:func:`generators`)."""
    gens = generators(rng, plan, advance)
    names = sorted(method.requires() - {"labels", "targets", "oracle"})
    tasks = [dask.delayed(_run_method, pure=True)(method, x[rows], m, {k: pool.signals[k][rows] for k in names}, g)
             for (rows, m), g in zip(plan, gens)]
    return np.concatenate([rows[pos] for (rows, _), pos in zip(plan, dask.compute(*tasks))])


def _greedy(xc: np.ndarray, m: int, rng: np.random.Generator, imp: np.ndarray | None,
            opts: GraphOptions) -> np.ndarray:
    """GreeDi's greedy on one part: positions of `m` greedy maximisers (saturated picks filled by importance)."""
    picked, gains = opts.select(xc, m, rng, imp)
    return picked if imp is None else fill_saturated(picked, gains, imp)


def _run_method(method: MethodBase, xc: np.ndarray, m: int, signals: dict[str, np.ndarray],
                rng: np.random.Generator) -> np.ndarray:
    """The method's own single-machine ``select`` on one class (rows of `xc`): chosen positions."""
    pool = Pool(features=np.ascontiguousarray(xc, dtype=np.float32), signals=signals)
    return method.select(pool, Budget(total=m, n=xc.shape[0]), rng).indices


def _value_block(block: np.ndarray, xs: np.ndarray, imp: np.ndarray | None, similarity: str) -> float:
    """F(S) summed over the rows of `block` only: S's rows appended as candidates with weight 0."""
    nb, ns = block.shape[0], xs.shape[0]
    weights = np.concatenate([np.ones(nb), np.zeros(ns)])
    full_imp = None if imp is None else np.concatenate([np.ones(nb), imp])
    return dense_value(np.concatenate([block, xs]), np.arange(nb, nb + ns), full_imp, weights, similarity)


def class_value(x: da.Array, rows: np.ndarray, chosen: np.ndarray, imp: np.ndarray | None,
                similarity: str) -> float:
    """The dense facility-location F(chosen) over the class `rows` (global row indices), chunk by chunk.

    `imp` is the importance of the chosen rows. O(n_c·|S|·d), one pass over the class.
    """
    xs = dask.delayed(np.ascontiguousarray(x[np.sort(chosen)].compute()))
    order = np.argsort(chosen)
    imp_s = None if imp is None else dask.delayed(imp[order])
    xc = x[rows]
    parts = [dask.delayed(_value_block, pure=True)(b, xs, imp_s, similarity) for b in xc.to_delayed().reshape(-1)]
    return float(sum(dask.compute(*parts)))


def greedi(x: da.Array, rows: np.ndarray, m: int, imp: np.ndarray | None, opts: GraphOptions,
           rng: np.random.Generator, parts: int) -> tuple[np.ndarray, dict[str, float]]:
    """GreeDi on one class (module docstring): chosen global rows and the F of each candidate answer."""
    if opts.similarity != "cosine":
        raise InputError(f"a class of {rows.size} rows exceeds a worker's memory budget, and GreeDi compares its "
                         "candidates by a per-chunk F that needs similarity='cosine'")
    seeds = rng.integers(2**63 - 1, size=parts + 1)
    split = [np.sort(p) for p in np.array_split(rng.permutation(rows.size), parts)]
    round1 = [dask.delayed(_greedy, pure=True)(x[rows[p]], min(m, p.size), np.random.default_rng(s),
                                               None if imp is None else imp[p], opts)
              for p, s in zip(split, seeds)]
    local = [rows[p][pos] for p, pos in zip(split, dask.compute(*round1))]
    union = np.unique(np.concatenate(local))
    uimp = None if imp is None else imp[np.searchsorted(rows, union)]
    pos = dask.compute(dask.delayed(_greedy, pure=True)(x[union], m, np.random.default_rng(seeds[-1]), uimp, opts))[0]
    candidates = [union[pos]] + [a for a in local if a.size == m]
    values = [class_value(x, rows, c, None if imp is None else imp[np.searchsorted(rows, c)], opts.similarity)
              for c in candidates]
    best = int(np.argmax(values))
    return candidates[best], {"round2": values[0], "best_round1": max(values[1:], default=0.0)}


def greedy_classes(method: MethodBase, x: da.Array, pool: Pool, plan: ClassPlan, opts: GraphOptions,
                   rng: np.random.Generator) -> np.ndarray:
    """Run `method` class by class: classes that fit as parallel tasks (the method's own ``select`` on
    the class), larger ones by GreeDi on the plan's rows and importance."""
    gens = _greedy_generators(rng, plan, opts)
    limit = class_memory_budget()
    names = sorted(method.requires() - {"labels", "targets", "oracle"})
    classes = pool.members()
    tasks, chosen = {}, {}
    for c, ((rows, m, imp), g) in enumerate(zip(plan, gens)):
        members = rows if pool.labels is None else classes[pool.class_name(pool.labels[rows[0]])]
        need = facility_bytes(members.size, x.shape[1], opts)
        if need <= limit:
            sig = {k: pool.signals[k][members] for k in names}
            tasks[c] = (members, dask.delayed(_run_method, pure=True)(method, x[members], m, sig, g))
        else:
            parts = int(np.ceil(need / limit)) + 1
            chosen[c], _ = greedi(x, rows, m, imp, opts, g, parts)
    for c, pos in zip(tasks, dask.compute(*[t for _, t in tasks.values()])):
        chosen[c] = tasks[c][0][pos]
    return np.concatenate([chosen[c] for c in range(len(plan))])


def select_facility(method: FacilityLocationMethod, x: da.Array, pool: Pool, budget: Budget,
                    rng: np.random.Generator) -> Subset:
    plan = [(rows, m, None) for rows, m in class_budgets(pool, budget)]
    return Subset.uniform_weights(np.sort(greedy_classes(method, x, pool, plan, method.options(), rng)), pool.n)


def select_boss(method: BOSS, x: da.Array, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
    """BOSS with (peak, α, cutoff) fixed from the global fraction (:meth:`BOSS.plan`); each class runs BOSS
    itself (on its rows), or GreeDi over the rows kept by the AUM cutoff with BOSS's importance."""
    fixed, plan = method.plan(pool, budget)
    return Subset.uniform_weights(np.sort(greedy_classes(fixed, x, pool, plan, method.options(), rng)), pool.n)


def _class_distances(xc: np.ndarray) -> np.ndarray:
    return median_distances(xc, Pool(features=xc))


def _distances_to(block: np.ndarray, median: np.ndarray) -> np.ndarray:
    return np.linalg.norm(block - median, axis=1)


def _large_class_distances(xc: da.Array) -> da.Array:
    """‖x_i − median‖ for a class too large for one worker: the exact coordinate-wise median by
    ``dask.array.median`` (it rechunks the class to whole columns, a few columns per task, and calls
    ``numpy.median`` on each: the single-machine value), then one pass of per-chunk distances."""
    median = da.median(xc, axis=0)
    return xc.map_blocks(_distances_to, median[None, :], drop_axis=1, dtype=np.float64)


def select_moderate(method: Moderate, x: da.Array, pool: Pool, budget: Budget,
                    rng: np.random.Generator) -> Subset:
    """Distances to the class median, a task per class when the class fits a worker's memory budget
    (twice its rows), else by :func:`_large_class_distances`; the middle band is taken on the client from
    those n distances by :meth:`Moderate.from_distances`. Identical to the single-machine subset."""
    members = list(pool.members().values())
    limit = class_memory_budget()
    parts = [dask.delayed(_class_distances, pure=True)(x[rows]) if 8.0 * rows.size * x.shape[1] <= limit
             else _large_class_distances(x[rows]) for rows in members]
    dist = np.empty(pool.n)
    for rows, v in zip(members, dask.compute(*parts)):
        dist[rows] = v
    return method.from_distances(pool, budget, dist)


def select_uniform(method: Uniform, x: da.Array, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
    """Uniform reads no features: the single-machine method on the client, identical subsets."""
    return method.select(pool, budget, rng)
