"""The facility-location set function, over a dense similarity block or a sparse kNN graph.

    F(S) = Σ_i w_i · max_{j ∈ S} Sim(i, j) · I_j          (F(∅) = 0)

`w_i ≥ 0` weights the represented examples (rows), `I_j ≥ 0` is a multiplicative importance of the
candidate (BOSS, Eq. 5 of "BOSS: diversity-difficulty balanced one-shot subset selection"; `I = 1` is
plain facility location, Cornuéjols et al. 1977). With `Sim ≥ 0` and `I ≥ 0`, F is monotone and
submodular, so the greedy optimisers of :mod:`coreselect.geometry.greedy` apply.

This module holds the *function* only (apricot's separation of function and optimiser): its state is
`best_i = max_{j∈S} Sim(i,j)·I_j`, and it answers :meth:`FacilityLocation.gains` for any batch of
candidates and :meth:`FacilityLocation.add`. Both representations store, for every candidate `j`, the
rows `i` it can represent and the values `Sim(i, j)·I_j` (the *transposed* graph: candidate-major), so
a gain is one gather and one segmented sum, with no Python loop over examples.

* **dense** — all n² pairs; memory 4·n² bytes.
* **sparse** — each example keeps only its `k` nearest neighbours (exact, or approximate by cell probing),
  plus itself; memory O(n·k). A row with no chosen example among its neighbours counts 0, where the
  dense function would count its best similarity to S. So on the same S, F_sparse ≤ F_dense, with
  equality for every row that has a chosen example among its (true) k nearest neighbours — the
  nearest chosen example of such a row is then in its list. The gap is the rows left uncovered; it
  shrinks as k·|S|/n grows. Measured in ``benchmarks/results/facility-scale.md`` and tested.

**Scope** — which F :func:`build` stands for, whatever the number of rows:

* ``"knn"`` — Sim(i, j) counts only when j is among the k nearest neighbours of i, else 0: *one*
  objective at every size, held as the sparse graph (exact kNN up to :data:`EXACT_KNN_ROWS` rows or
  with ``exact=True``, cell probing beyond). On ReLU features ``0.5 + 0.5·cos`` is ≥ 0.5 for every pair,
  so all-pairs F lets a few heavily weighted picks "represent" everyone (BOSS's crowding); restricted
  to neighbourhoods, a pick only covers its own region. BOSS's and facility location's default.
* ``"global"`` — all pairs, the dense block at every size (the BOSS authors' code); refused when the
  n×n block exceeds the available memory.
* ``"auto"`` — dense when the block fits in `dense_bytes`, else the kNN graph (CRAIG: its official
  similarity is dense, the graph is the approximation where memory runs out).

Similarities: ``"cosine"`` — ``0.5 + 0.5·cos(x_i, x_j)`` ∈ [0, 1] (BOSS's map; all-zero rows have
cosine 0 with everything); ``"euclidean"`` — ``R − ‖x_i − x_j‖`` with ``R = 2·max_i ‖x_i − x̄‖`` ≥ every
pairwise distance (CRAIG's ``max_dist − dist`` with a bound that needs no n² pass; in the dense function
the constant does not change the greedy order, which depends only on distance differences after the
first pick and picks the medoid first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from coreselect.errors import InputError
from coreselect.geometry.backend import NUMPY, Backend
from coreselect.geometry.blocks import row_blocks
from coreselect.geometry.cellknn import cell_knn
from coreselect.geometry.distances import normalize_rows, sq_norms
from coreselect.geometry.neighbors import knn
from coreselect.npyio import check_memory

Similarity = Literal["cosine", "euclidean"]
SIMILARITIES = ("cosine", "euclidean")
Scope = Literal["knn", "global", "auto"]
SCOPES = ("knn", "global", "auto")

#: Largest dense similarity block (bytes) :func:`build` accepts before switching to the kNN graph.
DENSE_BYTES = 16 * 2**20
#: Default neighbourhood size of the sparse graph (see the table in benchmarks/results/facility-scale.md).
DEFAULT_NEIGHBORS = 32
#: Under scope "knn", classes up to this many rows get an exact kNN graph (an O(n²·d) search, about the
#: cost of the 16 MB dense block); larger ones cell probing unless ``exact=True``.
EXACT_KNN_ROWS = 2048


@dataclass
class FacilityLocation:
    """F(S) = Σ_i w_i max_{j∈S} v_ij over a candidate-major table `v_ij = Sim(i, j)·I_j`.

    Dense: `values (n_cand, n_rows)`, `indptr = rows = None`. Sparse: CSR `indptr (n_cand + 1)`,
    `rows (nnz,)`, `values (nnz,)`. `weights (n_rows,)` or None (all 1). Mutable: :meth:`add` updates
    `best`; :meth:`reset` empties S.
    """

    values: np.ndarray
    indptr: np.ndarray | None = None
    rows: np.ndarray | None = None
    weights: np.ndarray | None = None
    n_rows: int = 0

    def __post_init__(self) -> None:
        if self.indptr is None:
            self.n_rows = self.values.shape[1]
        self.best = np.zeros(self.n_rows, dtype=np.float64)

    @property
    def n(self) -> int:
        """Number of candidates (the ground set of the greedy)."""
        return self.values.shape[0] if self.indptr is None else self.indptr.size - 1

    @property
    def sparse(self) -> bool:
        return self.indptr is not None

    def reset(self) -> None:
        self.best[:] = 0

    def value(self) -> float:
        """F(S) of the current S."""
        return float(self.best.sum() if self.weights is None else self.weights @ self.best)

    def gains(self, candidates: np.ndarray) -> np.ndarray:
        """Marginal gains F(S ∪ {j}) − F(S) of `candidates` (float64).

        A candidate's gain depends only on its own segment and the state, never on the batch it is
        computed in, so lazy (one at a time) and naive (all at once) greedy agree to the last bit.
        Time O(Σ segment lengths); memory O(that) in float64 for the sparse graph, blocked for dense.
        """
        c = np.asarray(candidates, dtype=np.int64)
        if not self.sparse:
            out = np.empty(c.size, dtype=np.float64)
            for a, b in row_blocks(c.size, self.n_rows, itemsize=8):
                d = self.values[c[a:b]] - self.best  # float32 - float64 -> float64
                np.maximum(d, 0, out=d)
                if self.weights is not None:
                    d *= self.weights
                out[a:b] = d.sum(axis=1)
            return out
        starts, stops = self.indptr[c], self.indptr[c + 1]
        lengths = stops - starts
        offsets = np.zeros(c.size, dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        pos = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
        rows = self.rows[pos]
        d = self.values[pos] - self.best[rows]
        np.maximum(d, 0, out=d)
        if self.weights is not None:
            d *= self.weights[rows]
        return np.add.reduceat(d, offsets) if d.size else np.zeros(c.size)

    def gain(self, j: int) -> float:
        """The gain of one candidate (what lazy greedy re-evaluates); same arithmetic as :meth:`gains`."""
        if not self.sparse:
            return float(self.gains(np.array([j]))[0])
        a, b = self.indptr[j], self.indptr[j + 1]
        rows = self.rows[a:b]
        d = self.values[a:b] - self.best[rows]
        np.maximum(d, 0, out=d)
        if self.weights is not None:
            d *= self.weights[rows]
        return float(np.add.reduceat(d, [0])[0])

    def add(self, j: int) -> None:
        """Put candidate `j` into S: ``best_i ← max(best_i, v_ij)`` over the rows `j` reaches."""
        if not self.sparse:
            np.maximum(self.best, self.values[j], out=self.best)
            return
        a, b = self.indptr[j], self.indptr[j + 1]
        rows = self.rows[a:b]
        self.best[rows] = np.maximum(self.best[rows], self.values[a:b])

    def evaluate(self, chosen: np.ndarray) -> float:
        """F(chosen) from scratch (the state is left as it was)."""
        saved = self.best.copy()
        self.reset()
        for j in np.asarray(chosen, dtype=np.int64):
            self.add(int(j))
        v = self.value()
        self.best = saved
        return v


def _check(x: np.ndarray, importance: np.ndarray | None, weights: np.ndarray | None,
           similarity: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    if similarity not in SIMILARITIES:
        raise InputError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"features must be a non-empty (n, d) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("features contain NaN or inf")
    n = x.shape[0]
    out = []
    for name, v in (("importance", importance), ("weights", weights)):
        if v is None:
            out.append(None)
            continue
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if v.size != n:
            raise InputError(f"{name} has {v.size} entries but features have {n} rows")
        if not np.isfinite(v).all() or np.any(v < 0):
            raise InputError(f"{name} must be finite and >= 0")
        out.append(v)
    return x, out[0], out[1]


def _prepare(x: np.ndarray, similarity: str) -> tuple[np.ndarray, float]:
    """Rows ready for inner products (unit rows for cosine, centred rows for euclidean) and the radius R."""
    if similarity == "cosine":
        return normalize_rows(x), 0.0
    xc = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
    return xc, float(2 * np.sqrt(sq_norms(xc).max()))


def _to_similarity(raw: np.ndarray, similarity: str, radius: float) -> np.ndarray:
    """Map inner products (cosine) or squared distances (euclidean) to similarities, in place."""
    if similarity == "cosine":
        raw *= 0.5
        raw += 0.5
        np.clip(raw, 0, 1, out=raw)
    else:
        np.maximum(raw, 0, out=raw)
        np.sqrt(raw, out=raw)
        np.subtract(radius, raw, out=raw)
        np.maximum(raw, 0, out=raw)
    return raw


def dense_block(x: np.ndarray, similarity: Similarity = "cosine", backend: Backend = NUMPY) -> np.ndarray:
    """The `(n, n)` float32 similarity matrix (blocked construction; memory 4·n² bytes), built by
    `backend` (:func:`coreselect.geometry.torch_backend.dense_block` for torch)."""
    xp, radius = _prepare(x, similarity)
    if backend.is_torch:
        from coreselect.geometry import torch_backend

        return torch_backend.dense_block(xp, similarity, radius, backend.device)
    n = xp.shape[0]
    s = np.empty((n, n), dtype=np.float32)
    norms = sq_norms(xp) if similarity == "euclidean" else None
    for a, b in row_blocks(n, n):
        blk = xp[a:b] @ xp.T
        if norms is not None:
            blk *= -2
            blk += norms[a:b, None]
            blk += norms[None, :]
        s[a:b] = _to_similarity(blk, similarity, radius)
    return s


def knn_graph(x: np.ndarray, k: int, similarity: Similarity = "cosine", exact: bool = False,
              probes: int = 4, seed: int = 0, backend: Backend = NUMPY) -> sp.csr_matrix:
    """Row-major kNN similarity graph: row i holds Sim(i, j) for its `k` nearest j, always including i.

    ``exact=True``: faiss flat search, O(n²·d). Otherwise :func:`coreselect.geometry.cellknn.cell_knn`
    (≈ √n k-means cells, each searched among its `probes` nearest cells by one matrix product),
    O(n·probes·√n·d). Inner product on unit rows (cosine) or L2 (euclidean). Deterministic; memory O(n·k).
    A torch `backend` runs the exact search (:func:`coreselect.geometry.torch_backend.knn`, blocked top-k);
    cell probing stays on the CPU, so both backends build the same graph.
    """
    xp, radius = _prepare(x, similarity)
    n = xp.shape[0]
    k = max(1, min(int(k), n))
    metric = "ip" if similarity == "cosine" else "l2"
    if exact and backend.is_torch:
        from coreselect.geometry import torch_backend

        vals, idx = torch_backend.knn(xp, k, metric=metric, device=backend.device)
    elif exact:
        vals, idx = knn(xp, k, metric=metric, exact=True)
    else:
        vals, idx = cell_knn(xp, k, metric=metric, probes=probes, seed=seed)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    idx = idx.reshape(-1)
    keep = (idx >= 0) & (idx != rows)
    self_raw = sq_norms(xp) if similarity == "cosine" else np.zeros(n, dtype=np.float32)
    r = np.concatenate([rows[keep], np.arange(n)])
    c = np.concatenate([idx[keep], np.arange(n)])
    v = _to_similarity(np.concatenate([vals.reshape(-1)[keep], self_raw]).astype(np.float32), similarity, radius)
    g = sp.csr_matrix((v, (r, c)), shape=(n, n))
    g.sum_duplicates()
    return g


def from_graph(graph: sp.spmatrix, importance: np.ndarray | None = None,
               weights: np.ndarray | None = None) -> FacilityLocation:
    """A sparse :class:`FacilityLocation` from a row-major similarity graph (row i: Sim(i, ·) ≥ 0)."""
    t = sp.csr_matrix(graph, dtype=np.float32).T.tocsr()  # candidate-major
    t.sort_indices()
    values = t.data.astype(np.float32, copy=True)
    if importance is not None:
        values *= np.repeat(importance, np.diff(t.indptr)).astype(np.float32)
    return FacilityLocation(values=values, indptr=t.indptr.astype(np.int64), rows=t.indices.astype(np.int64),
                            weights=weights, n_rows=graph.shape[0])


def from_dense(sim: np.ndarray, importance: np.ndarray | None = None,
               weights: np.ndarray | None = None) -> FacilityLocation:
    """A dense :class:`FacilityLocation` from a symmetric `(n, n)` similarity matrix (scaled in place)."""
    if importance is not None:
        sim *= importance.astype(np.float32)[:, None]
    return FacilityLocation(values=sim, weights=weights)


def build(x: np.ndarray, importance: np.ndarray | None = None, weights: np.ndarray | None = None,
          similarity: Similarity = "cosine", scope: Scope = "knn", neighbors: int = DEFAULT_NEIGHBORS,
          exact: bool = False, probes: int = 4, dense_bytes: int = DENSE_BYTES, seed: int = 0,
          backend: Backend = NUMPY) -> FacilityLocation:
    """Facility location on the rows of `x` under `scope` (module docstring): ``"knn"`` the kNN graph
    (exact up to :data:`EXACT_KNN_ROWS` rows), ``"global"`` the dense block, ``"auto"`` dense when
    4·n² ≤ `dense_bytes`, else the kNN graph.

    `importance` (per candidate, ≥ 0) multiplies the similarity (BOSS); `weights` (per represented
    example, ≥ 0) weights the sum. `neighbors`, `exact` and `probes` set the graph (unused when dense).
    `backend` builds the dense block or the exact graph; the greedy's gains stay on the CPU.
    """
    x, importance, weights = _check(x, importance, weights, similarity)
    if scope not in SCOPES:
        raise InputError(f"scope must be one of {SCOPES}, got {scope!r}")
    if neighbors < 1:
        raise InputError(f"neighbors must be >= 1, got {neighbors}")
    n = x.shape[0]
    if scope == "global":
        check_memory(4 * n * n, f"the all-pairs similarity of {n} rows (scope='global')")
    if scope == "global" or (scope == "auto" and 4 * n * n <= dense_bytes):
        return from_dense(dense_block(x, similarity, backend), importance, weights)
    exact = exact or (scope == "knn" and n <= EXACT_KNN_ROWS)
    graph = knn_graph(x, neighbors, similarity, exact=exact, probes=probes, seed=seed, backend=backend)
    return from_graph(graph, importance, weights)


def dense_value(x: np.ndarray, chosen: np.ndarray, importance: np.ndarray | None = None,
                weights: np.ndarray | None = None, similarity: Similarity = "cosine") -> float:
    """The *dense* F(chosen) on `x`, computed in row blocks (never n×n): O(n·|S|·d) time, O(block) memory."""
    x, importance, weights = _check(x, importance, weights, similarity)
    chosen = np.asarray(chosen, dtype=np.int64)
    if chosen.size == 0:
        return 0.0
    xp, radius = _prepare(x, similarity)
    xs = xp[chosen]
    scale = None if importance is None else importance[chosen].astype(np.float32)
    ns = sq_norms(xs)
    nx = sq_norms(xp)
    best = np.empty(xp.shape[0], dtype=np.float64)
    for a, b in row_blocks(xp.shape[0], chosen.size):
        blk = xp[a:b] @ xs.T
        if similarity == "euclidean":
            blk *= -2
            blk += nx[a:b, None]
            blk += ns[None, :]
        blk = _to_similarity(blk, similarity, radius)
        if scale is not None:
            blk *= scale
        best[a:b] = blk.max(axis=1)
    return float(best.sum() if weights is None else weights @ best)
