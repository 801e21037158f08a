"""Protocol ``warmstart``: the neural-network experiment of arXiv 2402.17327 (Section 5.2, Figure 2b).

For a budget k (``--sizes``) and a seed:

* ``uniform`` — k training rows uniformly; a fresh model trained on them.
* ``kcenter`` — warm start: k′ = 0.2k uniform rows train an initial model; k-center greedy (Sener &
  Savarese 2018) on that model's penultimate embeddings adds k − k′ rows to the k′.
* ``sensitivity`` (variants ``loss`` and ``grad``, option ``oracles``) — the same k′ and initial model;
  k-means with k″ = 0.2k centers on the embeddings, snapped to data rows (A); the oracle ℓ is evaluated
  by the initial model at A only: ``loss`` = cross-entropy, ``grad`` = ‖∇_θ L‖² of the last layer
  (``‖softmax − onehot‖² · (‖h‖² + 1)``); ``ℓ̃(e) = ℓ(A(e)) + λ‖e − A(e)‖²`` (λ automatic, Σℓ̂/Σv); the
  remaining k − k′ − |A| rows are drawn without replacement ∝ ℓ̃ from the rows not yet chosen.

Every arm ends with exactly k distinct rows and a fresh model (same initial weights for a seed) trained on
them unweighted; the run records the final test accuracy and the number of oracle queries.
Model and training as in the paper's appendix C: an MLP with one 128-unit hidden layer, 10 epochs
(``--epochs``), batch 32, Adam with learning rate 1e-3. Inputs: pixels standardised with the training
mean and std. Key: protocol, dataset, method, variant, budget (= k), seed, model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from coreselect.bench.config import BenchConfig
from coreselect.bench.store import ResultStore
from coreselect.errors import InputError

OPTIONS = {"oracles": "sensitivity variants, comma-separated: loss, grad (default both)"}
METHODS = ("uniform", "kcenter", "sensitivity")
DEFAULT_METHODS = METHODS
ORACLES = ("loss", "grad")
WARM_FRACTION = 0.2  # k′ = 0.2k uniform rows; k″ = 0.2k k-means centers


def _oracles(config: BenchConfig) -> list[str]:
    names = [t.strip() for t in config.option("oracles", ",".join(ORACLES)).split(",") if t.strip()]
    bad = sorted(set(names) - set(ORACLES))
    if bad or not names:
        raise InputError(f"option oracles must list {', '.join(ORACLES)}; got {config.option('oracles')!r}")
    return names


def validate(config: BenchConfig) -> None:
    bad = sorted(set(config.methods) - set(METHODS))
    if bad:
        raise InputError(f"protocol warmstart compares {', '.join(METHODS)}; got {', '.join(bad)}")
    if not config.sizes or min(config.sizes) < 10:
        raise InputError("protocol warmstart needs --sizes (budgets k ≥ 10)")
    _oracles(config)


@dataclass
class Warm:
    """The warm start shared by the kcenter and sensitivity arms of one (k, seed)."""

    rows: np.ndarray       # the k′ uniform rows
    h: np.ndarray          # penultimate embeddings of every training row (n, 128) float32
    weight: np.ndarray     # last layer (C, 128) and bias (C,) of the initial model
    bias: np.ndarray
    seconds: float


def oracle_values(h: np.ndarray, y: np.ndarray, weight: np.ndarray, bias: np.ndarray, kind: str) -> np.ndarray:
    """Per-example loss (``loss``) or squared last-layer gradient norm (``grad``) of a linear head."""
    z = h.astype(np.float64) @ weight.T + bias
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(y.size)
    if kind == "loss":
        return -logp[rows, y]
    g = np.exp(logp)
    g[rows, y] -= 1
    return (g**2).sum(axis=1) * ((h.astype(np.float64) ** 2).sum(axis=1) + 1)


def run(config: BenchConfig, store: ResultStore) -> None:
    from coreselect.data import load_dataset
    from coreselect.methods.kcenter import kcenter_greedy
    from coreselect.methods.sensitivity import balanced_lambda, build_proxy, probabilities
    from coreselect.oracle import Oracle
    from coreselect.train import TrainConfig, accuracy, build_model, fit, predict

    ds = load_dataset(config.dataset, root=config.data_root)
    x = np.asarray(ds.x_train, dtype=np.float32)
    mu, sd = float(x.mean()), float(x.std()) or 1.0
    x = (x - mu) / sd
    x_test = (np.asarray(ds.x_test, dtype=np.float32) - mu) / sd
    y, y_test = ds.y_train, ds.y_test
    n = x.shape[0]
    epochs = config.epochs or 10

    def train(rows: np.ndarray, seed: int):
        model = build_model("mlp", (x.shape[1],), ds.num_classes, seed=seed)
        cfg = TrainConfig(epochs=epochs, batch_size=32, optimizer="adam", lr=1e-3, schedule="constant",
                          weight_decay=0.0, device=config.device, seed=seed)
        fit(model, x[rows], y[rows], cfg, progress=False)
        return model

    arms = [(m, v) for m in config.methods for v in (_oracles(config) if m == "sensitivity" else [""])]
    for k in config.sizes:
        for seed in range(config.seeds):
            warm: Warm | None = None
            for method, variant in arms:
                key = {"protocol": "warmstart", "dataset": config.dataset, "method": method, "variant": variant,
                       "budget": k, "seed": seed, "model": "mlp128"}
                if store.done(key):
                    continue
                rng = np.random.default_rng([seed, k, METHODS.index(method), ORACLES.index(variant) if variant else 9])
                queries = 0
                t0 = time.perf_counter()
                if method == "uniform":
                    rows = rng.choice(n, k, replace=False)
                    prep = 0.0
                else:
                    if warm is None:
                        t1 = time.perf_counter()
                        first = np.random.default_rng([seed, k]).choice(n, int(WARM_FRACTION * k), replace=False)
                        model = train(first, seed)
                        _, h = predict(model, x, device=config.device, return_features=True)
                        head = model.head
                        warm = Warm(first, np.ascontiguousarray(h, dtype=np.float32),
                                    head.weight.detach().cpu().numpy().astype(np.float64),
                                    head.bias.detach().cpu().numpy().astype(np.float64), time.perf_counter() - t1)
                    prep = warm.seconds
                    t0 = time.perf_counter()
                    if method == "kcenter":
                        rows = np.concatenate([warm.rows, kcenter_greedy(warm.h, k - warm.rows.size, rng,
                                                                         initial=warm.rows)])
                    else:
                        def fn(idx: np.ndarray, kind: str = variant, w: Warm = warm) -> np.ndarray:
                            return oracle_values(w.h[idx], y[idx], w.weight, w.bias, kind)

                        oracle = Oracle(fn, n)
                        proxy = build_proxy(warm.h, oracle, int(WARM_FRACTION * k), 2, rng)
                        queries = oracle.n_queries
                        chosen = np.union1d(warm.rows, proxy.queried)
                        p = probabilities(proxy, balanced_lambda(proxy))
                        p[chosen] = 0
                        free = np.flatnonzero(p > 0)
                        m = k - chosen.size
                        if free.size < m:  # not enough positive-probability rows: fill uniformly
                            rest = np.setdiff1d(np.arange(n), np.concatenate([chosen, free]))
                            extra = np.concatenate([free, rng.choice(rest, m - free.size, replace=False)])
                        else:
                            extra = rng.choice(free, m, replace=False, p=p[free] / p[free].sum())
                        rows = np.concatenate([chosen, extra])
                select_time = prep + time.perf_counter() - t0
                assert np.unique(rows).size == k
                t2 = time.perf_counter()
                model = train(np.sort(rows), seed)
                train_time = time.perf_counter() - t2
                acc = accuracy(model, x_test, y_test, device=config.device)
                store.append(key, {"test_accuracy": acc, "n_queries": queries},
                             {"select": select_time, "train_subset": train_time})
