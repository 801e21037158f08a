"""The dynamic protocol (METHODS.md, In the training loop): full-data training against every policy of
:class:`~coreselect.train.DynamicSampler`, at matched compute.

Per seed ``s`` (data prepared by :mod:`coreselect.bench.datasets`, so ``noise=``, ``imbalance=`` and
``train_size=`` apply), a fresh model (``--model``, ``--epochs``, learning rate and batch size of the
per-dataset table of :mod:`coreselect.bench.proxy`; initialised from ``s``) is trained once per arm by
the same loop, the sampler's (seed ``s``):

- ``full``: every example every epoch (the reference);
- ``infobatch`` (Qin et al. 2024): soft pruning of below-mean-loss examples with ``prune_ratio`` r and
  ``delta`` δ (our δ: the share of final full epochs). Its key's budget is 1.0 (it chooses its own size);
- ``random@infobatch``: per-epoch uniform random at InfoBatch's compute — its per-epoch size is the mean
  number of examples InfoBatch saw per epoch (run when both ``infobatch`` and ``random`` are asked for);
- ``random``: per-epoch uniform random at every ``--fractions``/``--sizes`` budget;
- ``reselect:<method>``: every ``--methods`` spec (default craig and gradmatch) re-selecting at every
  budget every ``every`` epochs (R) from the current model's embeddings — for CRAIG (Mirzasoleiman et al.
  2020) and GradMatch (Killamsetty et al. 2021) the last-layer gradient embedding their ``gradient``
  parameter names (:func:`~coreselect.bench.protocols.oneshot.embedding_kind`) — trained with the subset's
  weights in between. Default R: ``max(1, round(epochs / 15))``, as often relative to the run as CORDS's
  20 of 300 epochs.

The loop (:func:`train_dynamic`) is the sampler's contract (``set_epoch``, ``observe``, loss ×
``weights``) around the optimiser of :func:`coreselect.train.fit` (SGD, momentum 0.9, weight decay
5e-4, cosine to 0 over fractional epochs, torch threads as ``fit`` chooses them: one on a machine with
at most 2 cores); ``fit`` itself takes no sampler. Each record holds ``test_accuracy`` after the final
epoch, ``final_train_loss`` (its weighted mean), the ratios to the seed's full run — ``accuracy_change``
(difference), ``speedup`` (full wall time / this wall time) and ``compute_saved`` (1 − examples seen /
full's) — the ``steps`` and ``examples`` it trained on, and timings ``total`` (every epoch, selection
included), ``select`` (inside ``set_epoch``: the policy, and for reselect the embedding pass and the
method) and ``train`` (the rest). The final test evaluation is in none of them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coreselect import threads
from coreselect.bench import datasets
from coreselect.bench.config import BenchConfig, option_number
from coreselect.bench.protocols.oneshot import embed, embedding_kind
from coreselect.bench.proxy import RECIPE_OPTIONS, Recipe, defaults_for
from coreselect.bench.specs import MethodSpec, parse_methods
from coreselect.bench.store import ResultStore, run_key
from coreselect.errors import InputError

log = logging.getLogger("coreselect.bench")

ARMS = ("full", "infobatch", "random", "reselect")
#: The re-selecting methods when ``--methods`` is not given (METHODS.md: adaptive CRAIG and GradMatch).
DEFAULT_METHODS = ("craig", "gradmatch")

OPTIONS: dict[str, str] = {
    "arms": f"comma-separated arms to run besides full (default {','.join(ARMS[1:])})",
    "prune_ratio": "InfoBatch's r: share of below-mean-loss examples pruned per epoch (default 0.5)",
    "delta": "InfoBatch's δ: share of final full-data epochs (default 0.125)",
    "every": "reselect every R epochs (default max(1, round(epochs / 15)))",
    **RECIPE_OPTIONS,
    **datasets.DATA_OPTIONS,
}


@dataclass(frozen=True)
class Settings:
    """The parsed options of one dynamic bench."""

    transforms: datasets.Transforms
    arms: tuple[str, ...]
    prune_ratio: float
    delta: float
    every: int | None
    lr: float | None
    batch_size: int | None
    width: int | None

    @classmethod
    def parse(cls, config: BenchConfig) -> Settings:
        o = config.options
        arms = tuple(a.strip() for a in o.get("arms", ",".join(ARMS[1:])).split(",") if a.strip())
        unknown = sorted(set(arms) - set(ARMS))
        if unknown or not arms:
            raise InputError(f"--option arms: unknown arm(s) {', '.join(unknown) or '(none given)'}; "
                             f"choose from {', '.join(ARMS)}")
        delta = option_number(o, "delta", float, 0.125, low=0)
        if delta > 1:
            raise InputError(f"--option delta={o['delta']!r}: must be in [0, 1]")
        return cls(
            transforms=datasets.Transforms.from_options(o),
            arms=tuple(a for a in ARMS if a in arms),
            prune_ratio=option_number(o, "prune_ratio", float, 0.5, low=0, high=1),
            delta=delta,
            every=option_number(o, "every", int, low=0, above=True),
            lr=option_number(o, "lr", float, low=0, above=True),
            batch_size=option_number(o, "batch_size", int, low=0, above=True),
            width=option_number(o, "width", int, low=0, above=True),
        )

    def recipe(self, data: datasets.BenchData, config: BenchConfig) -> Recipe:
        d = defaults_for(data)
        return Recipe(model=config.model or d.model, epochs=config.epochs or d.epochs, lr=self.lr or d.lr,
                      batch_size=self.batch_size or d.batch_size, width=self.width, device=config.device)

    def every_for(self, epochs: int) -> int:
        return self.every or max(1, round(epochs / 15))


def _reselect_specs(config: BenchConfig, settings: Settings) -> list[MethodSpec]:
    """The ``--methods`` specs, when the reselect arm runs; a method needing more than labels and the
    current model's embeddings is an InputError."""
    if "reselect" not in settings.arms:
        return []
    specs = parse_methods(config.methods)
    for spec in specs:
        lacking = sorted(spec.make().requires() - {"labels"})
        if lacking:
            raise InputError(f"method {spec.label!r} needs {', '.join(lacking)}; the dynamic protocol gives a "
                             "re-selecting method only the labels and the current model's embeddings")
    return specs


