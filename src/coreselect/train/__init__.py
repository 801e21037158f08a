"""Reference models, weighted training loops and device handling (requires torch).

>>> from coreselect.train import TrainConfig, build_model, fit  # doctest: +SKIP
>>> model = build_model("mlp", (20,), num_classes=3, seed=0)  # doctest: +SKIP
>>> result = fit(model, x, y, TrainConfig(epochs=5), sample_weight=subset.as_sample_weight())  # doctest: +SKIP
"""

from coreselect.train.adapters import WeightedSubset, weighted_sampler
from coreselect.train.augment import random_crop_flip
from coreselect.train.dynamic import DynamicSampler
from coreselect.train.loop import (
    FitResult,
    TrainConfig,
    accuracy,
    fit,
    predict,
    resolve_device,
    steps_per_epoch,
)
from coreselect.train.models import MLP, MODEL_NAMES, ResNet18, SmallCNN, build_model

__all__ = [
    "MLP",
    "MODEL_NAMES",
    "DynamicSampler",
    "FitResult",
    "ResNet18",
    "SmallCNN",
    "TrainConfig",
    "WeightedSubset",
    "accuracy",
    "build_model",
    "fit",
    "predict",
    "random_crop_flip",
    "resolve_device",
    "steps_per_epoch",
    "weighted_sampler",
]
