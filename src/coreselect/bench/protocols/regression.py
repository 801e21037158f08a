"""Protocol ``regression``: ``1 − R²`` of least squares fitted on a weighted row sample (arXiv 2402.17327,
Section 5.1 and Figure 1: Algorithm 2 vs uniform vs leverage-score sampling).

Data: a regression dataset (``gas-sensor``: 128 sensor features → gas concentration; the loader's seeded
80/20 train/validation split). Features are standardised with training statistics and an intercept
column is appended: ``A = [X̃ | 1]``. For every method, size s and seed, the method draws a weighted sample
of the training rows, the weighted least squares on the sample gives x̂, and the run records
``train_1mr2`` and ``val_1mr2`` (``1 − R²`` of x̂ on the whole training and validation sets) and the
selection time. Methods: any registered method that returns weights — ``uniform``, ``leverage``,
``regression-sensitivity`` (parameters as ``regression-sensitivity:zeta=10,medoid_share=0.25``). The
budget s is the label budget: regression-sensitivity spends it on k medoids plus s − k draws.

Leverage scores are computed once (they are deterministic) and every s is drawn from them; the recorded
``select`` time is that preparation plus the draw, i.e. what one selection at that s costs. The other
methods run through the front door per (s, seed).
Key: protocol, dataset, method (label), budget (= s), seed.
"""

from __future__ import annotations

import time

import numpy as np

from coreselect.bench.config import BenchConfig
from coreselect.bench.specs import parse_methods
from coreselect.bench.store import ResultStore
from coreselect.errors import InputError

OPTIONS: dict[str, str] = {}


def validate(config: BenchConfig) -> None:
    if not config.sizes:
        raise InputError("protocol regression needs --sizes (sample sizes)")


def design(x_train: np.ndarray, x_val: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardised features (training statistics) with an intercept column, float32."""
    mu, sd = x_train.mean(axis=0), x_train.std(axis=0)
    sd[sd == 0] = 1
    ones = np.ones((1, 1), dtype=np.float32)
    return tuple(np.hstack([((x - mu) / sd).astype(np.float32), np.repeat(ones, x.shape[0], axis=0)])
                 for x in (x_train, x_val))  # type: ignore[return-value]


def one_minus_r2(a: np.ndarray, b: np.ndarray, coef: np.ndarray) -> float:
    resid = b - a.astype(np.float64) @ coef
    return float((resid @ resid) / np.sum((b - b.mean()) ** 2))


def run(config: BenchConfig, store: ResultStore) -> None:
    from coreselect import api
    from coreselect.budget import Budget
    from coreselect.data import load_dataset
    from coreselect.geometry.sensitivities import leverage_scores
    from coreselect.methods.regression import sample_scores, weighted_lstsq
    from coreselect.pool import Pool

    ds = load_dataset(config.dataset, root=config.data_root)
    if ds.task != "regression":
        raise InputError(f"protocol regression needs a regression dataset; {config.dataset} is {ds.task}")
    a, a_val = design(np.asarray(ds.x_train), np.asarray(ds.x_test))
    b, b_val = ds.y_train, ds.y_test
    n = a.shape[0]
    pool = Pool.build(a, targets=b)
    lev_cache: tuple[np.ndarray, float] | None = None
    for spec in parse_methods(config.methods):
        for seed in range(config.seeds):
            keys = {s: {"protocol": "regression", "dataset": config.dataset, "method": spec.label,
                        "budget": s, "seed": seed} for s in config.sizes}
            todo = [s for s in config.sizes if not store.done(keys[s])]
            if not todo:
                continue
            rng = np.random.default_rng(seed)
            prep = 0.0
            scores = None
            if spec.name == "leverage":
                if lev_cache is None:
                    t0 = time.perf_counter()
                    lev_cache = (leverage_scores(a), time.perf_counter() - t0)
                scores, prep = lev_cache
            for s in todo:
                t1 = time.perf_counter()
                if scores is not None:
                    sub = sample_scores(scores, s, rng)
                else:
                    sub = api.run(spec.make(), pool, Budget.from_request(n, size=s), seed)
                select_time = prep + time.perf_counter() - t1
                coef = weighted_lstsq(a, b, sub)
                metrics = {"train_1mr2": one_minus_r2(a, b, coef), "val_1mr2": one_minus_r2(a_val, b_val, coef),
                           "distinct": len(sub)}
                store.append(keys[s], metrics, {"select": select_time})
