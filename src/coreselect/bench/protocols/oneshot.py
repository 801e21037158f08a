"""The one-shot protocol (METHODS.md, Protocols): select once from a proxy's signals, train a fresh model.

Per seed ``s``:

1. prepare the data (:mod:`coreselect.bench.datasets`: transforms seeded by ``data_seed``, default ``s``);
2. train the proxy (``--model``, ``proxy_epochs``, by default ``max(10, --epochs)``) on the whole
   training set with a :class:`~coreselect.signals.DynamicsRecorder`, as the BOSS and CCS evaluations
   do: EL2N over the first 10 epochs (``el2n_epochs``), penultimate features and logits from epoch 10
   (``feature_epoch``), AUM, aum_prob and forgetting over every epoch (timing ``signal``). It is cached in ``DIR/cache/`` so a resumed or
   extended bench reuses it;
3. the full-data reference (method ``full``, timing ``train_full``): when the proxy is trained exactly
   as the reference would be (``proxy_epochs`` equal to ``--epochs``), the proxy *is* the reference and
   is not trained twice; otherwise a separate model is trained;
4. for every method and budget: its features (:func:`embedding_kind`: penultimate features, or for
   methods with ``embedding = "gradients"`` the last-layer gradient embedding their ``gradient``
   parameter names — CRAIG's ``logits`` or ``full``, GradMatch's ``per_class_gradient``, ``full`` or
   ``logits``), every signal and the labels go to
   :func:`coreselect.api.run` with seed ``s`` (timing ``select``); a fresh model (initialised from
   seed ``s``) is trained on the subset with the subset's weights (timing ``train_subset``) and its
   test accuracy after the *final* epoch is recorded (never the best epoch). Methods needing inputs
   this protocol does not provide (regression targets, an oracle), or that refuse the budget, are
   recorded as skipped with the reason.

**Subset training budget** (``--option subset_budget``; METHODS.md, Protocols): a subset model must be
trained to convergence, or no method can be told apart from random.

- ``steps`` (default; the CCS convention of a fixed iteration budget): every subset model takes as many
  SGD steps as the full-data model, i.e. ``round(epochs · steps_per_epoch(n) / steps_per_epoch(m))``
  epochs on its m examples;
- ``epochs`` (the BOSS convention): as many epochs as the full-data model, which must itself be trained
  to convergence (choose ``--epochs`` accordingly);
- ``--option subset_epochs=K`` fixes K epochs instead.

**Deduplication first** (``--option dedup=F``; METHODS.md, More one-shot methods): SemDeDup with its
defaults keeps a fraction F of the training set (on the proxy's features, seed ``s``; timing ``dedup``)
and every method then selects its budget, still counted in the whole set, among the rows it kept
(:func:`coreselect.api.run_within`); the key records ``dedup``.

**Subset weights** (``--option subset_weights``): ``selected`` (default) trains every subset model with
the weights its method returned, normalised to mean 1 (the CRAIG official code's convention);
``uniform`` gives every chosen row weight 1, an ablation that separates a weighted method's choice of
rows from its weights (CRAIG's cluster-size weights reach 30–70 times the mean). The key records
``subset_weights`` when it is ``uniform``; ``subset_sha256`` still hashes the method's own weights.

Per-dataset defaults of model, epochs and learning rate are the table of :mod:`coreselect.bench.proxy`.

Metrics: ``test_accuracy`` and ``final_train_loss`` (the subset model's weighted training loss in its
last epoch); with label noise also ``noisy_fraction`` (share of the subset whose label was flipped).
Every record holds ``steps``, the SGD steps its model took, and its key the ``subset_budget``. Records also hold the subset's size and SHA-256 (indices and weights), so two runs can
be compared for identical subsets.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from coreselect import api
from coreselect.bench import datasets
from coreselect.bench.config import BenchConfig, option_choice, option_number
from coreselect.bench.proxy import (
    RECIPE_OPTIONS,
    SIGNALS,
    ProxyRun,
    Recipe,
    cache_name,
    defaults_for,
    train_proxy,
    train_subset,
)
from coreselect.bench.specs import MethodSpec, parse_methods
from coreselect.bench.store import ResultStore
from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.pool import Pool
from coreselect.subset import Subset

log = logging.getLogger("coreselect.bench")

OPTIONS: dict[str, str] = {
    "augment": "random crop + flip for image models (true/false, default false)",
    "proxy_epochs": "epochs of the signal proxy (default: max(10, --epochs))",
    "el2n_epochs": "epochs EL2N averages over (default: min(10, proxy epochs))",
    "feature_epoch": "proxy epoch whose features and logits the methods see (default: min(10, proxy epochs))",
    "subset_budget": "steps (default: as many SGD steps as full training) or epochs (as many epochs)",
    "subset_epochs": "a fixed number of subset-training epochs instead of subset_budget",
    "dedup": "SemDeDup first (defaults, the proxy's features) keeps this fraction of the training set; every "
             "method then selects among the rows it kept",
    "subset_weights": "selected (default: train with the method's weights) or uniform (weight 1 on every chosen "
                      "row: separates a weighted method's rows from its weights)",
    **RECIPE_OPTIONS,
    **datasets.DATA_OPTIONS,
}

SUBSET_BUDGETS = ("steps", "epochs")
SUBSET_WEIGHTS = ("selected", "uniform")

#: Inputs a method may need that this protocol never provides.
_NOT_PROVIDED = {"targets": "regression targets", "oracle": "a loss oracle"}


def _flag(text: str, key: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise InputError(f"--option {key}={text!r}: expected true or false")


@dataclass(frozen=True)
class Settings:
    """The parsed options of one oneshot bench."""

    transforms: datasets.Transforms
    lr: float | None = None
    batch_size: int | None = None
    augment: bool = False
    width: int | None = None
    proxy_epochs: int | None = None
    el2n_epochs: int | None = None
    feature_epoch: int | None = None
    subset_budget: str = "steps"
    subset_epochs: int | None = None
    dedup: float | None = None
    subset_weights: str = "selected"

    @classmethod
    def parse(cls, config: BenchConfig) -> Settings:
        o = config.options
        settings = cls(
            transforms=datasets.Transforms.from_options(o),
            lr=option_number(o, "lr", float, low=0, above=True),
            batch_size=option_number(o, "batch_size", int, low=0, above=True),
            augment=_flag(o.get("augment", "false"), "augment"),
            width=option_number(o, "width", int, low=0, above=True),
            proxy_epochs=option_number(o, "proxy_epochs", int, low=0, above=True),
            el2n_epochs=option_number(o, "el2n_epochs", int, low=0, above=True),
            feature_epoch=option_number(o, "feature_epoch", int, low=0, above=True),
            subset_budget=option_choice(o, "subset_budget", SUBSET_BUDGETS),
            subset_epochs=option_number(o, "subset_epochs", int, low=0, above=True),
            dedup=option_number(o, "dedup", float, low=0, above=True),
            subset_weights=option_choice(o, "subset_weights", SUBSET_WEIGHTS),
        )
        if settings.dedup is not None and not settings.dedup < 1:
            raise InputError(f"--option dedup={settings.dedup}: the fraction SemDeDup keeps must be in (0, 1)")
        if settings.subset_epochs is not None and "subset_budget" in o:
            raise InputError("give --option subset_epochs or subset_budget, not both")
        return settings

    def budget_label(self) -> str:
        """The subset-training convention as recorded in every key: steps, epochs or epochs=K."""
        return self.subset_budget if self.subset_epochs is None else f"epochs={self.subset_epochs}"

    def recipe(self, data: datasets.BenchData, config: BenchConfig) -> Recipe:
        d = defaults_for(data)
        return Recipe(
            model=config.model or d.model, epochs=config.epochs or d.epochs, lr=self.lr or d.lr,
            batch_size=self.batch_size or d.batch_size, augment=self.augment, width=self.width,
            device=config.device,
        )


def validate(config: BenchConfig) -> None:
    """Option values (the runner has checked the option names)."""
    Settings.parse(config)


def _budgets(config: BenchConfig) -> list[tuple[str, float | int]]:
    return [("fraction", float(f)) for f in config.fractions] + [("size", int(s)) for s in config.sizes]


def embedding_kind(method: Any) -> str:
    """The features `method` selects on: ``"features"`` (penultimate), or for a method with ``embedding =
    "gradients"`` the gradient embedding its ``gradient`` parameter names
    (:data:`coreselect.geometry.gradients.GRADIENT_KINDS`; ``"full"`` when it has no such parameter)."""
    if method.embedding == "features":
        return "features"
    if method.embedding == "gradients":
        return str(getattr(method, "gradient", "full"))
    raise InputError(f"method {method.name!r}: unknown embedding {method.embedding!r} (features or gradients)")


def embed(kind: str, logits: np.ndarray, labels: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The rows of kind `kind` (:func:`embedding_kind`) from a model's logits and penultimate features."""
    if kind == "features":
        return features
    from coreselect.geometry.gradients import gradient_embedding

    return gradient_embedding(kind, logits, labels, features)


