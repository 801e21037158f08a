"""Protocol ``estimate``: how well a weighted sample estimates the total loss (the quantity that the
sensitivity-sampling theorems bound, arXiv 2402.17327 Theorem 5).

A 128-unit MLP is trained briefly on the training set (``--epochs``, default 1, Adam 1e-3, batch 128);
its penultimate activations h are the embeddings and its per-example cross-entropy is the loss ℓ, both
cached in ``OUT/estimate-proxy-<dataset>-….npz``. The loss depends on the label, so with
``embedding=label`` (default) the embedding is ``[h | c·onehot(y)]`` with c = 10 · max‖h‖: examples of
different classes are never clustered together, and ℓ is then a Lipschitz function of the embedding
(the cross-entropy is Lipschitz in the logits, which are linear in h) — the paper's assumption.
``embedding=plain`` uses h alone (ℓ is then not a function of the embedding). For every seed and sample size s, each method draws a
weighted sample S and the run records ``rel_error = |Σ_S w ℓ − Σ_D ℓ| / Σ_D ℓ``:

* ``sensitivity`` — Algorithm 1 (k-means with ``k`` centers, snapped; ℓ queried at the k centers only;
  λ automatic). The clustering and its k queries depend on the seed only, so one clustering per seed
  serves every s (each s then draws its own sample).
* ``uniform`` — s rows without replacement, weight n/s.

With ``--option lam_factors=0,0.1,1,10,inf`` the sensitivity method is also run at ``lam_size`` (default
1000) with λ = factor × the automatic λ (``inf``: p ∝ v, distance only); those runs carry
``variant = "lam×<factor>"``.

Options: ``k`` (queries, default 100), ``embedding`` (label | plain), ``lam_factors``, ``lam_size``,
``train_rows`` (rows used to train the proxy, default all). Key: protocol, dataset, method,
budget (= s), seed, variant, k, embedding.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from coreselect.bench.config import BenchConfig
from coreselect.bench.proxy import read_cache, write_npz
from coreselect.bench.store import ResultStore
from coreselect.errors import InputError

OPTIONS = {
    "k": "oracle queries (k-means centers) of the sensitivity method, default 100",
    "lam_factors": "comma-separated multiples of the automatic λ to sweep (inf: distance only)",
    "lam_size": "sample size of the λ sweep, default 1000",
    "train_rows": "rows used to train the proxy MLP (default: all)",
    "embedding": "label (default: [h | c·onehot(y)]) or plain (h only)",
}
METHODS = ("sensitivity", "uniform")
DEFAULT_METHODS = METHODS


def validate(config: BenchConfig) -> None:
    unknown = sorted(set(config.methods) - set(METHODS))
    if unknown:
        raise InputError(f"protocol estimate compares {', '.join(METHODS)}; got {', '.join(unknown)}")
    if not config.sizes:
        raise InputError("protocol estimate needs --sizes (sample sizes s)")
    _factors(config)
    if config.option("embedding", "label") not in ("label", "plain"):
        raise InputError(f"option embedding must be label or plain, got {config.option('embedding')!r}")
    for name in ("k", "lam_size", "train_rows"):
        value = config.option(name)
        if value is not None and (not value.isdigit() or int(value) < 1):
            raise InputError(f"option {name} must be a positive integer, got {value!r}")


def _factors(config: BenchConfig) -> list[float]:
    text = config.option("lam_factors", "")
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"option lam_factors must be comma-separated numbers or inf, got {text!r}") from None
    if any(not v >= 0 for v in values):
        raise InputError(f"option lam_factors must be ≥ 0, got {text!r}")
    return values


def proxy_embeddings(config: BenchConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(features (n, 128) float32, loss (n,) float64, labels (n,))` of a briefly trained MLP on the
    training set (cached in the output directory)."""
    out = Path(config.out)
    epochs = config.epochs or 1
    train_rows = config.option("train_rows")
    cache = out / f"estimate-proxy-{config.dataset}-e{epochs}-r{train_rows or 'all'}.npz"
    cached = read_cache(cache, ("features", "loss", "labels"))
    if cached is not None:
        return cached["features"], cached["loss"], cached["labels"]
    import torch
    from torch.nn import functional as F

    from coreselect.data import load_dataset
    from coreselect.train import TrainConfig, build_model, fit, predict

    ds = load_dataset(config.dataset, root=config.data_root)
    x = np.asarray(ds.x_train, dtype=np.float32)
    mu, sd = x.mean(), x.std() or 1.0
    x = (x - mu) / sd
    y = ds.y_train
    rows = np.arange(len(y))
    if train_rows is not None and int(train_rows) < len(y):
        rows = np.sort(np.random.default_rng(0).choice(len(y), int(train_rows), replace=False))
    model = build_model("mlp", (x.shape[1],), ds.num_classes, seed=0)
    fit(model, x[rows], y[rows], TrainConfig(epochs=epochs, optimizer="adam", lr=1e-3, batch_size=128,
                                            schedule="constant", weight_decay=0.0, device=config.device),
        progress=False)
    logits, feats = predict(model, x, device=config.device, return_features=True)
    loss = F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(y), reduction="none").double().numpy()
    write_npz(cache, {"features": feats.astype(np.float32), "loss": loss, "labels": y})
    return feats.astype(np.float32), loss, y