def validate(config: BenchConfig) -> None:
    """Option values and the re-selecting methods (the runner has checked the option names)."""
    _reselect_specs(config, Settings.parse(config))


@dataclass(frozen=True)
class DynamicRun:
    """One model trained by :func:`train_dynamic`: final-epoch test accuracy and weighted training loss,
    SGD steps and examples seen over all epochs, seconds in all (``total``) and inside ``set_epoch``."""

    accuracy: float
    train_loss: float
    steps: int
    examples: int
    total: float
    select: float


def _batches(order: Any, size: int) -> list[Any]:
    """`order` in consecutive batches of `size`; a last batch of one joins the previous one (BatchNorm
    cannot train on a single example), as :func:`coreselect.train.fit` does."""
    starts = list(range(0, len(order), size))
    if len(starts) > 1 and len(order) - starts[-1] == 1:
        starts.pop()
    return [order[s:e] for s, e in zip(starts, [*starts[1:], len(order)])]


def train_dynamic(data: datasets.BenchData, recipe: Recipe, seed: int, make_sampler: Callable[[Any], Any]) -> DynamicRun:
    """Train a fresh model (initialised from `seed`) for ``recipe.epochs`` epochs on the examples the
    sampler ``make_sampler(model)`` yields, each loss multiplied by the sampler's weight."""
    import torch
    from torch.nn import functional as F

    from coreselect.train import accuracy, resolve_device

    config = recipe.config(seed)
    device = resolve_device(recipe.device)
    model = recipe.build(data, seed).to(device)
    x = torch.as_tensor(recipe.inputs(data, data.x_train), device=device)
    y = torch.as_tensor(data.y_train, device=device)
    sampler = make_sampler(model)
    opt = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum,
                          weight_decay=config.weight_decay)
    steps = examples = 0
    total_loss = select = 0.0
    forked = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with threads.limit(threads.default_threads()), torch.random.fork_rng(devices=forked):
        torch.manual_seed(seed)
        start = time.perf_counter()
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            select += time.perf_counter() - t0
            batches = _batches(torch.as_tensor(list(sampler), device=device), config.batch_size)
            model.train()
            total_loss = 0.0
            for i, idx in enumerate(batches):
                for group in opt.param_groups:
                    group["lr"] = config.learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch + i / len(batches))
                                                                             / config.epochs))
                ce = F.cross_entropy(model(x[idx]), y[idx], reduction="none")
                sampler.observe(idx, ce)
                loss = (sampler.weights(idx) * ce).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total_loss += float(loss.detach()) * idx.numel()
            steps += len(batches)
            examples += len(sampler)
        seconds = time.perf_counter() - start
    acc = accuracy(model, recipe.inputs(data, data.x_test), data.y_test, device=device)
    return DynamicRun(acc, total_loss / len(sampler), steps, examples, seconds, select)