def subset_digest(subset: Subset) -> str:
    """SHA-256 of the subset's indices and weights: equal digests ⇔ identical subsets."""
    h = hashlib.sha256(np.ascontiguousarray(subset.indices).tobytes())
    h.update(np.ascontiguousarray(subset.weights).tobytes())
    return h.hexdigest()


class _Seed:
    """One seed's prepared data, recipe, proxy and pools (built on first use)."""

    def __init__(self, config: BenchConfig, settings: Settings, store: ResultStore, data: datasets.BenchData,
                 seed: int):
        self.config, self.settings, self.store, self.data, self.seed = config, settings, store, data, seed
        self.recipe = settings.recipe(data, config)
        proxy_epochs = settings.proxy_epochs or max(10, self.recipe.epochs)
        self.proxy_recipe = Recipe(**{**asdict(self.recipe), "epochs": proxy_epochs})
        self.common = {
            "protocol": "oneshot", "dataset": data.name, "model": self.recipe.model, "epochs": self.recipe.epochs,
            "proxy_epochs": proxy_epochs, "subset_budget": settings.budget_label(), "lr": self.recipe.lr,
            "batch_size": self.recipe.batch_size, "augment": self.recipe.augment, "transform": data.transform,
            "data_seed": data.data_seed, "seed": seed,
            **({"width": self.recipe.width} if self.recipe.width else {}),
            **({"dedup": settings.dedup} if settings.dedup is not None else {}),
            **({"subset_weights": settings.subset_weights} if settings.subset_weights != "selected" else {}),
        }
        self._proxy: ProxyRun | None = None
        self._pools: dict[str, Pool] = {}
        self._kept: Subset | None = None

    def key(self, method: str, kind: str, budget: float) -> dict[str, Any]:
        return {**self.common, "method": method, "budget": budget, "budget_kind": kind}

    @property
    def proxy(self) -> ProxyRun:
        if self._proxy is None:
            from coreselect.train import resolve_device

            fields = {k: v for k, v in self.common.items()
                      if k not in ("subset_budget", "protocol", "dedup", "subset_weights")}
            fields.update(proxy=asdict(self.proxy_recipe), el2n_epochs=self.settings.el2n_epochs,
                          feature_epoch=self.settings.feature_epoch, device=resolve_device(self.recipe.device).type,
                          signals=SIGNALS)
            path = self.store.dir / "cache" / cache_name(fields)
            self._proxy = ProxyRun.load_cached(path)
            if self._proxy is not None:
                log.info("seed %d: proxy loaded from %s", self.seed, path.name)
            else:
                log.info("seed %d: training the proxy (%s, %d epochs, n=%d)", self.seed, self.proxy_recipe.model,
                         self.proxy_recipe.epochs, self.data.n)
                self._proxy = train_proxy(self.data, self.proxy_recipe, self.seed, self.settings.el2n_epochs,
                                          self.settings.feature_epoch)
                path.parent.mkdir(exist_ok=True)
                self._proxy.save(path)
                log.info("seed %d: proxy test accuracy %.4f (%.1f s)", self.seed, self._proxy.test_accuracy,
                         self._proxy.seconds)
        return self._proxy

    def pool(self, kind: str) -> Pool:
        """The pool a method sees: labels, every signal, and features of kind `kind` (:func:`embedding_kind`)."""
        if kind not in self._pools:
            p = self.proxy
            features = embed(kind, p.logits, self.data.y_train, p.features)
            self._pools[kind] = Pool.build(features, labels=self.data.y_train, signals=p.signals)
        return self._pools[kind]

    @property
    def kept(self) -> Subset:
        """The rows SemDeDup keeps (``--option dedup``; default parameters, the proxy's features, this seed)."""
        if self._kept is None:
            from coreselect import registry

            pool = self.pool("features")
            self._kept = api.run(registry.make("semdedup", {}), pool,
                                 Budget.from_request(pool.n, fraction=self.settings.dedup), self.seed)
            log.info("seed %d: semdedup kept %d of %d rows (%.1f s)", self.seed, len(self._kept), pool.n,
                     self._kept.timings["select"])
        return self._kept

    def run_full(self) -> None:
        key = self.key("full", "fraction", 1.0)
        if self.store.done(key):
            return
        from coreselect.train import steps_per_epoch

        p = self.proxy
        steps = self.recipe.epochs * steps_per_epoch(self.data.n, self.recipe.batch_size)
        if self.proxy_recipe == self.recipe:
            acc, seconds, loss = p.test_accuracy, p.seconds, p.train_loss
            metrics = {"test_accuracy": acc, "final_train_loss": loss}
        else:
            full = train_subset(self.data, self.recipe, self.seed)
            acc, seconds = full.accuracy, full.seconds
            metrics = {"test_accuracy": acc, "final_train_loss": full.train_loss, "proxy_test_accuracy": p.test_accuracy}
        self.store.append(key, metrics, {"signal": p.seconds, "train_full": seconds}, size=self.data.n, steps=steps)
        log.info("seed %d: full data: test accuracy %.4f (%.1f s)", self.seed, acc, seconds)

    def subset_epochs(self, m: int) -> int:
        """Epochs of a subset model on m examples under the bench's subset-training budget."""
        from coreselect.train import steps_per_epoch

        if self.settings.subset_epochs is not None:
            return self.settings.subset_epochs
        if self.settings.subset_budget == "epochs":
            return self.recipe.epochs
        full = self.recipe.epochs * steps_per_epoch(self.data.n, self.recipe.batch_size)
        return max(1, round(full / steps_per_epoch(m, self.recipe.batch_size)))

    def run_method(self, spec: MethodSpec, kind: str, budget: float) -> None:
        key = self.key(spec.label, kind, budget)
        if self.store.done(key):
            return
        method = spec.make()
        lacking = sorted(_NOT_PROVIDED[x] for x in method.requires() if x in _NOT_PROVIDED)
        if lacking:
            reason = f"needs {' and '.join(lacking)}, which the oneshot protocol does not provide"
            self.store.append(key, {}, {}, skipped=reason)
            log.info("seed %d: %s skipped: %s", self.seed, spec.label, reason)
            return
        pool = self.pool(embedding_kind(method))
        try:
            budget_obj = Budget.from_request(pool.n, **{kind: budget})
            if self.settings.dedup is None:
                subset = api.run(method, pool, budget_obj, self.seed)
            else:
                subset = api.run_within(method, pool, budget_obj, self.seed, self.kept)
        except InputError as exc:
            self.store.append(key, {}, {}, skipped=str(exc))
            log.info("seed %d: %s at %s skipped: %s", self.seed, spec.label, budget, exc)
            return
        m = len(subset)
        weights = subset.weights if self.settings.subset_weights == "selected" else np.ones(m)
        trained = train_subset(self.data, self.recipe, self.seed, subset.indices, weights, self.subset_epochs(m))
        metrics = {"test_accuracy": trained.accuracy, "final_train_loss": trained.train_loss}
        if self.data.noisy is not None:
            metrics["noisy_fraction"] = float(self.data.noisy[subset.indices].mean())
        timings = {"select": subset.timings["select"], "signal": self.proxy.seconds, "train_subset": trained.seconds,
                   **({"dedup": self.kept.timings["select"]} if self.settings.dedup is not None else {})}
        self.store.append(key, metrics, timings, size=m, steps=trained.steps, subset_sha256=subset_digest(subset),
                          n_queries=subset.n_queries, params=subset.params)
        log.info("seed %d: %s at %s (m=%d, %d steps): test accuracy %.4f (select %.2f s, train %.1f s)", self.seed,
                 spec.label, budget, m, trained.steps, trained.accuracy, timings["select"], trained.seconds)


