"""Per-example signals from training dynamics, accumulated epoch by epoch in O(n·C) memory.

Signals (see METHODS.md, "Signals"):

- **EL2N** (Paul et al. 2021, "Deep Learning on a Data Diet", eq. 2): ``‖softmax(z) − onehot(y)‖₂``
  averaged over the first ``E`` recorded epochs of each example.
- **GraNd** (Paul et al. 2021, eq. 1), restricted to the last layer where it is exact: for
  ``z = W h + b`` the gradient of CE w.r.t. ``(W, b)`` is ``(p − y) ⊗ [h; 1]``, whose norm is
  ``‖p − y‖₂ · sqrt(‖h‖² + 1)``. Without penultimate features it is ``‖p − y‖₂`` (the gradient w.r.t.
  the logits). Taken at the last recorded epoch.
- **forgetting** (Toneva et al. 2019, "An Empirical Study of Example Forgetting"): number of
  correct → incorrect transitions between consecutive recorded epochs; an example never classified
  correctly gets ``T + 1`` where ``T`` is its number of recorded epochs (it ranks hardest).
- **AUM** (Pleiss et al. 2020, "Identifying Mislabeled Data using the Area Under the Margin Ranking",
  eq. 1-2): mean over recorded epochs of ``z_y − max_{k≠y} z_k``. Low or negative = likely mislabeled.
- **aum_prob**: the margin the CCS official code accumulates instead (Zheng et al. 2023,
  ``generate_importance_score.py``): the *sum* over recorded epochs of the softmax-probability margin
  ``p_y − max_{k≠y} p_k``. A different ranking from AUM; both are recorded.
- **loss**: cross-entropy at the last recorded epoch.
- **features**: penultimate activations at ``features_epoch`` (default: the last recorded epoch); with
  ``keep_logits=True`` the logits of that same epoch too (for gradient embeddings of that model).

Importing this module does not import torch: torch tensors are accepted and converted lazily.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coreselect.checks import is_integer
from coreselect.errors import InputError
from coreselect.npyio import check_memory

SIGNAL_NAMES = ("el2n", "forgetting", "aum", "aum_prob", "grand", "loss")


def _to_numpy(a: Any, name: str) -> np.ndarray:
    """A numpy view of `a` (numpy array, torch tensor, or anything array-like); torch is never imported."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor
        t = a.detach().cpu()
        try:
            return t.numpy()
        except TypeError:  # dtypes numpy lacks (bfloat16, ...)
            return t.float().numpy()
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as exc:  # pragma: no cover - exotic inputs
        raise InputError(f"{name}: cannot convert {type(a).__name__} to an array ({exc})") from None


