"""The built-in demo: every registered method on scikit-learn's digits, judged against random selection.

Features are standardised pixels; a softmax-regression proxy trained for a few epochs of full-batch
gradient descent supplies the training-dynamics signals (EL2N, AUM, forgetting, GraNd, loss) through
:class:`coreselect.signals.DynamicsRecorder`, its last-epoch loss serves as the oracle, and each subset
is judged by the test accuracy of a logistic regression fitted with the subset's weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from coreselect import api, registry, threads
from coreselect.bench.protocols.oneshot import embed, embedding_kind
from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.pool import Pool
from coreselect.progress import progress

FRACTIONS = (0.05, 0.1, 0.2)
SEEDS = 5
MAX_SEEDS = 100


@dataclass
class DemoResult:
    """Accuracies `{method: {fraction: [one per seed]}}`, methods skipped with the reason, and timing."""

    fractions: tuple[float, ...]
    accuracy: dict[str, dict[float, list[float]]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    full_accuracy: float = float("nan")
    seconds: float = 0.0

    def best(self) -> dict[float, str]:
        """The method with the highest mean accuracy at each fraction (ties: the first by name)."""
        return {f: max(sorted(self.accuracy), key=lambda m: np.mean(self.accuracy[m][f])) for f in self.fractions}

    def table(self) -> str:
        """Plain-text table: mean ± std of test accuracy; random (uniform) first, full data last; the best
        method of each column marked ``*``, with a legend below."""
        names = ["uniform", *sorted(m for m in self.accuracy if m != "uniform")]
        best = self.best()
        head = ["method", *(f"{f:.0%}" for f in self.fractions)]
        rows = [head]
        for name in names:
            cells = [f"{np.mean(self.accuracy[name][f]):.3f} ± {np.std(self.accuracy[name][f]):.3f}"
                     + (" *" if best[f] == name else "  ") for f in self.fractions]
            rows.append(["random (uniform)" if name == "uniform" else name, *cells])
        rows.append(["full data", *([f"{self.full_accuracy:.3f}"] * len(self.fractions))])
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        winners = ", ".join(f"{f:.0%}: {best[f]}" for f in self.fractions)
        lines += ["", f"* best mean accuracy in the column ({winners})",
                  ("± 0.000: the same accuracy for every seed (a deterministic method picks the same subset "
                   "whatever the seed)")]
        return "\n".join(lines)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def proxy_signals(x: np.ndarray, y: np.ndarray, epochs: int = 10, lr: float = 0.5) -> tuple[dict, np.ndarray]:
    """Train softmax regression by full-batch gradient descent, recording dynamics every epoch.

    Returns the recorder's signals and the last-epoch logits. Deterministic (zero initialisation).
    """
    from coreselect.signals import DynamicsRecorder

    n, d = x.shape
    c = int(y.max()) + 1
    w, b = np.zeros((d, c)), np.zeros(c)
    onehot = np.eye(c)[y]
    recorder = DynamicsRecorder(n, c, epochs=epochs)
    rows = np.arange(n)
    logits = np.zeros((n, c))
    for epoch in range(epochs):
        logits = x @ w + b
        recorder.update(epoch, rows, logits, y, features=x)
        grad = (_softmax(logits) - onehot) / n
        w -= lr * (x.T @ grad + 1e-3 * w)
        b -= lr * grad.sum(axis=0)
    return recorder.result(), logits


def _evaluate(x_tr, y_tr, x_te, y_te, idx=None, weights=None) -> float:
    from sklearn.linear_model import LogisticRegression

    xs, ys = (x_tr, y_tr) if idx is None else (x_tr[idx], y_tr[idx])
    if np.unique(ys).size < 2:  # a subset of one class (tiny budgets): the model can only predict it
        return float((y_te == ys[0]).mean())
    sw = None if weights is None else weights / weights.mean()
    model = LogisticRegression(max_iter=2000)
    model.fit(xs, ys, sample_weight=sw)
    return float((model.predict(x_te) == y_te).mean())


def run_demo(fractions: tuple[float, ...] = FRACTIONS, seeds: int = SEEDS) -> DemoResult:
    """Run every registered method at each fraction for `seeds` seeds (1 to :data:`MAX_SEEDS`) on digits."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise InputError(f"seeds must be an integer in [1, {MAX_SEEDS}], got {seeds!r}")
    from sklearn.datasets import load_digits

    with threads.limit(work=load_digits().data.size):  # small dense work: one thread (coreselect.threads)
        return _run(fractions, seeds)


def _run(fractions: tuple[float, ...], seeds: int) -> DemoResult:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr).astype(np.float32), scaler.transform(x_te).astype(np.float32)
    signals, logits = proxy_signals(x_tr.astype(np.float64), y_tr)
    per_example = {k: v for k, v in signals.items() if k != "features"}
    pools = {"features": Pool.build(x_tr, labels=y_tr, signals=per_example)}
    result = DemoResult(fractions=tuple(fractions), full_accuracy=_evaluate(x_tr, y_tr, x_te, y_te))
    names = registry.available()
    jobs = [(name, f, s) for name in names for f in fractions for s in range(seeds)]
    scored: dict[bytes, float] = {}  # the evaluator is deterministic: a repeated subset is not refitted
    for name, frac, seed in progress(jobs, total=len(jobs), desc="demo"):
        if name in result.skipped:
            continue
        method = registry.make(name, {})
        kind = embedding_kind(method)
        if kind not in pools:  # last-layer gradient embeddings, for craig and gradmatch
            pools[kind] = Pool.build(embed(kind, logits, y_tr, x_tr), labels=y_tr, signals=per_example)
        pool = pools[kind]
        if "oracle" in method.requires():  # a fresh counted oracle per run: the proxy's last-epoch loss
            pool = Pool.build(pool.features, labels=y_tr, signals=pool.signals, oracle=signals["loss"])
        try:
            api.check_inputs(method, pool)
        except InputError as exc:
            result.skipped[name] = str(exc).split(" (it needs")[0].replace(f"method {name!r} is ", "")
            continue
        subset = api.run(method, pool, Budget.from_request(pool.n, fraction=frac), seed)
        key = subset.indices.tobytes() + subset.weights.tobytes()
        if key not in scored:
            scored[key] = _evaluate(x_tr, y_tr, x_te, y_te, subset.indices, subset.weights)
        acc = scored[key]
        result.accuracy.setdefault(name, {}).setdefault(frac, []).append(acc)
    result.seconds = time.perf_counter() - t0
    return result