def embed(h: np.ndarray, y: np.ndarray, kind: str) -> np.ndarray:
    """``[h | c·onehot(y)]`` with ``c = 10 · max‖h‖`` (``kind="label"``), or h itself (``"plain"``)."""
    if kind == "plain":
        return h
    c = 10 * float(np.sqrt((h.astype(np.float64) ** 2).sum(axis=1).max()) or 1.0)
    onehot = np.zeros((h.shape[0], int(y.max()) + 1), dtype=np.float32)
    onehot[np.arange(h.shape[0]), y] = c
    return np.hstack([h, onehot])


def rel_error(subset, loss: np.ndarray) -> float:
    total = loss.sum()
    return float(abs(np.dot(subset.weights, loss[subset.indices]) - total) / total)


def run(config: BenchConfig, store: ResultStore) -> None:
    from coreselect import api
    from coreselect.methods.sensitivity import balanced_lambda, build_proxy, draw, probabilities
    from coreselect.oracle import Oracle

    h, loss, labels = proxy_embeddings(config)
    kind = config.option("embedding", "label")
    x = embed(h, labels, kind)
    n = x.shape[0]
    k = int(config.option("k", "100"))
    factors = _factors(config)
    lam_size = int(config.option("lam_size", "1000"))
    base = {"protocol": "estimate", "dataset": config.dataset, "k": k, "embedding": kind}
    for seed in range(config.seeds):
        if "uniform" in config.methods:
            for s in config.sizes:
                key = {**base, "method": "uniform", "budget": s, "seed": seed, "variant": ""}
                if store.done(key):
                    continue
                t0 = time.perf_counter()
                sub = api.select("uniform", features=x[:, :1], size=s, seed=seed)
                store.append(key, {"rel_error": rel_error(sub, loss), "n": n}, {"select": time.perf_counter() - t0})
        if "sensitivity" not in config.methods:
            continue
        keys = [({**base, "method": "sensitivity", "budget": s, "seed": seed, "variant": ""}, s, None)
                for s in config.sizes]
        keys += [({**base, "method": "sensitivity", "budget": lam_size, "seed": seed, "variant": f"lam×{f:g}"},
                  lam_size, f) for f in factors]
        todo = [item for item in keys if not store.done(item[0])]
        if not todo:
            continue
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        oracle = Oracle(loss, n)
        proxy = build_proxy(x, oracle, k, 2, rng)
        lam = balanced_lambda(proxy)
        cluster_time = time.perf_counter() - t0
        for key, s, factor in todo:
            t1 = time.perf_counter()
            if factor is None or np.isfinite(factor):
                p = probabilities(proxy, lam * (1.0 if factor is None else factor))
            else:
                p = proxy.v / proxy.v.sum()
            sub = draw(p, s, rng, n_queries=oracle.n_queries)
            metrics = {"rel_error": rel_error(sub, loss), "n": n, "lam": lam, "n_queries": oracle.n_queries,
                       "distinct": len(sub)}
            store.append(key, metrics, {"cluster": cluster_time, "sample": time.perf_counter() - t1})
