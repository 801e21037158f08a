"""k-center on chunks: a two-round composable coreset (Malkomes, Kusner, Chen, Weinberger & Moseley,
"Fast Distributed k-Center Clustering with Outliers on Massive Data", NeurIPS 2015, Section 3).

Round 1: every chunk runs the greedy farthest-point traversal (Gonzalez 1985;
:func:`coreselect.methods.kcenter.kcenter_greedy`) for ``m`` centers of its own rows, in parallel.
Round 2: one task runs the same greedy on the union of the chunks' centers (≤ chunks·m rows) and returns
m of them. Each greedy is a 2-approximation of its k-center instance, and the union of per-part
2-approximate solutions is a composable coreset, so the answer is a **4-approximation** of the optimal
k-center radius of all the data (Malkomes et al. 2015, Theorem 3). With one chunk it is exactly the
single-machine greedy.

``per_class=True``: each class is one task running :class:`~coreselect.methods.kcenter.KCenter` on its
rows, with the generator state the single-machine loop reaches at that class (the greedy draws one
starting row per class), so the subset is identical to the single-machine one.

Cost: round 1 O(m·n·d) spread over the chunks (memory O(chunk) per task); round 2 O(m·(chunks·m)·d) on one
worker, memory O(chunks·m·d).
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from coreselect.budget import Budget
from coreselect.distributed import backend
from coreselect.distributed.perclass import class_tasks
from coreselect.methods._perclass import class_budgets
from coreselect.methods.kcenter import KCenter, kcenter_greedy
from coreselect.pool import Pool
from coreselect.subset import Subset


def _local_centers(block: np.ndarray, m: int, seed: int, offset: int) -> np.ndarray:
    return kcenter_greedy(block, min(m, block.shape[0]), np.random.default_rng(seed)) + offset


def _final(xu: np.ndarray, m: int, seed: int) -> np.ndarray:
    return kcenter_greedy(xu, m, np.random.default_rng(seed))


def two_round(x: da.Array, m: int, rng: np.random.Generator) -> np.ndarray:
    """m rows of `x` by the two-round composable k-center (module docstring), in greedy order."""
    if len(x.chunks[0]) == 1:  # one chunk: the single-machine greedy itself
        return dask.compute(dask.delayed(kcenter_greedy, pure=True)(x, m, rng))[0]
    seeds = rng.integers(2**63 - 1, size=len(x.chunks[0]) + 1)
    parts = [dask.delayed(_local_centers, pure=True)(b, m, int(s), int(o))
             for b, s, o in zip(backend.blocks(x), seeds, backend.offsets(x))]
    union = np.sort(np.concatenate(dask.compute(*parts)))
    pos = dask.compute(dask.delayed(_final, pure=True)(x[union], m, int(seeds[-1])))[0]
    return union[pos]


def select_kcenter(method: KCenter, x: da.Array, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
    if method.per_class:
        plan = class_budgets(pool, budget)
        idx = class_tasks(KCenter(), x, pool, plan, lambda g, rows: g.integers(rows.size), rng)
    else:
        idx = two_round(x, budget.total, rng)
    return Subset.uniform_weights(idx, pool.n)