def run(config: BenchConfig, store: ResultStore) -> None:
    """Run every (seed, method, budget) not yet in `store`, appending each as it finishes."""
    settings = Settings.parse(config)
    specs = parse_methods(config.methods)
    budgets = _budgets(config)
    dataset = datasets.load(config.dataset, config.data_root)
    for seed in range(config.seeds):
        data = datasets.prepare(dataset, settings.transforms, seed)
        state = _Seed(config, settings, store, data, seed)
        if seed == 0:  # checks that need the prepared data, before any training
            state.recipe.check(data)
            state.proxy_recipe.check(data)
            for name in ("el2n_epochs", "feature_epoch"):
                if (getattr(settings, name) or 0) > state.proxy_recipe.epochs:
                    raise InputError(f"{name} must be in [1, {state.proxy_recipe.epochs}] (the proxy's epochs), "
                                     f"got {getattr(settings, name)}")
            too_big = [s for kind, s in budgets if kind == "size" and s > data.n]
            if too_big:
                raise InputError(f"sizes {too_big} exceed the {data.n} training examples")
        keys = [state.key("full", "fraction", 1.0)] + [state.key(s.label, k, b) for s in specs for k, b in budgets]
        if all(store.done(k) for k in keys):
            continue
        state.run_full()
        for spec in specs:
            for kind, budget in budgets:
                state.run_method(spec, kind, budget)
