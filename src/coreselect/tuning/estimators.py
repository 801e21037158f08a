"""Classifiers trained through `sample_weight`, and the scores tuning optimises (F1, balanced accuracy).

The built-in names are ``logreg`` (scikit-learn LogisticRegression, lbfgs), ``linsvm`` (LinearSVC) and
``xgboost`` (XGBClassifier, hist trees); any scikit-learn-style classifier whose ``fit`` accepts
``sample_weight`` works too. Weights are normalised to mean 1 before fitting (DESIGN.md, weight
convention), so the regularisation strength does not depend on the weight strategy. Everything runs on
one thread (``n_jobs=1``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from coreselect.errors import InputError

ESTIMATORS = ("logreg", "linsvm", "xgboost")


def make_estimator(name: str, seed: int = 0) -> Any:
    """A fresh, unfitted built-in classifier (see module docstring)."""
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=1000)
    if name == "linsvm":
        from sklearn.svm import LinearSVC

        return LinearSVC(C=1.0, max_iter=5000, random_state=seed)
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=100, max_depth=4, learning_rate=0.1, tree_method="hist",
                             n_jobs=1, random_state=seed, verbosity=0)
    raise InputError(f"estimator must be one of {ESTIMATORS} or a classifier object, got {name!r}")


def resolve(estimator: Any, seed: int = 0) -> Any:
    """A built-in name or a classifier object; raises InputError when ``fit`` takes no ``sample_weight``."""
    est = make_estimator(estimator, seed) if isinstance(estimator, str) else estimator
    if isinstance(est, type):
        raise InputError(f"estimator must be an instance, e.g. {est.__name__}(), not the class itself")
    fit = getattr(est, "fit", None)
    if fit is None or not callable(getattr(est, "predict", None)):
        raise InputError(f"estimator {est!r} has no fit/predict methods")
    if "sample_weight" not in inspect.signature(fit).parameters:
        raise InputError(f"estimator {type(est).__name__} does not accept sample_weight in fit(); "
                         "coresets are weighted, so it cannot be trained on one")
    return est


@dataclass(frozen=True)
class _Constant:
    """What a training set of a single class teaches: always that class, with no margin."""

    label: int

    def predict(self, x: Any) -> np.ndarray:
        return np.full(x.shape[0], self.label, dtype=np.int64)

    def margin(self, x: Any) -> np.ndarray:
        return np.zeros(x.shape[0])


@dataclass(frozen=True)
class Fitted:
    """A fitted classifier on labels encoded as positions in `classes` (XGBoost needs 0..K-1)."""

    model: Any
    classes: np.ndarray

    def predict(self, x: Any) -> np.ndarray:
        if isinstance(self.model, _Constant):
            return self.model.predict(x)
        return self.classes[np.asarray(self.model.predict(x)).astype(np.int64)]

    def margin(self, x: Any) -> np.ndarray:
        """Uncertainty margin per row: |decision| for binary, top-1 minus top-2 score otherwise (small = unsure)."""
        if isinstance(self.model, _Constant):
            return self.model.margin(x)
        if hasattr(self.model, "decision_function"):
            scores = np.asarray(self.model.decision_function(x), dtype=np.float64)
        else:
            scores = np.asarray(self.model.predict_proba(x), dtype=np.float64)
        if scores.ndim == 1:
            return np.abs(scores)
        top = np.sort(scores, axis=1)
        return top[:, -1] - top[:, -2]


def fit_weighted(estimator: Any, x: Any, y: np.ndarray, weights: np.ndarray) -> Fitted:
    """Clone `estimator` and fit it on `(x, y)` with `weights` normalised to mean 1."""
    from sklearn.base import clone  # scikit-learn is imported on first use: the CLI starts in a blink

    classes, codes = np.unique(y, return_inverse=True)
    if classes.size < 2:
        return Fitted(_Constant(int(classes[0])), classes)
    model = clone(estimator)
    model.fit(x, codes, sample_weight=np.asarray(weights, dtype=np.float64) / np.mean(weights))
    return Fitted(model, classes)


def positive_label(y: np.ndarray) -> int:
    """The class F1 is computed for in a binary problem: the rarer one (the larger label on a tie)."""
    classes, counts = np.unique(y, return_counts=True)
    return int(classes[::-1][np.argmin(counts[::-1])])


def scores(y_true: np.ndarray, y_pred: np.ndarray, positive: int | None) -> dict[str, float]:
    """`f1` (binary F1 of `positive`, or macro-F1 when `positive` is None) and `balanced_accuracy`."""
    from sklearn.metrics import balanced_accuracy_score, f1_score

    if positive is None:
        f1 = f1_score(y_true, y_pred, average="macro", zero_division=0)
    else:
        f1 = f1_score(y_true, y_pred, pos_label=positive, average="binary", zero_division=0)
    return {"f1": float(f1), "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred))}
