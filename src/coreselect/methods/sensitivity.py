"""Clustering-based sensitivity sampling with a counted loss oracle (Algorithms 1 and 3).

Reference: Axiotis et al., "Data-Efficient Learning via Clustering-Based Sensitivity Sampling:
Foundation Models and Beyond" (arXiv 2402.17327), Algorithm 1 (Theorem 5) and Algorithm 3 (Theorem 6).

Algorithm 1: a (k, z)-clustering of the embeddings with centers snapped to data points (the set A); the
loss oracle ℓ is queried on A only (k queries). Every example e gets its nearest point A(e) of A,
``ℓ̂(e) = ℓ(A(e))`` and ``v(e) = ‖e − A(e)‖^z``; then ``p_e = (ℓ̂(e) + λ v(e)) / Σ_x (ℓ̂(x) + λ v(x))``
and s examples are drawn i.i.d. from p with weight ``1/(s p_e)`` (duplicates merged), so that
``Σ_S w ℓ`` is an unbiased estimate of ``Σ_D ℓ`` whose error is at most
``ε (Σ_D ℓ + 2λ Φ_z(D, A))`` with constant probability for ``s = ⌈ε⁻²(2 + 2ε/3)⌉`` when ℓ is
(z, λ)-Hölder (:func:`sample_size`).

Algorithm 3 (``rounds = r``): the rows are ordered by D^z seeding (k-means++ for z = 2) so every prefix is
a good clustering; round i queries the next k rows of the order, A grows to the i·k first rows, and a
fresh sample S_i is drawn from the updated p.

λ (the Hölder constant in the theory) defaults to ``Σ ℓ̂ / Σ v`` (:func:`balanced_lambda`): half of the
sampling mass follows the queried losses, half the distances, which bounds the variance by twice that of
the better of the two without knowing the true constant. Unbiasedness holds for any λ as long as
``p_e > 0`` wherever ``ℓ(e) > 0``; when every ``ℓ̂ + λ v`` is 0 the sample is uniform.

Cost (n rows, d dims, k queries, s draws): the clustering (k-means++ seeding on ≤ 32·k sampled rows,
then faiss Lloyd on ≤ 256·k sampled rows, O(20 · 256k · k · d)), two faiss assignment passes over all
rows, O(n · k · d) each (to the centers, which snaps each center to the nearest row of its cell, then to
the snapped rows), and O(n + s log n) for the sampling. Memory beyond the features: O(k · d) for the centers plus a few (n,) vectors — the
features are never copied (faiss holds the k centers and searches the data against them).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.geometry.backend import NUMPY, Backend, BackendName, DeviceName, resolve
from coreselect.geometry.clustering import dz_seeding_order, representatives
from coreselect.geometry.neighbors import nearest
from coreselect.oracle import Oracle
from coreselect.pool import Pool
from coreselect.registry import MethodBase, register
from coreselect.subset import Subset

REFERENCE = "Axiotis et al. 2024, arXiv 2402.17327 (Algorithms 1, 3)"
#: Why importance weights are not normalised, and so what they sum to (``weight_total`` of the methods
#: that draw i.i.d. with p).
IMPORTANCE_WEIGHTS = ("the weights 1/(s·p) are left unnormalised so that Σ w·ℓ is an unbiased estimate "
                      "of Σ ℓ (normalising them to sum to n would bias it)")
UNBIASED_TOTAL = "n in expectation, not exactly: " + IMPORTANCE_WEIGHTS


def sample_size(eps: float) -> int:
    """``s = ⌈ε⁻²(2 + 2ε/3)⌉``, the sample size of Theorem 5 for relative error ε (ε in (0, 1])."""
    if not (isinstance(eps, (int, float)) and 0 < eps <= 1):
        raise InputError(f"eps must be in (0, 1], got {eps!r}")
    return math.ceil((2 + 2 * eps / 3) / eps**2)


@dataclass(frozen=True)
class LossProxy:
    """What the queries tell about the loss: the queried rows A, ℓ on them, and for every example its
    nearest queried row (`assign`, a position in `queried`) and ``v = ‖e − A(e)‖^z``."""

    queried: np.ndarray
    values: np.ndarray
    assign: np.ndarray
    v: np.ndarray
    z: int

    @property
    def lhat(self) -> np.ndarray:
        """``ℓ̂(e) = ℓ(A(e))`` for every example."""
        return self.values[self.assign]

    @property
    def cost(self) -> float:
        """``Φ_z(D, A) = Σ_e v(e)``, the clustering cost of the queried rows."""
        return float(self.v.sum())


def balanced_lambda(proxy: LossProxy) -> float:
    """The automatic λ: ``Σ_e ℓ̂(e) / Σ_e v(e)``, so the loss term and the distance term of p carry
    equal mass (:func:`lambda_from_sums` of the proxy's two sums).

    Then ``p = ½ p_loss + ½ p_dist`` (p_loss ∝ ℓ̂, p_dist ∝ v): a defensive mixture whose second moment
    ``Σ ℓ²/p`` is at most twice that of either pure proposal, whatever the unknown Hölder constant. O(n).
    """
    return lambda_from_sums(float(proxy.lhat.sum()), proxy.cost)


def lambda_from_sums(lhat_sum: float, v_sum: float) -> float:
    """``Σ ℓ̂ / Σ v`` from the two sums; 1 when every ℓ̂ is 0 (p ∝ v), 0 when every v is 0 (λ does not
    matter then). The chunked path computes the sums by reduction and calls this."""
    if v_sum <= 0:
        return 0.0
    return lhat_sum / v_sum if lhat_sum > 0 else 1.0


def _distances(d2: np.ndarray, z: int) -> np.ndarray:
    d2 = d2.astype(np.float64)
    return d2 if z == 2 else np.sqrt(d2)


def probabilities(proxy: LossProxy, lam: float) -> np.ndarray:
    """``p_e ∝ ℓ̂(e) + λ v(e)`` (Algorithm 1, step 3); uniform when that is 0 everywhere. A sum that
    overflows (a huge λ or huge losses) is an InputError, never a silent fall back to uniform."""
    with np.errstate(over="ignore", invalid="ignore"):
        q = proxy.lhat + lam * proxy.v
        total = q.sum()
    if not np.isfinite(total):
        raise InputError(f"sampling scores ℓ̂ + λ·v overflow float64 with lam = {lam:.3g}; lower lam, or rescale "
                         "the losses")
    if total <= 0:
        return np.full(q.size, 1.0 / q.size)
    return q / total


def draw(p: np.ndarray, s: int, rng: np.random.Generator, n_queries: int = 0) -> Subset:
    """`s` i.i.d. draws from `p`, weight ``1/(s p_e)`` per draw, duplicates merged (weights added)."""
    draws = rng.choice(p.size, size=s, p=p)
    return Subset.from_draws(draws, 1.0 / (s * p[draws]), p.size, n_queries=n_queries)


def build_proxy(x: np.ndarray, oracle: Oracle, k: int, z: int, rng: np.random.Generator,
                timings: dict[str, float] | None = None, backend: Backend = NUMPY) -> LossProxy:
    """Algorithm 1 steps 1–2: k distinct representatives of a (k, z)-clustering, ℓ queried there,
    every row assigned to its nearest representative. `timings`, when given, receives the seconds of
    the clustering with its queries (``cluster``) and of the assignment pass (``assign``). `backend` runs
    the Lloyd steps and the assignment passes (:mod:`coreselect.geometry.backend`)."""
    t0 = time.perf_counter()
    rows = representatives(x, k, z, rng, backend)
    values = oracle(rows)
    t1 = time.perf_counter()
    assign, d2 = nearest(x, x[rows], backend)
    assign[rows] = np.arange(rows.size)  # a queried row is its own representative, at distance 0
    d2[rows] = 0
    if timings is not None:
        timings.update(cluster=t1 - t0, assign=time.perf_counter() - t1)
    return LossProxy(rows, values, assign, _distances(d2, z), z)


def _grow(x: np.ndarray, proxy: LossProxy | None, new: np.ndarray, values: np.ndarray, z: int,
          backend: Backend = NUMPY) -> LossProxy:
    """Algorithm 3 step 3–4: add queried rows `new` to A and update every row's nearest point of A."""
    lab, d2 = nearest(x, x[new], backend)
    dist = _distances(d2, z)
    if proxy is None:
        queried, vals, assign, v = new, values, lab, dist
    else:
        queried = np.concatenate([proxy.queried, new])
        vals = np.concatenate([proxy.values, values])
        better = dist < proxy.v
        assign = np.where(better, lab + proxy.queried.size, proxy.assign)
        v = np.where(better, dist, proxy.v)
    assign[new] = np.arange(queried.size - new.size, queried.size)
    v[new] = 0
    return LossProxy(queried, vals, assign, v, z)


def _check_params(k: int | None, rounds: int, z: int, lam: float | None) -> None:
    if z not in (1, 2):
        raise InputError(f"z must be 1 (k-median) or 2 (k-means), got {z!r}")
    if (k is not None and k < 1) or rounds < 1:
        raise InputError(f"k and rounds must be ≥ 1, got k={k}, rounds={rounds}")
    if lam is not None and not (np.isfinite(lam) and lam >= 0):
        raise InputError(f"lam must be a finite number ≥ 0 or None (automatic), got {lam!r}")


def check_sizes(n: int, s: int, k: int, rounds: int, z: int, lam: float | None) -> None:
    _check_params(k, rounds, z, lam)
    if k * rounds > n:
        what = f"k={k}" if rounds == 1 else f"k·rounds={k}·{rounds}={k * rounds}"
        raise InputError(f"{what} exceeds the number of examples n={n}")
    if s < 1:
        raise InputError(f"the sample size s must be ≥ 1, got {s}")


def _one_round(x: np.ndarray, oracle: Oracle, s: int, k: int, z: int, lam: float | None,
               rng: np.random.Generator, backend: Backend = NUMPY) -> Subset:
    timings: dict[str, float] = {}
    proxy = build_proxy(x, oracle, k, z, rng, timings, backend)
    t0 = time.perf_counter()
    lam_used = balanced_lambda(proxy) if lam is None else lam
    out = draw(probabilities(proxy, lam_used), s, rng, n_queries=oracle.n_queries)
    return _annotate(out, lam_used, proxy, {**timings, "sample": time.perf_counter() - t0})


def _annotate(subset: Subset, lam: float, proxy: LossProxy, timings: dict[str, float]) -> Subset:
    params = {**subset.params, "lam_used": lam, "clustering_cost": proxy.cost}
    return dataclasses.replace(subset, params=params, timings=timings)


def _rounds(x: np.ndarray, oracle: Oracle, s: int, k: int, rounds: int, z: int, lam: float | None,
            rng: np.random.Generator, backend: Backend = NUMPY) -> list[Subset]:
    t0 = time.perf_counter()
    order = dz_seeding_order(x, k * rounds, z, rng)
    out: list[Subset] = []
    proxy: LossProxy | None = None
    for i in range(rounds):
        t1 = time.perf_counter()
        new = order[i * k:(i + 1) * k]
        proxy = _grow(x, proxy, new, oracle(new), z, backend)
        lam_used = balanced_lambda(proxy) if lam is None else lam
        sub = draw(probabilities(proxy, lam_used), s, rng, n_queries=oracle.n_queries)
        seeding = t1 - t0 if i == 0 else 0.0
        out.append(_annotate(sub, lam_used, proxy, {"order": seeding, "round": time.perf_counter() - t1}))
    return out


def as_oracle(oracle: Any, n: int) -> Oracle:
    if oracle is None:
        raise InputError("sensitivity sampling needs an oracle: a callable fn(indices) -> losses or an (n,) array")
    return oracle if isinstance(oracle, Oracle) else Oracle(oracle, n)


def default_k(s: int, n: int) -> int:
    """``⌈s/5⌉`` capped at n: the paper's neural-network setting queries k″ = 0.2 × the budget."""
    return int(min(n, max(1, math.ceil(s / 5))))


def sensitivity_rounds(features: Any, oracle: Any, size: int, k: int | None = None, rounds: int = 2,
                       z: int = 2, lam: float | None = None, seed: int | None = 0) -> list[Subset]:
    """Algorithm 3: one weighted Subset per round (round i has queried ``i·k`` rows in all).

    `features (n, d)`, `oracle` a callable ``fn(indices) -> losses`` or an (n,) array (read only at the
    queried rows), `size` the i.i.d. draws per round. ``coreselect.select("sensitivity", rounds=r, ...)``
    returns the last of these. Each Subset's `n_queries` counts the queries made up to its round.
    """
    pool = Pool.build(features)
    x = pool.dense_features("sensitivity")
    k = default_k(size, pool.n) if k is None else k
    check_sizes(pool.n, size, k, rounds, z, lam)
    orc = as_oracle(oracle, pool.n)
    return _rounds(x, orc, size, k, rounds, z, lam, np.random.default_rng(seed))


@register("sensitivity")
@dataclass(frozen=True)
class Sensitivity(MethodBase):
    """Clustering-based sensitivity sampling (Algorithm 1; Algorithm 3 with ``rounds > 1``).

    ``k`` oracle queries per round (None: ⌈s/5⌉, the paper's 0.2 × budget), ``z`` = 2 (k-means) or
    1 (k-median), ``lam`` the Hölder constant λ (None: :func:`balanced_lambda`), ``rounds`` the
    adaptive rounds of Algorithm 3 (the last round's Subset is returned; see
    :func:`sensitivity_rounds` for all). The budget's total is the number s of i.i.d. draws; the
    Subset holds the distinct drawn rows (≤ s) with weights ``1/(s p)`` summed over duplicates, which sum
    to n in expectation (:data:`UNBIASED_TOTAL`).
    Complexity: see the module docstring. `backend`, `device`: where the Lloyd steps and the assignment
    passes run (:mod:`coreselect.geometry.backend`; the seeding and the sampling stay on the CPU).
    """

    k: int | None = None
    z: Literal[1, 2] = 2
    lam: float | None = None
    rounds: int = 1
    backend: BackendName = "auto"
    device: DeviceName = "auto"
    needs = frozenset({"oracle"})
    weighted = True
    weight_total = UNBIASED_TOTAL
    reference = REFERENCE

    def __post_init__(self) -> None:
        _check_params(self.k, self.rounds, self.z, self.lam)
        resolve(self.backend, self.device)

    def select(self, pool: Pool, budget: Budget, rng: np.random.Generator) -> Subset:
        x = pool.dense_features(self.name)
        s = budget.total
        k = default_k(s, pool.n) if self.k is None else self.k
        check_sizes(pool.n, s, k, self.rounds, self.z, self.lam)
        oracle = as_oracle(pool.oracle, pool.n)
        be = resolve(self.backend, self.device)
        if self.rounds == 1:
            return _one_round(x, oracle, s, k, self.z, self.lam, rng, be)
        return _rounds(x, oracle, s, k, self.rounds, self.z, self.lam, rng, be)[-1]
