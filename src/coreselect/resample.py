"""`CoresetSampler`: a coreset as an imbalanced-learn-style sampler, for scikit-learn workflows.

``fit_resample(X, y)`` returns the subset's rows ``(X_s, y_s)`` as imbalanced-learn's samplers do, so
the sampler drops into an ``imblearn.pipeline.Pipeline`` (selection happens when the pipeline is
fitted, never when it predicts). The subset's weights are kept in ``sample_weight_``: pass them to the
estimator's ``fit`` when you fit it yourself. A pipeline cannot forward them, so inside one use an
unweighted method (every row then stands for n/m, which changes nothing for the estimator).

>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> from coreselect import CoresetSampler
>>> X = np.random.default_rng(0).normal(size=(2000, 8)).astype("float32")
>>> y = (X[:, 0] > 0).astype(int)
>>> sampler = CoresetSampler("kcenter", fraction=0.05, params={"per_class": True})
>>> X_s, y_s = sampler.fit_resample(X, y)
>>> X_s.shape, round(sampler.sample_weight_.sum())
((100, 8), 2000)
>>> model = LogisticRegression().fit(X_s, y_s, sample_weight=sampler.sample_weight_)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from coreselect import registry
from coreselect.api import select
from coreselect.budget import Allocation
from coreselect.errors import InputError
from coreselect.pool import encode_labels
from coreselect.subset import Subset


class CoresetSampler(BaseEstimator):
    """Select a coreset of ``(X, y)`` with `method` (any of ``coreselect.available_methods()``).

    Parameters mirror :func:`coreselect.select`: `fraction` or `size` (give one; `size` wins when both
    are set, so the default fraction need not be cleared), `allocation`, `seed`, the method's own
    hyper-parameters as the dict `params`, and per-example `signals` (e.g. ``{"el2n": …}``) aligned with
    the rows of `X`. `y` is passed as labels only to methods that read labels.

    Fitted attributes: ``subset_`` (the :class:`~coreselect.Subset`), ``sample_indices_`` (chosen rows,
    as imbalanced-learn's under-samplers expose them) and ``sample_weight_`` (how many rows of `X` each
    chosen row stands for; they sum to n).
    """

    def __init__(self, method: str = "uniform", *, fraction: float | None = 0.1, size: int | None = None,
                 allocation: Allocation | None = None, params: Mapping[str, Any] | None = None,
                 signals: Mapping[str, Any] | None = None, seed: int | None = 0):
        self.method = method
        self.fraction = fraction
        self.size = size
        self.allocation = allocation
        self.params = params
        self.signals = signals
        self.seed = seed

    def fit_resample(self, X: Any, y: Any) -> tuple[Any, Any]:
        """Select the coreset and return its rows of `X` and `y` (positionally, in subset order)."""
        if self.params is not None and not isinstance(self.params, Mapping):
            raise InputError(f"params must be a mapping of the method's parameters, got {self.params!r}")
        params = dict(self.params or {})
        uses = registry.make(self.method, params).uses()
        shape = getattr(X, "shape", None)
        if shape is None and not isinstance(X, Sequence) or shape is not None and len(shape) == 0:
            raise InputError(f"X must be an array of rows, got {type(X).__name__}")
        if shape is not None and len(shape) > 2:
            raise InputError(f"X must be an (n, d) array of rows, got shape {tuple(shape)}")
        n_x = shape[0] if shape is not None else len(X)
        if y is None or sp.issparse(y):
            raise InputError(f"y must be one class label per row of X, got {type(y).__name__}")
        encode_labels("y", y, n_x)  # checked whole even for methods that do not read labels
        subset: Subset = select(
            self.method, features=X, labels=y if "labels" in uses else None, signals=self.signals,
            fraction=None if self.size is not None else self.fraction, size=self.size,
            allocation=self.allocation, seed=self.seed, **params,
        )
        self.subset_ = subset
        self.sample_indices_ = subset.indices
        self.sample_weight_ = subset.weights
        return subset.take(X), subset.take(np.asarray(y) if isinstance(y, list) else y)