class _Seed:
    """One seed's prepared data, recipe and full-data reference."""

    def __init__(self, config: BenchConfig, settings: Settings, store: ResultStore, data: datasets.BenchData,
                 seed: int):
        self.config, self.settings, self.store, self.data, self.seed = config, settings, store, data, seed
        self.recipe = settings.recipe(data, config)
        self.every = settings.every_for(self.recipe.epochs)
        self.common = {
            "protocol": "dynamic", "dataset": data.name, "model": self.recipe.model, "epochs": self.recipe.epochs,
            "lr": self.recipe.lr, "batch_size": self.recipe.batch_size, "transform": data.transform,
            "data_seed": data.data_seed, "seed": seed, **({"width": self.recipe.width} if self.recipe.width else {}),
        }
        self.infobatch = f"infobatch:delta={settings.delta:g}:prune_ratio={settings.prune_ratio:g}"

    def key(self, method: str, kind: str = "fraction", budget: float = 1.0) -> dict[str, Any]:
        return {**self.common, "method": method, "budget": budget, "budget_kind": kind}

    def recorded(self, key: dict[str, Any]) -> dict[str, Any]:
        wanted = run_key(key)
        return next(r for r in self.store.records() if run_key(r["key"]) == wanted)

    def sampler(self, policy: str, **params: Any) -> Callable[[Any], Any]:
        from coreselect.train import DynamicSampler

        return lambda model: DynamicSampler(self.data.n, policy, epochs=self.recipe.epochs, seed=self.seed, **params)

    def reselect(self, spec: MethodSpec, **budget: Any) -> Callable[[Any], Any]:
        """A reselect sampler whose pool is the embedding `spec`'s method asks for, from the current model."""
        from coreselect.pool import Pool
        from coreselect.train import DynamicSampler, predict

        kind = embedding_kind(spec.make())
        x = self.recipe.inputs(self.data, self.data.x_train)

        def make(model: Any) -> Any:
            def pool(epoch: int) -> Pool:
                logits, h = predict(model, x, device=self.recipe.device, return_features=True)
                return Pool.build(embed(kind, logits, self.data.y_train, h), labels=self.data.y_train)

            return DynamicSampler(self.data.n, "reselect", epochs=self.recipe.epochs, seed=self.seed,
                                  method=spec.name, method_params=spec.params, pool=pool, every=self.every, **budget)

        return make

    def run(self, key: dict[str, Any], make_sampler: Callable[[Any], Any]) -> None:
        """Train the arm of `key` (unless recorded) and record it with its ratios to the full run."""
        if self.store.done(key):
            return
        run = train_dynamic(self.data, self.recipe, self.seed, make_sampler)
        full = run if key["method"] == "full" else None
        if full is None:
            ref = self.recorded(self.key("full"))
            full_acc, full_total, full_examples = (ref["metrics"]["test_accuracy"], ref["timings"]["total"],
                                                   ref["examples"])
        else:
            full_acc, full_total, full_examples = full.accuracy, full.total, full.examples
        metrics = {"test_accuracy": run.accuracy, "final_train_loss": run.train_loss,
                   "accuracy_change": run.accuracy - full_acc, "speedup": full_total / run.total,
                   "compute_saved": 1 - run.examples / full_examples}
        timings = {"total": run.total, "select": run.select, "train": run.total - run.select}
        self.store.append(key, metrics, timings, steps=run.steps, examples=run.examples,
                          size=round(run.examples / self.recipe.epochs))
        log.info("seed %d: %s at %s: test accuracy %.4f, %d examples, %.1f s (select %.1f s)", self.seed,
                 key["method"], key["budget"], run.accuracy, run.examples, run.total, run.select)


def _budgets(config: BenchConfig) -> list[tuple[str, float | int]]:
    return [("fraction", float(f)) for f in config.fractions] + [("size", int(s)) for s in config.sizes]


def run(config: BenchConfig, store: ResultStore) -> None:
    """Run every (seed, arm, budget) not yet in `store`, the seed's full run first."""
    settings = Settings.parse(config)
    specs = _reselect_specs(config, settings)
    budgets = _budgets(config)
    dataset = datasets.load(config.dataset, config.data_root)
    for seed in range(config.seeds):
        data = datasets.prepare(dataset, settings.transforms, seed)
        state = _Seed(config, settings, store, data, seed)
        if seed == 0:  # checks that need the prepared data, before any training
            state.recipe.check(data)
            too_big = [s for kind, s in budgets if kind == "size" and s > data.n]
            if too_big:
                raise InputError(f"sizes {too_big} exceed the {data.n} training examples")
        state.run(state.key("full"), state.sampler("random", fraction=1.0))
        arms = settings.arms
        if "infobatch" in arms:
            state.run(state.key(state.infobatch),
                      state.sampler("infobatch", prune_ratio=settings.prune_ratio, delta=settings.delta))
            if "random" in arms:
                size = state.recorded(state.key(state.infobatch))["size"]
                state.run(state.key(f"random@{state.infobatch}"), state.sampler("random", size=size))
        for kind, budget in budgets:
            if "random" in arms:
                state.run(state.key("random", kind, budget), state.sampler("random", **{kind: budget}))
            for spec in specs:
                state.run(state.key(f"reselect:{spec.label}:every={state.every}", kind, budget),
                          state.reselect(spec, **{kind: budget}))
