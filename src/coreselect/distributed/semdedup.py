"""SemDeDup on chunks: the single-machine algorithm (:class:`coreselect.methods.semdedup.SemDeDup`) with
each O(n) step done per chunk, and the clusters as parallel tasks.

1. The rows are scaled to unit norm per chunk; k-means runs on the client on the same uniform sample of
   256 rows per cluster the single-machine path draws (:func:`~coreselect.methods.semdedup.sample_positions`).
2. Every row's cluster: an exact assignment per chunk (:func:`~coreselect.geometry.neighbors.nearest`,
   decided in float64), gathered as n cluster numbers.
3. The clusters are packed, in order, into groups of about :data:`GROUP_ROWS` rows; a task gathers its
   group's rows as stored, scales them to unit norm (only those rows: normalising whole chunks here would
   repeat the work once per group) and computes M cluster by cluster (:meth:`SemDeDup.scores`, whose
   per-cluster order and random stream depend on the cluster alone).
4. The client keeps the rows by M (:meth:`SemDeDup.keep_rows`).

The same seed gives the single-machine subset, on any number of workers and any chunking. A worker holds
one group: its rows (≥ one whole cluster, so a cluster must fit a worker) plus one similarity block.
Cost: one pass for the sample, one O(n·k·d) assignment pass, one gather of every row into its group.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from coreselect.budget import Budget
from coreselect.geometry.clustering import kmeans_pp
from coreselect.geometry.distances import normalize_rows
from coreselect.geometry.neighbors import nearest
from coreselect.methods.semdedup import SAMPLE_PER_CLUSTER, SemDeDup, sample_positions
from coreselect.pool import Pool, group_rows
from coreselect.subset import Subset

#: Rows gathered into one task (about 128 MB of float32 at d = 128).
GROUP_ROWS = 2**18


def _labels_block(block: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return nearest(block, centers)[0]


def _group_scores(method: SemDeDup, rows: np.ndarray, labels: np.ndarray, centers: np.ndarray,
                  seed: int) -> np.ndarray:
    return method.scores(normalize_rows(rows), labels, centers, seed)


def groups(labels: np.ndarray, size: int) -> list[np.ndarray]:
    """The rows of consecutive clusters packed into groups of about `size` rows (sorted within a group)."""
    out, group, count = [], [], 0
    for rows in group_rows(labels)[1]:
        group.append(rows)
        count += rows.size
        if count >= size:
            out.append(np.sort(np.concatenate(group)))
            group, count = [], 0
    if group:
        out.append(np.sort(np.concatenate(group)))
    return out


def select(method: SemDeDup, x: da.Array, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
    """SemDeDup on the chunks of `x` (module docstring); the single-machine subset for the same seed."""
    n = x.shape[0]
    u = x.map_blocks(normalize_rows, dtype=np.float32)
    k = method.n_clusters(n)
    sample = np.ascontiguousarray(u[sample_positions(n, SAMPLE_PER_CLUSTER * k, rng)].compute())
    centers = kmeans_pp(sample, k, rng)
    labels = u.map_blocks(_labels_block, centers, drop_axis=1, dtype=np.int64).compute()
    seed = int(rng.integers(2**63 - 1))
    parts = groups(labels, GROUP_ROWS)
    tasks = [dask.delayed(_group_scores, pure=True)(method, x[rows], labels[rows], centers, seed) for rows in parts]
    m = np.empty(n)
    for rows, scores in zip(parts, dask.compute(*tasks)):
        m[rows] = scores
    return method.keep_rows(m, budget)
