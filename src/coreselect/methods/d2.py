"""D2 Pruning: message passing over a kNN graph to balance diversity and difficulty (Maharana, Yadav &
Bansal, *D2 Pruning: Message Passing for Balancing Diversity and Difficulty in Data Pruning*, ICLR 2024,
Section 3: graph initialisation, forward message passing, data selection by reverse message passing).

Defaults and edge weights follow the official code (adymaharana/d2pruning): ``docs/d2-and-semdedup.md``
gives the file and line of each.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.geometry.blocks import row_blocks
from coreselect.geometry.cellknn import cell_knn
from coreselect.geometry.facility import EXACT_KNN_ROWS
from coreselect.geometry.neighbors import knn
from coreselect.methods._perclass import class_budgets
from coreselect.pool import Pool
from coreselect.progress import progress
from coreselect.registry import MethodBase, register
from coreselect.signals import HIGHER_IS_HARDER
from coreselect.subset import Subset

#: k and the reverse γ of the official CIFAR-10/ImageNet commands (adymaharana/d2pruning, Readme.MD lines
#: 30–31 and 51–52: ``N_NEIGHBOR=5``, ``GAMMA=0.1``).
DEFAULT_NEIGHBORS = 5
DEFAULT_GAMMA_REVERSE = 0.1
#: The forward kernel is ``exp(−d)`` in the official code (core/data/sampling.py lines 271–272): γ_f = 1.
DEFAULT_GAMMA_FORWARD = 1.0


def difficulty(values: np.ndarray, higher_is_harder: bool) -> np.ndarray:
    """Node scores s ≥ 0 with larger = harder: the signal itself when higher is harder (EL2N, GraNd,
    forgetting and loss are non-negative), else ``max(v) − v`` (AUM: a low margin is hard). float64."""
    v = np.asarray(values, dtype=np.float64)
    return v.copy() if higher_is_harder else v.max() - v


def distance_graph(x: np.ndarray, k: int, exact: bool = False, probes: int = 4, seed: int = 0,
                   backend: Backend = NUMPY) -> sp.csr_matrix:
    """The symmetrised kNN graph of the rows of `x` with Euclidean distances on its edges.

    Edge {i, j} exists when j is among the `k` nearest neighbours of i (itself excluded) or i among
    those of j — the official graph (sklearn ``kneighbors_graph`` with both directions filled). Each
    edge's distance ``‖x_i − x_j‖`` is recomputed in float64 (0 for duplicates, stored explicitly), so
    it does not depend on the search's rounding. Neighbours are exact (faiss flat) up to
    :data:`~coreselect.geometry.facility.EXACT_KNN_ROWS` rows or with `exact`, else found by cell
    probing (:func:`~coreselect.geometry.cellknn.cell_knn`, `probes` cells). ``k = 0``: no edges.
    Time O(n²·d) exact or O(n·probes·√n·d) probed, plus O(n·k·d); memory O(n·k).
    """
    n = x.shape[0]
    k = min(k, n - 1)
    if k == 0:
        return sp.csr_matrix((np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(n + 1, dtype=np.int64)),
                             shape=(n, n))
    if (exact or n <= EXACT_KNN_ROWS) and backend.is_torch:  # the same exact search on the device
        from coreselect.geometry import torch_backend

        _, idx = torch_backend.knn(x, k + 1, metric="l2", device=backend.device)
    elif exact or n <= EXACT_KNN_ROWS:
        _, idx = knn(x, k + 1, metric="l2", exact=True)
    else:
        _, idx = cell_knn(x, k + 1, metric="l2", probes=probes, seed=seed)
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    valid = (idx >= 0) & (idx != rows)
    valid &= np.cumsum(valid, axis=1) <= k  # self missing from its list (duplicates): keep the first k
    lo, hi = np.minimum(rows[valid], idx[valid]), np.maximum(rows[valid], idx[valid])
    pairs = np.unique(lo * n + hi)
    lo, hi = pairs // n, pairs % n
    dist = np.empty(pairs.size)
    for a, b in row_blocks(pairs.size, 2 * x.shape[1], itemsize=8):  # the float64 block + two float32 gathers
        diff = x[lo[a:b]].astype(np.float64)
        diff -= x[hi[a:b]]
        dist[a:b] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    src, dst, val = np.concatenate([lo, hi]), np.concatenate([hi, lo]), np.concatenate([dist, dist])
    order = np.lexsort((dst, src))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return sp.csr_matrix((val[order], dst[order], indptr), shape=(n, n))


def forward_scores(graph: sp.csr_matrix, scores: np.ndarray, gamma: float) -> np.ndarray:
    """Forward message passing: ``s_i + Σ_{j ∈ N(i)} exp(−γ·d_ij)·s_j`` over the graph's neighbours
    (each node receives its neighbours' difficulty, discounted by distance; the official "sum" mode).
    O(n·k)."""
    kernel = sp.csr_matrix((np.exp(-gamma * graph.data), graph.indices, graph.indptr), shape=graph.shape)
    return scores + kernel @ scores


def reverse_greedy(graph: sp.csr_matrix, scores: np.ndarray, m: int, gamma: float) -> np.ndarray:
    """Selection by reverse message passing: `m` nodes in pick order.

    Repeatedly pick the unchosen node p of highest current score (ties: the lowest index) and lower
    each neighbour's score by ``exp(−γ·d_pj)·s_p`` (s_p its current score; the official "weighted"
    mode, γ = 0 its "absolute" mode). A heap holds an entry per score change; an entry whose score is no
    longer current is dropped. Time O((n + m·k̄)·log n) with k̄ the mean degree; memory O(n + m·k̄).
    """
    s = scores.astype(np.float64, copy=True)
    decay = np.exp(-gamma * graph.data)
    heap = list(zip((-s).tolist(), range(s.size)))
    heapq.heapify(heap)
    chosen = np.zeros(s.size, dtype=bool)
    picks = np.empty(m, dtype=np.int64)
    for t in progress(range(m), total=m, desc="d2"):
        while True:
            neg, p = heapq.heappop(heap)
            if not chosen[p] and -neg == s[p]:
                break
        picks[t] = p
        chosen[p] = True
        a, b = graph.indptr[p], graph.indptr[p + 1]
        nbrs = graph.indices[a:b]
        s[nbrs] -= decay[a:b] * s[p]
        for j in nbrs[~chosen[nbrs]].tolist():
            heapq.heappush(heap, (-s[j], j))
    return picks


@register("d2")
@dataclass(frozen=True)
class D2(MethodBase):
    """D2 Pruning: forward then reverse message passing of difficulty over a kNN graph (Section 3).

    Per class (``per_class=True``: each class's graph and budget, the split of the Budget) or over the
    whole set: (1) node score ``s_i`` = the difficulty signal `score` (:func:`difficulty`); (2) graph:
    each example joined to its `neighbors` nearest by Euclidean distance d, symmetrised
    (:func:`distance_graph`); (3) forward: ``s_i ← s_i + Σ_{j∈N(i)} exp(−γ_f·d_ij)·s_j``
    (:func:`forward_scores`, γ_f = `gamma_forward`); (4) reverse: pick the highest score, lower each
    neighbour j by ``exp(−γ_r·d_pj)·s_p``, repeat (:func:`reverse_greedy`, γ_r = `gamma_reverse`).
    ``neighbors=0`` switches message passing off: the hardest examples by `score`. The kernels read
    distances in the features' units (rescaling the features changes the subset). Unweighted (n/m).

    Time O(n²·d) per class up to 2,048 rows (exact kNN), else O(n·probes·√n·d); plus O(n·k·d) and
    O((n + m·k)·log n). Memory O(n·k). `backend`, `device`: where the exact kNN search runs
    (:mod:`coreselect.geometry.backend`; cell probing and the message passing stay on the CPU).
    """

    score: str = "el2n"
    neighbors: int = DEFAULT_NEIGHBORS
    gamma_forward: float = DEFAULT_GAMMA_FORWARD
    gamma_reverse: float = DEFAULT_GAMMA_REVERSE
    per_class: bool = True
    exact: bool = False
    probes: int = 4
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    reference = "Maharana, Yadav & Bansal, ICLR 2024 (D2 Pruning)"

    def __post_init__(self) -> None:
        if self.score not in HIGHER_IS_HARDER:
            raise InputError(f"score must be one of {', '.join(HIGHER_IS_HARDER)}, got {self.score!r}")
        if self.neighbors < 0:
            raise InputError(f"neighbors must be >= 0 (0: no message passing), got {self.neighbors!r}")
        if not self.gamma_forward >= 0:
            raise InputError(f"gamma_forward must be >= 0, got {self.gamma_forward!r}")
        if not self.gamma_reverse >= 0:
            raise InputError(f"gamma_reverse must be >= 0, got {self.gamma_reverse!r}")
        if self.probes < 1:
            raise InputError(f"probes must be >= 1, got {self.probes!r}")
        resolve(self.backend, self.device)

    def requires(self) -> frozenset[str]:
        return frozenset({self.score, "labels"} if self.per_class else {self.score})

    def pick(self, x: np.ndarray, values: np.ndarray, m: int, rng: np.random.Generator,
             backend: Backend = NUMPY) -> np.ndarray:
        """`m` rows of `x` (positions, in pick order) chosen by D2 with difficulty signal `values`."""
        graph = distance_graph(x, self.neighbors, self.exact, self.probes, seed=int(rng.integers(2**31)),
                               backend=backend)
        s = forward_scores(graph, difficulty(values, HIGHER_IS_HARDER[self.score]), self.gamma_forward)
        return reverse_greedy(graph, s, m, self.gamma_reverse)

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        x = pool.dense_features(self.name)
        signal = pool.signals[self.score]
        backend = resolve(self.backend, self.device)
        if self.per_class:
            idx = np.concatenate([rows[self.pick(x[rows], signal[rows], m, rng, backend)]
                                  for rows, m in class_budgets(pool, budget)])
        else:
            idx = self.pick(x, signal, budget.total, rng, backend)
        return Subset.uniform_weights(np.sort(idx), pool.n)