class DynamicsRecorder:
    """Accumulate EL2N, forgetting, AUM, GraNd, loss (and features) over training epochs.

    Call :meth:`update` once per batch (or once per epoch with all rows) with the model's logits on
    those training examples; call :meth:`result` at the end. Memory is O(n) per signal plus O(n·d)
    for stored features: running sums and counts, no per-epoch history unless ``keep_history=True``
    (then :meth:`history` returns the ``(T, n)`` margins and correctness).

    Parameters
    ----------
    n : number of training examples (indices are in ``[0, n)``).
    num_classes : number of classes ``C`` (logits have ``C`` columns).
    epochs : ``E``, how many recorded epochs EL2N averages over: the first ``E`` epochs at which each
        example was recorded (so 0- and 1-based epoch numbering behave the same). Other signals use
        every recorded epoch.
    features_epoch : keep features from this epoch number; ``None`` keeps the last recorded.
    keep_features : store features for :meth:`result` (GraNd uses them either way).
    keep_logits : also store the logits of the epoch whose features are kept (``"logits"`` in
        :meth:`result`).
    keep_history : also keep per-epoch margins and correctness (memory O(T·n)).
    allow_missing : rows never recorded get NaN in :meth:`result` instead of raising.
    """

    def __init__(
        self,
        n: int,
        num_classes: int,
        epochs: int = 10,
        *,
        features_epoch: int | None = None,
        keep_features: bool = True,
        keep_logits: bool = False,
        keep_history: bool = False,
        allow_missing: bool = False,
    ) -> None:
        for name, value, low in (("n", n, 1), ("num_classes", num_classes, 2), ("epochs", epochs, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
        if features_epoch is not None and not (is_integer(features_epoch) and features_epoch >= 0):
            raise InputError(f"features_epoch must be None or an integer >= 0, got {features_epoch!r}")
        check_memory(16 * 8 * int(n), f"DynamicsRecorder: running sums of n = {int(n):,} rows")
        self.n, self.num_classes, self.epochs = int(n), int(num_classes), int(epochs)
        self.features_epoch = features_epoch
        self.keep_features = keep_features
        self.keep_logits = keep_logits
        self.keep_history = keep_history
        self.allow_missing = allow_missing

        self._labels = np.full(self.n, -1, dtype=np.int64)
        self._last_epoch = np.full(self.n, -1, dtype=np.int64)
        self._count = np.zeros(self.n, dtype=np.int64)  # recorded epochs per example
        self._el2n_sum = np.zeros(self.n)
        self._el2n_count = np.zeros(self.n, dtype=np.int64)
        self._margin_sum = np.zeros(self.n)
        self._prob_margin_sum = np.zeros(self.n)
        self._last_correct = np.zeros(self.n, dtype=bool)
        self._ever_correct = np.zeros(self.n, dtype=bool)
        self._forgets = np.zeros(self.n, dtype=np.int64)
        self._loss = np.full(self.n, np.nan)
        self._grand = np.full(self.n, np.nan)
        self._grand_has_h = np.zeros(self.n, dtype=bool)
        self._features: np.ndarray | None = None
        self._logits: np.ndarray | None = None
        self._features_set = np.zeros(self.n, dtype=bool)
        self._history: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def update(
        self,
        epoch: int,
        indices: Any,
        logits: Any,
        labels: Any,
        features: Any | None = None,
    ) -> None:
        """Record the model's outputs at `epoch` on training rows `indices`.

        `logits` is ``(b, C)``, `labels` ``(b,)`` in ``[0, C)``, `features` (optional) the ``(b, d)``
        penultimate activations with ``logits = features @ W.T + b``. Each example may be recorded at
        most once per epoch, at increasing epoch numbers. numpy arrays or torch tensors.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise InputError(f"epoch must be an integer >= 0, got {epoch!r}")
        epoch = int(epoch)
        idx = _to_numpy(indices, "indices").reshape(-1)
        z = _to_numpy(logits, "logits")
        y = _to_numpy(labels, "labels").reshape(-1)
        b = idx.size
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise InputError(f"indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        if z.dtype.kind not in "biuf":
            raise InputError(f"logits must be real numbers, got dtype {z.dtype}")
        if z.ndim != 2 or z.shape != (b, self.num_classes):
            raise InputError(f"logits must have shape ({b}, {self.num_classes}), got {z.shape}")
        if y.shape != (b,):
            raise InputError(f"labels must have shape ({b},), got {y.shape}")
        if b == 0:
            return
        if idx.min() < 0 or idx.max() >= self.n:
            bad = int(np.sum((idx < 0) | (idx >= self.n)))
            raise InputError(f"indices: {bad} out of range [0, {self.n})")
        if np.unique(idx).size != b:
            raise InputError("indices: duplicate rows in one update")
        if not np.issubdtype(y.dtype, np.integer) and (
            not np.issubdtype(y.dtype, np.floating) or not np.all(y == np.round(y))
        ):
            raise InputError(f"labels must be integers, got dtype {y.dtype}")
        y = y.astype(np.int64, copy=False)
        if y.min() < 0 or y.max() >= self.num_classes:
            bad = int(np.sum((y < 0) | (y >= self.num_classes)))
            raise InputError(f"labels: {bad} outside [0, {self.num_classes})")
        z = z.astype(np.float64, copy=False)
        if not np.all(np.isfinite(z)):
            rows = np.flatnonzero(~np.all(np.isfinite(z), axis=1))
            raise InputError(f"logits: {rows.size} rows are not finite (first: index {idx[rows[0]]})")
        h = None
        if features is not None:
            h = _to_numpy(features, "features")
            if h.dtype.kind not in "biuf":
                raise InputError(f"features must be real numbers, got dtype {h.dtype}")
            if h.ndim != 2 or h.shape[0] != b:
                raise InputError(f"features must have shape ({b}, d), got {h.shape}")
            if self._features is not None and h.shape[1] != self._features.shape[1]:
                raise InputError(
                    f"features: width {h.shape[1]} differs from earlier {self._features.shape[1]}"
                )
            if not np.all(np.isfinite(h)):
                raise InputError("features: contain NaN or inf")
        known = self._labels[idx] >= 0
        if np.any(self._labels[idx][known] != y[known]):
            raise InputError("labels: differ from the labels recorded earlier for the same rows")
        stale = self._last_epoch[idx] >= epoch
        if np.any(stale):
            raise InputError(
                f"epoch {epoch}: {int(stale.sum())} rows already recorded at epoch "
                f"{int(self._last_epoch[idx][stale].max())} (each row once per epoch, epochs increasing)"
            )

        rows = np.arange(b)
        zmax = z.max(axis=1, keepdims=True)
        logp = z - zmax - np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        p[rows, y] -= 1.0
        err = np.sqrt(np.einsum("ij,ij->i", p, p))  # ‖softmax(z) − onehot(y)‖₂
        others = z.copy()
        others[rows, y] = -np.inf
        margin = z[rows, y] - others.max(axis=1)
        correct = margin > 0  # argmax == y, ties counted as wrong
        probs = np.exp(logp)
        p_y = probs[rows, y]
        probs[rows, y] = -np.inf
        prob_margin = p_y - probs.max(axis=1)

        first = self._count[idx] == 0
        in_window = self._el2n_count[idx] < self.epochs
        self._el2n_sum[idx[in_window]] += err[in_window]
        self._el2n_count[idx[in_window]] += 1
        self._margin_sum[idx] += margin
        self._prob_margin_sum[idx] += prob_margin
        self._forgets[idx] += (~first & self._last_correct[idx] & ~correct).astype(np.int64)
        self._last_correct[idx] = correct
        self._ever_correct[idx] |= correct
        self._loss[idx] = -logp[rows, y]
        if h is None:
            self._grand[idx] = err
            self._grand_has_h[idx] = False
        else:
            h64 = h.astype(np.float64, copy=False)
            self._grand[idx] = err * np.sqrt(np.einsum("ij,ij->i", h64, h64) + 1.0)
            self._grand_has_h[idx] = True
            if self.keep_features and (self.features_epoch is None or self.features_epoch == epoch):
                if self._features is None:
                    self._features = np.zeros((self.n, h.shape[1]), dtype=np.float32)
                self._features[idx] = h
                self._features_set[idx] = True
                if self.keep_logits:
                    if self._logits is None:
                        self._logits = np.zeros((self.n, self.num_classes), dtype=np.float32)
                    self._logits[idx] = z
        self._count[idx] += 1
        self._last_epoch[idx] = epoch
        self._labels[idx] = y
        if self.keep_history:
            if epoch not in self._history:
                self._history[epoch] = (np.full(self.n, np.nan), np.zeros(self.n, dtype=bool))
            self._history[epoch][0][idx] = margin
            self._history[epoch][1][idx] = correct

    @property
    def recorded(self) -> np.ndarray:
        """``(n,)`` number of epochs at which each example was recorded."""
        return self._count.copy()

    def result(self) -> dict[str, np.ndarray]:
        """``{"el2n", "forgetting", "aum", "aum_prob", "grand", "loss"}`` as ``(n,)`` float64, plus
        ``"features"`` ``(n, d)`` float32 when features were recorded (and ``"logits"`` ``(n, C)`` of the
        same epoch with ``keep_logits``). Higher is harder for all but the AUMs (see ``HIGHER_IS_HARDER``)."""
        missing = self._count == 0
        if missing.any() and not self.allow_missing:
            raise InputError(
                f"{int(missing.sum())} of {self.n} examples were never recorded "
                f"(first: index {int(np.flatnonzero(missing)[0])}); pass allow_missing=True to get NaN"
            )
        mixed = self._grand_has_h[~missing]
        if mixed.size and mixed.any() and not mixed.all():
            raise InputError(
                "grand: features were given at the last recorded epoch for some examples but not others"
            )
        count = np.where(missing, 1, self._count)
        forgetting = np.where(self._ever_correct, self._forgets, self._count + 1).astype(np.float64)
        out = {
            "el2n": self._el2n_sum / np.maximum(self._el2n_count, 1),
            "forgetting": forgetting,
            "aum": self._margin_sum / count,
            "aum_prob": self._prob_margin_sum.copy(),
            "grand": self._grand.copy(),
            "loss": self._loss.copy(),
        }
        for v in out.values():
            v[missing] = np.nan
        if self._features is not None:
            unset = ~self._features_set
            if unset.any() and not self.allow_missing:
                where = "" if self.features_epoch is None else f" at epoch {self.features_epoch}"
                raise InputError(f"features: {int(unset.sum())} of {self.n} examples have no features{where}")
            feats = self._features.copy()
            feats[unset] = np.nan
            out["features"] = feats
            if self._logits is not None:
                logits = self._logits.copy()
                logits[unset] = np.nan
                out["logits"] = logits
        elif self.keep_features and self.features_epoch is not None and self._grand_has_h.any():
            raise InputError(f"features: none recorded at features_epoch={self.features_epoch}")
        return out

    def history(self) -> dict[str, np.ndarray]:
        """Per-epoch ``margin`` (T, n) float64 (NaN where not recorded), ``correct`` (T, n) bool and
        ``epochs`` (T,). Only with ``keep_history=True``."""
        if not self.keep_history:
            raise InputError("history() needs DynamicsRecorder(..., keep_history=True)")
        epochs = sorted(self._history)
        shape = (len(epochs), self.n)
        return {
            "epochs": np.asarray(epochs, dtype=np.int64),
            "margin": np.stack([self._history[e][0] for e in epochs]) if epochs else np.empty(shape),
            "correct": np.stack([self._history[e][1] for e in epochs]) if epochs else np.empty(shape, bool),
        }
