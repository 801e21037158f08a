"""The reweight protocol (METHODS.md, CW-ERM): ERM, C-ERM, CW-ERM, W-ERM and an oracle side by side.

Per seed ``s`` (data prepared by :mod:`coreselect.bench.datasets`, so ``noise=``, ``noise_kind=``,
``imbalance=`` and ``train_size=`` apply, seeded by ``data_seed``; ``width=`` sets the cnn's channels):

- ``erm``: a fresh model (``--model``, ``--epochs``) on the whole training set, unweighted
  (timing ``train_full``);
- ``cerm``: the coreset alone: features from the feature model (``feature_epochs`` epochs of the same
  architecture on the whole set, penultimate activations; ``feature_epochs=0``: the standardised
  inputs), the coreset chosen by the ``--methods`` spec (use ``moderate:per_class=true``, CW-ERM's
  choice) at ``coreset`` × n with ``allocation``, then a fresh model trained on it for
  ``coreset_epochs`` (timings ``features``, ``select``, ``train_subset``);
- ``cwerm``: the same coreset reweighted by Meta-Weight-Net for ``meta_epochs`` (weights normalised
  by their batch sum unless ``normalize=none``), weights broadcast to every example (``k``,
  ``same_class``), then a fresh model trained on the whole set with them (timings ``features``, ``select``,
  ``meta_train``, ``broadcast``, ``train_full``). The full-set weights are saved to
  ``DIR/weights/cwerm-<digest>.npz`` (``weights`` aligned with the prepared training rows, ``rows``
  their positions in the original training set, ``labels`` the observed labels, the coreset and meta
  rows) and the file is named in the record;
- ``werm``: Meta-Weight-Net on the whole set for ``--epochs``; the classifier it trains is the model
  (timing ``meta_train``);
- ``oracle``: the ceiling of any reweighting: weighted ERM on the whole training set with weight 0 on
  every row whose label the noise changed and 1 on every other row (timing ``train_full``; ``size``:
  the rows of weight 1). It needs label noise (without it, it is ``erm``): on data without noise the
  arm is recorded as skipped, with the reason.

Meta set. By default (``trusted=1000``) a class-stratified split of the training set, drawn by its true
labels (seeded by the data seed and the seed), is *trusted*: its labels are the true ones for every arm
(as if verified by hand) and it is the meta set of cwerm and werm, as in Meta-Weight-Net's official code
(1,000 clean examples held out). The split is proportional to the classes;
``trusted_allocation=balanced`` splits it equally (water-filling where a class is smaller than its
share), the meta set of Meta-Weight-Net's long-tail experiments (ten per class). ``trusted=0``: no
trusted set; the meta set is then a class-stratified split (``meta_fraction`` of each class) of the
coreset (cwerm) or the training set (werm) with its observed, possibly noisy labels, and the key and the
table say ``meta_set: no trusted set``.

Every arm also records ``total`` (its wall time, the feature model included for cerm/cwerm). Metrics:
``test_accuracy`` after the final epoch; with label noise, ``noisy_fraction`` of the coreset and
``weight_ratio`` = mean weight of flipped / mean weight of clean examples, trusted rows left out
(cwerm: ``coreset_weight_ratio`` over the reweighted coreset rows — their learned weights, before the
broadcast, since a coreset row is its own nearest neighbour — and ``weight_ratio`` over the full set
after the broadcast; werm: its learned weights). ``--fractions``/``--sizes`` are not used: the coreset
size is ``--option coreset`` (default 0.01).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from coreselect import api
from coreselect.bench import datasets
from coreselect.bench.config import BenchConfig, option_number
from coreselect.bench.proxy import RECIPE_OPTIONS, Recipe, defaults_for, train_subset, write_npz
from coreselect.bench.specs import MethodSpec, parse_methods
from coreselect.bench.store import ResultStore
from coreselect.budget import ALLOCATIONS, Budget
from coreselect.errors import InputError
from coreselect.pool import Pool
from coreselect.reweight import NORMALIZE
from coreselect.subset import Subset

log = logging.getLogger("coreselect.bench")

ARMS = ("erm", "cerm", "cwerm", "werm", "oracle")
#: The coreset selector when ``--methods`` is not given (METHODS.md: per-class moderate).
DEFAULT_METHODS = ("moderate:per_class=true",)

OPTIONS: dict[str, str] = {
    "arms": f"comma-separated arms to run (default {','.join(ARMS)})",
    "coreset": "coreset fraction of the training set (default 0.01)",
    "allocation": "coreset budget over classes: proportional (default) or balanced",
    "coreset_epochs": "epochs of C-ERM on the coreset (default 100)",
    "meta_epochs": "epochs of Meta-Weight-Net on the coreset (default 20)",
    "trusted": "rows of a clean, class-stratified trusted split: the meta set (default 1000; 0 = no trusted set)",
    "trusted_allocation": "trusted rows over classes: proportional (default) or balanced (Meta-Weight-Net's "
                          "long-tail setting: e.g. trusted=100, ten per class)",
    "normalize": "Meta-Weight-Net weights divided by their batch sum (batch, default) or not (none)",
    "feature_epochs": "epochs of the feature model on the whole set (default 1; 0 = standardised inputs)",
    "meta_fraction": "with trusted=0: share of every class in the meta split (default 0.1)",
    "vnet_lr": "Adam learning rate of the weight net (default 1e-3)",
    "k": "broadcast neighbours (default 1)",
    "same_class": "broadcast only from coreset examples of the same label (default true)",
    **RECIPE_OPTIONS,
    **datasets.DATA_OPTIONS,
}


#: What the key and the table say of a meta set carved with its observed labels.
NO_TRUSTED_SET = "no trusted set"
_TRUSTED = 0x7275  # tags the trusted split's random stream


def _flag(options: dict[str, str], key: str, default: bool) -> bool:
    text = options.get(key, str(default)).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InputError(f"--option {key}={text!r}: expected true or false")


@dataclass(frozen=True)
class Settings:
    """The parsed options of one reweight bench."""

    transforms: datasets.Transforms
    selector: MethodSpec
    arms: tuple[str, ...]
    coreset: float
    allocation: str
    coreset_epochs: int
    meta_epochs: int
    feature_epochs: int
    meta_fraction: float
    vnet_lr: float
    trusted: int
    trusted_allocation: str
    normalize: str
    k: int
    same_class: bool
    lr: float | None
    batch_size: int | None
    width: int | None

    @classmethod
    def parse(cls, config: BenchConfig) -> Settings:
        o = config.options
        specs = parse_methods(config.methods)
        if len(specs) != 1:
            raise InputError(
                "the reweight protocol takes one --methods spec, the coreset selector "
                f"(e.g. moderate:per_class=true), got {len(specs)}"
            )
        arms = tuple(a.strip() for a in o.get("arms", ",".join(ARMS)).split(",") if a.strip())
        unknown = sorted(set(arms) - set(ARMS))
        if unknown or not arms or len(set(arms)) != len(arms):
            raise InputError(f"--option arms: choose distinct arms among {', '.join(ARMS)}, got {o.get('arms')!r}")
        allocation = o.get("allocation", "proportional")
        trusted_allocation = o.get("trusted_allocation", "proportional")
        for name, value in (("allocation", allocation), ("trusted_allocation", trusted_allocation)):
            if value not in ALLOCATIONS:
                raise InputError(f"--option {name}={value!r}: choose one of {', '.join(ALLOCATIONS)}")
        coreset = option_number(o, "coreset", float, 0.01, 0.0, 1.0)
        if coreset <= 0:
            raise InputError("--option coreset must be > 0")
        meta_fraction = option_number(o, "meta_fraction", float, 0.1, 0.0, 1.0)
        if meta_fraction <= 0:
            raise InputError("--option meta_fraction must be > 0")
        normalize = o.get("normalize", "batch")
        if normalize not in NORMALIZE:
            raise InputError(f"--option normalize={normalize!r}: choose one of {', '.join(NORMALIZE)}")
        vnet_lr = option_number(o, "vnet_lr", float, 1e-3, 0.0)
        lr = option_number(o, "lr", float, None, 0.0)
        if vnet_lr <= 0 or (lr is not None and lr <= 0):
            raise InputError("--option lr and vnet_lr must be > 0")
        trusted = option_number(o, "trusted", int, 1000, 0)
        if not trusted and "trusted_allocation" in o:
            raise InputError("--option trusted_allocation needs a trusted set (trusted > 0)")
        return cls(
            transforms=datasets.Transforms.from_options(o), selector=specs[0], arms=arms, coreset=coreset,
            allocation=allocation, coreset_epochs=option_number(o, "coreset_epochs", int, 100, 1),
            meta_epochs=option_number(o, "meta_epochs", int, 20, 1),
            feature_epochs=option_number(o, "feature_epochs", int, 1, 0), meta_fraction=meta_fraction,
            vnet_lr=vnet_lr, trusted=trusted, trusted_allocation=trusted_allocation, normalize=normalize,
            k=option_number(o, "k", int, 1, 1), same_class=_flag(o, "same_class", True), lr=lr,
            batch_size=option_number(o, "batch_size", int, None, 1),
            width=option_number(o, "width", int, low=0, above=True),
        )

    def recipe(self, data: datasets.BenchData, config: BenchConfig) -> Recipe:
        d = defaults_for(data)
        return Recipe(
            model=config.model or d.model, epochs=config.epochs or d.epochs, lr=self.lr or d.lr,
            batch_size=self.batch_size or d.batch_size, width=self.width, device=config.device,
        )


def validate(config: BenchConfig) -> None:
    """Option values (the runner has checked the option names)."""
    Settings.parse(config)


def _ratio(weights: np.ndarray, noisy: np.ndarray, leave_out: np.ndarray | None = None) -> float:
    """Mean weight of the flipped examples over that of the clean ones, the `leave_out` positions
    excluded (nan when either group is empty)."""
    keep = np.ones(noisy.size, dtype=bool)
    if leave_out is not None:
        keep[leave_out] = False
    weights, noisy = weights[keep], noisy[keep]
    if not noisy.any() or noisy.all():
        return float("nan")
    return float(weights[noisy].mean() / weights[~noisy].mean())


def trusted_split(data: datasets.BenchData, true_labels: np.ndarray, size: int, rng: np.random.Generator,
                  allocation: str = "proportional") -> tuple[datasets.BenchData, np.ndarray]:
    """`data` with a class-stratified (by the true labels; `allocation` proportional or balanced) random
    split of `size` rows given their true labels (no longer noisy), and those rows, sorted."""
    if size >= data.n:
        raise InputError(f"--option trusted={size}: must be below the {data.n} training rows")
    classes, counts = np.unique(true_labels, return_counts=True)
    budget = Budget.from_request(data.n, size=size, allocation=allocation)
    shares = budget.split(dict(zip(classes.tolist(), counts.tolist())))
    rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(true_labels == c), m, replace=False)
                                   for c, m in shares.items()])).astype(np.int64)
    y = data.y_train.copy()
    y[rows] = true_labels[rows]
    noisy = None if data.noisy is None else data.noisy & (y != true_labels)
    return dataclasses.replace(data, y_train=y, noisy=noisy), rows


class _Seed:
    """One seed's data, recipe, feature model and coreset (built on first use)."""

    def __init__(self, config: BenchConfig, settings: Settings, store: ResultStore,
                 dataset: Any, data: datasets.BenchData, seed: int):
        self.config, self.s, self.store, self.seed = config, settings, store, seed
        self.recipe = settings.recipe(data, config)
        self.trusted: np.ndarray | None = None
        if settings.trusted:
            true_labels = np.asarray(dataset.y_train)[data.rows].astype(np.int64)
            rng = np.random.default_rng([data.data_seed, seed, _TRUSTED])
            data, self.trusted = trusted_split(data, true_labels, settings.trusted, rng,
                                               settings.trusted_allocation)
        self.data = data
        self.common = {
            "protocol": "reweight", "dataset": data.name, "model": self.recipe.model, "epochs": self.recipe.epochs,
            "lr": self.recipe.lr, "batch_size": self.recipe.batch_size, "transform": data.transform,
            "data_seed": data.data_seed, "seed": seed, "trusted": settings.trusted,
            # named only when balanced, so records made before the option keep their keys
            **({"trusted_allocation": "balanced"} if settings.trusted_allocation == "balanced" else {}),
            **({"width": self.recipe.width} if self.recipe.width else {}),
        }
        self._features: tuple[np.ndarray, float] | None = None
        self._coreset: tuple[Subset, float] | None = None

    def key(self, arm: str) -> dict[str, Any]:
        s = self.s
        key = {**self.common, "method": arm, "arm": arm, "budget": 1.0}
        meta = {"meta_set": "trusted" if s.trusted else NO_TRUSTED_SET, "vnet_lr": s.vnet_lr,
                "normalize": s.normalize, **({} if s.trusted else {"meta_fraction": s.meta_fraction})}
        core = {"budget": s.coreset, "selector": s.selector.label, "allocation": s.allocation,
                "feature_epochs": s.feature_epochs}
        if arm == "werm":
            key.update(meta)
        elif arm == "cerm":
            key.update(core, coreset_epochs=s.coreset_epochs)
        elif arm == "cwerm":
            key.update(core, **meta, meta_epochs=s.meta_epochs, k=s.k, same_class=s.same_class)
        return key

    @property
    def x(self) -> np.ndarray:
        return self.recipe.inputs(self.data, self.data.x_train)

    def features(self) -> tuple[np.ndarray, float]:
        """Feature-space positions of every training row and the seconds they took."""
        if self._features is None:
            start = time.perf_counter()
            if self.s.feature_epochs == 0:
                feats = self.data.x_train
            else:
                from coreselect.train import fit, predict

                model = self.recipe.build(self.data, self.seed)
                fit(model, self.x, self.data.y_train, self.recipe.config(self.seed, self.s.feature_epochs),
                    progress=False)
                _, feats = predict(model, self.x, device=self.recipe.device, return_features=True)
            self._features = (np.ascontiguousarray(feats, dtype=np.float32), time.perf_counter() - start)
        return self._features

    def coreset(self) -> tuple[Subset, float]:
        if self._coreset is None:
            feats, _ = self.features()
            start = time.perf_counter()
            budget = Budget.from_request(self.data.n, fraction=self.s.coreset, allocation=self.s.allocation)
            subset = api.run(self.s.selector.make(), Pool.build(feats, labels=self.data.y_train), budget, self.seed)
            self._coreset = (subset, time.perf_counter() - start)
        return self._coreset

    def meta_config(self, epochs: int) -> Any:
        from coreselect.reweight.mwnet import MetaConfig

        return MetaConfig(
            epochs=epochs, batch_size=self.recipe.batch_size, meta_batch_size=self.recipe.batch_size,
            lr=self.recipe.lr, vnet_lr=self.s.vnet_lr, meta_fraction=self.s.meta_fraction,
            normalize=self.s.normalize, device=self.recipe.device, seed=self.seed,
        )

    def test_accuracy(self, model: Any) -> float:
        from coreselect.train import accuracy

        return accuracy(model, self.recipe.inputs(self.data, self.data.x_test), self.data.y_test,
                        device=self.recipe.device)

    def run_arm(self, arm: str) -> None:
        key = self.key(arm)
        if self.store.done(key):
            return
        start = time.perf_counter()
        try:
            metrics, timings, extra = getattr(self, f"_{arm}")()
        except InputError as exc:
            self.store.append(key, {}, {}, skipped=str(exc))
            log.info("seed %d: %s skipped: %s", self.seed, arm, exc)
            return
        timings["total"] = time.perf_counter() - start
        self.store.append(key, metrics, timings, **extra)
        log.info("seed %d: %s: test accuracy %.4f (%.1f s)", self.seed, arm, metrics["test_accuracy"],
                 timings["total"])

    def _erm(self) -> tuple[dict, dict, dict]:
        full = train_subset(self.data, self.recipe, self.seed)
        return {"test_accuracy": full.accuracy}, {"train_full": full.seconds}, {"size": self.data.n}

    def _cerm(self) -> tuple[dict, dict, dict]:
        (subset, select_s), (_, feature_s) = self.coreset(), self.features()
        trained = train_subset(self.data, self.recipe, self.seed, subset.indices, None, self.s.coreset_epochs)
        metrics = {"test_accuracy": trained.accuracy}
        if self.data.noisy is not None:
            metrics["noisy_fraction"] = float(self.data.noisy[subset.indices].mean())
        timings = {"features": feature_s, "select": select_s, "train_subset": trained.seconds}
        return metrics, timings, {"size": len(subset)}

    def _cwerm(self) -> tuple[dict, dict, dict]:
        from coreselect.reweight.pipeline import cwerm

        (subset, select_s), (feats, feature_s) = self.coreset(), self.features()
        result = cwerm(
            self.x, self.data.y_train, lambda: self.recipe.build(self.data, self.seed), features=feats,
            coreset=subset, meta_config=self.meta_config(self.s.meta_epochs), train_config=self.recipe.config(self.seed),
            k=self.s.k, same_class=self.s.same_class, trusted=self.trusted, allow_untrusted=self.trusted is None,
            seed=self.seed,
        )
        metrics = {"test_accuracy": self.test_accuracy(result.model)}
        if self.data.noisy is not None:
            noisy = self.data.noisy
            reweighted = subset.indices if self.trusted is None else np.setdiff1d(subset.indices, self.trusted)
            metrics.update(noisy_fraction=float(noisy[subset.indices].mean()),
                           weight_ratio=_ratio(result.weights, noisy, self.trusted),
                           coreset_weight_ratio=_ratio(result.weights[reweighted], noisy[reweighted]))
        digest = hashlib.sha256(json.dumps(self.key("cwerm"), sort_keys=True, default=str).encode()).hexdigest()[:16]
        path = self.store.dir / "weights" / f"cwerm-seed{self.seed}-{digest}.npz"
        path.parent.mkdir(exist_ok=True)
        write_npz(path, {
            "weights": result.weights, "rows": self.data.rows, "labels": self.data.y_train,
            "coreset_indices": subset.indices, "coreset_weights": result.coreset_weights,
            "meta_indices": result.meta_indices,
        })
        t = result.timings
        timings = {"features": feature_s, "select": select_s, "meta_train": t["meta_train"],
                   "broadcast": t["broadcast"], "train_full": t["train"]}
        return metrics, timings, {"size": len(subset), "weights_file": str(path.relative_to(self.store.dir))}

    def _werm(self) -> tuple[dict, dict, dict]:
        from coreselect.reweight.mwnet import train_mwnet

        model = self.recipe.build(self.data, self.seed)
        result = train_mwnet(model, self.x, self.data.y_train, self.meta_config(self.recipe.epochs),
                             meta_rows=self.trusted)
        metrics = {"test_accuracy": self.test_accuracy(model)}
        if self.data.noisy is not None:
            metrics["weight_ratio"] = _ratio(result.weights, self.data.noisy, result.meta_rows)
        return metrics, {"meta_train": result.seconds}, {"size": self.data.n}

    def _oracle(self) -> tuple[dict, dict, dict]:
        noisy = self.data.noisy
        if noisy is None:
            raise InputError("the oracle arm needs label noise (--option noise=r); without it, it is erm")
        full = train_subset(self.data, self.recipe, self.seed, None, (~noisy).astype(np.float64))
        return {"test_accuracy": full.accuracy}, {"train_full": full.seconds}, {"size": int((~noisy).sum())}


def run(config: BenchConfig, store: ResultStore) -> None:
    """Run every (seed, arm) not yet in `store`, appending each as it finishes."""
    import torch

    settings = Settings.parse(config)
    dataset = datasets.load(config.dataset, config.data_root)
    # torch imports its compiler stack the first time an optimiser is built (seconds): pay it here,
    # not inside the first timed arm
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    for seed in range(config.seeds):
        data = datasets.prepare(dataset, settings.transforms, seed)
        state = _Seed(config, settings, store, dataset, data, seed)
        if seed == 0:
            state.recipe.check(data)
        for arm in settings.arms:
            state.run_arm(arm)
