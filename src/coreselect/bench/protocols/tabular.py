"""`tabular` protocol: scikit-learn / XGBoost classifiers on coresets — full vs uniform vs vanilla vs tuned.

METHODS.md, Protocols: "tabular"; the paper is arXiv 2507.16729 (tuned coresets). For each estimator
and seed: optionally thin the positive class of train and test to a given share (``imbalance``), carve a
stratified validation split from the training set (the test set is never used for tuning), then for
each fraction of the remaining training set train and test-score

* every ``--methods`` spec (registered methods that need at most labels): ``uniform`` is the random
  baseline, ``coreset-vanilla`` the paper's vanilla coreset (d = 0, proportional, ``inv``), ``coreset``
  the library's defaults, ``coreset:deterministic=1:weighting=keep`` any fixed variant;
* the arms of option ``arms`` (default all three): ``full`` (every training example; budget recorded
  as 1.0), ``tuned`` (:func:`coreselect.tuning.tune` on the validation split at that size) and
  ``tuned+active`` (:func:`coreselect.tuning.refine` started from the tuned coreset).

Example: ``coreselect bench --protocol tabular --dataset a9a --methods uniform,coreset-vanilla,coreset
--fractions 0.005,0.01,0.02,0.05 --seeds 5 --option imbalance=0.02 --option estimator=logreg --out DIR``.
Metrics: test ``f1`` (of the rarer class; macro-F1 with more classes) and ``balanced_accuracy``,
``val_f1``, ``n_selected``, ``n_positive``; timings: ``select``, ``tune``, ``refine``, ``train_subset``,
``train_full``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import coreselect
from coreselect.bench.config import BenchConfig
from coreselect.bench.specs import MethodSpec, parse_methods
from coreselect.bench.store import ResultStore
from coreselect.errors import InputError
from coreselect.progress import progress
from coreselect.subset import Subset
from coreselect.tuning.active import refine
from coreselect.tuning.estimators import ESTIMATORS, fit_weighted, positive_label, resolve, scores
from coreselect.tuning.grid import tune
from coreselect.tuning.imbalance import keep_fraction_for_share, make_imbalanced
from coreselect.tuning.split import stratified_split

ARMS = ("full", "tuned", "tuned+active")
OPTIONS: dict[str, str] = {
    "estimator": "comma list of logreg, linsvm, xgboost (default logreg)",
    "arms": "comma list of full, tuned, tuned+active, or none (default: all three)",
    "imbalance": "thin the positive class of train and test to this share, e.g. 0.02 (default: as is)",
    "positive": "the label thinned by imbalance (default 1)",
    "val": "validation fraction carved from the training set (default 0.2)",
    "grid": "default (27 coresets per size) or small (d in {0, 1} x {proportional, balanced} x {keep, inv})",
    "sensitivity": "sensitivity of the tuned coresets: unified, leverage or lewis (default unified)",
    "batch": "active refinement: examples added per round (default 10% of the coreset)",
    "patience": "active refinement: rounds without validation gain before stopping (default 3)",
    "max_rounds": "active refinement: most rounds (default 10)",
}
SMALL_GRID = {"deterministic": (0.0, 1.0), "allocation": ("proportional", "balanced"), "weighting": ("keep", "inv")}


def _options(config: BenchConfig) -> dict[str, Any]:
    unknown = set(config.options) - set(OPTIONS)
    if unknown:
        raise InputError(f"tabular protocol has no option {sorted(unknown)}; options: {sorted(OPTIONS)}")
    arms = config.option("arms", ",".join(ARMS))
    try:
        opts = {
            "arms": () if arms == "none" else tuple(a.strip() for a in arms.split(",") if a.strip()),
            "estimators": tuple(e.strip() for e in config.option("estimator", "logreg").split(",") if e.strip()),
            "imbalance": None if config.option("imbalance") in (None, "", "none") else float(config.option("imbalance")),
            "positive": int(config.option("positive", "1")),
            "val": float(config.option("val", "0.2")),
            "grid": config.option("grid", "default"),
            "sensitivity": config.option("sensitivity", "unified"),
            "batch": None if config.option("batch") is None else int(config.option("batch")),
            "patience": int(config.option("patience", "3")),
            "max_rounds": int(config.option("max_rounds", "10")),
        }
    except ValueError as exc:
        raise InputError(f"tabular protocol option: {exc}") from None
    bad = [e for e in opts["estimators"] if e not in ESTIMATORS]
    if bad or not opts["estimators"]:
        raise InputError(f"estimator must be among {ESTIMATORS}, got {bad or '(none)'}")
    if bad_arms := [a for a in opts["arms"] if a not in ARMS]:
        raise InputError(f"arms must be among {ARMS} (or none), got {bad_arms}")
    if opts["grid"] not in ("default", "small"):
        raise InputError(f"grid must be 'default' or 'small', got {opts['grid']!r}")
    if not 0 < opts["val"] < 1:
        raise InputError(f"val must be a fraction in (0, 1), got {opts['val']}")
    return opts


def _variant(opts: dict[str, Any]) -> str:
    return "original" if opts["imbalance"] is None else f"pos{opts['imbalance']:g}"


def validate(config: BenchConfig) -> list[MethodSpec]:
    """Check options, methods and budgets before any data is read; returns the method specs."""
    _options(config)
    specs = parse_methods(config.methods) if config.methods else []
    for spec in specs:
        extra = spec.make().requires() - {"labels"}
        if extra:
            raise InputError(f"the tabular protocol gives methods features and labels only; {spec.label!r} "
                             f"needs {sorted(extra)}")
    if config.sizes:
        raise InputError("the tabular protocol takes --fractions (of the training split), not --sizes")
    return specs


def _evaluate(store: ResultStore, key: dict[str, Any], est: Any, train: tuple[Any, np.ndarray],
              test: tuple[Any, np.ndarray], positive: int | None, subset: Subset | None,
              timings: dict[str, float], **extra: Any) -> None:
    """Fit on the subset (all of `train` when None), score on `test`, append one record."""
    x_tr, y_tr = train
    t0 = time.perf_counter()
    if subset is None:
        model = fit_weighted(est, x_tr, y_tr, np.ones(y_tr.size))
        timings = {**timings, "train_full": time.perf_counter() - t0}
        chosen = y_tr
    else:
        model = fit_weighted(est, x_tr[subset.indices], y_tr[subset.indices], subset.weights)
        timings = {**timings, "train_subset": time.perf_counter() - t0}
        chosen = y_tr[subset.indices]
    xt, yt = test
    metrics = {**scores(yt, model.predict(xt), positive), "n_selected": int(chosen.size),
               "n_positive": int((chosen == positive).sum()) if positive is not None else 0, **extra}
    store.append(key, metrics, timings, n_train=int(y_tr.size), n_test=int(yt.size))


def run(config: BenchConfig, store: ResultStore) -> None:
    """Run every (estimator, seed, fraction, method or arm) not yet in `store` (module docstring)."""
    specs = validate(config)
    opts = _options(config)
    arms = opts["arms"]
    fractions = tuple(config.fractions)
    from coreselect.data import load_dataset

    data = load_dataset(config.dataset, root=config.data_root)
    if data.task != "classification":
        raise InputError(f"dataset {config.dataset!r} is not a classification dataset")
    grid = SMALL_GRID if opts["grid"] == "small" else None
    base = {"protocol": "tabular", "dataset": config.dataset, "variant": _variant(opts)}
    jobs = [(e, s) for e in opts["estimators"] for s in range(config.seeds)]
    for est_name, seed in progress(jobs, total=len(jobs), desc="tabular"):
        names = [spec.label for spec in specs] + list(arms)
        keys = {(a, f): {**base, "model": est_name, "method": a, "budget": 1.0 if a == "full" else f, "seed": seed}
                for a in names for f in (fractions if a != "full" else (1.0,))}
        if all(store.done(k) for k in keys.values()):
            continue
        x, y, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
        if opts["imbalance"] is not None:
            share, pos = opts["imbalance"], opts["positive"]
            x, y, _ = make_imbalanced(x, y, keep_fraction_for_share(y, share, pos), pos, seed=seed)
            xt, yt, _ = make_imbalanced(xt, yt, keep_fraction_for_share(yt, share, pos), pos, seed=seed + 10_000)
        tr, va = stratified_split(y, opts["val"], seed)
        x_tr, y_tr, x_va, y_va = x[tr], y[tr], x[va], y[va]
        positive = positive_label(y_tr) if np.unique(y_tr).size == 2 else None
        est = resolve(est_name, seed)
        train, test = (x_tr, y_tr), (xt, yt)

        if ("full", 1.0) in keys and not store.done(keys["full", 1.0]):
            _evaluate(store, keys["full", 1.0], est, train, test, positive, None, {})
        for f in fractions:
            m = max(1, round(f * y_tr.size))
            for spec in specs:
                if not store.done(keys[spec.label, f]):
                    t0 = time.perf_counter()
                    labels = y_tr if "labels" in spec.make().uses() else None  # no warning for unused labels
                    sub = coreselect.select(spec.name, features=x_tr, labels=labels, size=m, seed=seed, **spec.params)
                    _evaluate(store, keys[spec.label, f], est, train, test, positive, sub,
                              {"select": time.perf_counter() - t0})
            todo = [a for a in ("tuned", "tuned+active") if (a, f) in keys and not store.done(keys[a, f])]
            if not todo:
                continue
            g = dict(grid or {})
            g.setdefault("sensitivity", (opts["sensitivity"],))
            tuned = tune(x_tr, y_tr, x_va, y_va, est, sizes=(m,), grid=g, seed=seed)
            row = tuned.best_rows[m]
            best_params = {"val_f1": row["f1"], "deterministic": row["deterministic"]}
            if "tuned" in todo:
                _evaluate(store, keys["tuned", f], est, train, test, positive, tuned.best, {"tune": tuned.seconds},
                          **best_params)
            if "tuned+active" in todo:
                active = refine(tuned.best, x_tr, y_tr, x_va, y_va, est, batch=opts["batch"],
                                patience=opts["patience"], max_rounds=opts["max_rounds"], seed=seed)
                _evaluate(store, keys["tuned+active", f], est, train, test, positive, active.best,
                          {"tune": tuned.seconds, "refine": active.seconds},
                          val_f1=active.path[active.best_round]["f1"], active_rounds=active.best_round)
