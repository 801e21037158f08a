"""`write_report(DIR)`: a markdown table and a PNG plot from a bench directory's ``results.jsonl``.

Generic over protocols: records are grouped by their key minus the seed fields (``seed`` and any
``*_seed``), rows are the ``method`` field and columns the ``budget`` field; every other key field
(dataset, model, transform, …) makes a separate *setting* with its own tables. For each metric and
each timing, a cell is mean ± std over seeds (population std). Rows: ``uniform`` (random) first,
``full`` (the full-data reference, shown in every column) last; the best method per column is bold
(highest, or lowest for metrics named ``*error*``, ``*loss*`` or ``noisy_fraction``). Records marked
``skipped`` are listed with their reason. The plot shows the first metric (``test_accuracy`` when
present) against the budget with ±1 std bands. Time O(records), memory O(records).
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from coreselect.bench.store import RESULTS, ResultStore
from coreselect.errors import InputError
from coreselect.files import PathLike, atomic_write, check_output, regular_input

_AXES = ("method", "budget", "budget_kind")
_FULL = "full"
_LOWER_IS_BETTER = ("error", "loss", "noisy_fraction")

Column = tuple[str, Any]  # (budget_kind, budget)


def _is_seed(field: str) -> bool:
    return field == "seed" or field.endswith("_seed")


def _setting(key: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in key.items()
                        if k not in _AXES and not _is_seed(k)))


def _column(key: dict[str, Any]) -> Column:
    return (str(key.get("budget_kind", "fraction" if isinstance(key.get("budget"), float) else "size")),
            key.get("budget"))


def _column_label(col: Column) -> str:
    kind, value = col
    if kind == "fraction" and isinstance(value, (int, float)):
        return f"{100 * value:g}%"
    return str(value)


def _method_order(methods: Iterable[str]) -> list[str]:
    def rank(m: str) -> tuple[int, str]:
        base = m.split(":")[0]
        return (0 if base == "uniform" else 2 if m == _FULL else 1, m)

    return sorted(set(methods), key=rank)


def _lower_is_better(metric: str) -> bool:
    return any(word in metric for word in _LOWER_IS_BETTER)


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}" if abs(mean) < 10 else f"{mean:.1f} ± {std:.1f}"


class _Setting:
    """The records of one setting: values[(kind, name)][method][column] -> one value per seed."""

    def __init__(self, fields: tuple[tuple[str, str], ...]):
        self.fields = fields
        self.values: dict[tuple[str, str], dict[str, dict[Column, list[float]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list)))
        self.skipped: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.per_seed: dict[str, dict[str, set[float]]] = defaultdict(lambda: defaultdict(set))

    def add(self, record: dict[str, Any]) -> None:
        key = record["key"]
        method, col = str(key.get("method")), _column(key)
        if record.get("skipped"):
            self.skipped[(method, str(record["skipped"]))].append(_column_label(col))
            return
        seed = json.dumps({k: v for k, v in key.items() if _is_seed(k)}, sort_keys=True)
        for kind in ("metrics", "timings"):
            for name, value in (record.get(kind) or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self.values[(kind, name)][method][col].append(float(value))
                    if kind == "timings":
                        self.per_seed[name][seed].add(float(value))

    def shared(self, name: str) -> list[float] | None:
        """The per-seed values of a timing that every run of a seed shares (e.g. the proxy's), else None."""
        sets = list(self.per_seed[name].values())
        if sets and all(len(v) == 1 for v in sets):
            return [next(iter(v)) for v in sets]
        return None

    def columns(self) -> list[Column]:
        cols = {c for per in self.values.values() for m, cells in per.items() if m != _FULL for c in cells}
        if not cols:  # only the full reference
            cols = {c for per in self.values.values() for cells in per.values() for c in cells}
        return sorted(cols, key=lambda c: (c[0] != "fraction", c[1]))

    def names(self, kind: str) -> list[str]:
        found = sorted({n for k, n in self.values if k == kind})
        return sorted(found, key=lambda n: n != "test_accuracy")

    def title(self) -> str:
        return ", ".join(f"{k}={json.loads(v)}" for k, v in self.fields if json.loads(v) not in ("", None)) or "all runs"

    def headline(self, metric: str) -> tuple[str, str]:
        """A plot title (dataset, model, protocol, seeds, budget range) and a line of the other settings."""
        fields = {k: json.loads(v) for k, v in self.fields if json.loads(v) not in ("", None)}
        named = [str(fields.pop(k)) for k in ("dataset", "model", "protocol") if k in fields]
        cols = self.columns()
        seeds = max((len(self.cell("metrics", metric, m, c)) for m in self.values[("metrics", metric)]
                     for c in cols), default=0)
        budget = (f"budget {_column_label(cols[0])}–{_column_label(cols[-1])}" if len(cols) > 1
                  else f"budget {_column_label(cols[0])}" if cols else "")
        head = " · ".join(named) or "all runs"
        head += f": {metric}, {seeds} seed{'s' if seeds != 1 else ''}" + (f", {budget}" if budget else "")
        return head, ", ".join(f"{k} {v}" for k, v in fields.items())

    def cell(self, kind: str, name: str, method: str, col: Column) -> list[float]:
        cells = self.values[(kind, name)].get(method, {})
        if method == _FULL and col not in cells and cells:
            return next(iter(cells.values()))  # the reference has one budget: show it in every column
        return cells.get(col, [])

    def table(self, kind: str, name: str) -> list[str]:
        cols = self.columns()
        methods = _method_order(self.values[(kind, name)])
        stats = {(m, c): v for m in methods for c in cols if (v := self.cell(kind, name, m, c))}
        best: dict[Column, float] = {}
        if kind == "metrics":
            pick = min if _lower_is_better(name) else max
            for c in cols:
                means = [float(np.mean(v)) for (m, cc), v in stats.items() if cc == c and m != _FULL]
                if means:
                    best[c] = pick(means)
        seeds = max((len(v) for v in stats.values()), default=0)
        unit = " (seconds)" if kind == "timings" else ""
        lines = [f"**{name}**{unit}, mean ± std over {seeds} seed{'s' if seeds != 1 else ''}", "",
                 "| method | " + " | ".join(_column_label(c) for c in cols) + " |",
                 "|---|" + "---:|" * len(cols)]
        for m in methods:
            cells = []
            for c in cols:
                v = stats.get((m, c))
                if not v:
                    cells.append("–")
                    continue
                text = _fmt(float(np.mean(v)), float(np.std(v)))
                cells.append(f"**{text}**" if m != _FULL and c in best and float(np.mean(v)) == best[c] else text)
            label = "uniform (random)" if m == "uniform" else "full data" if m == _FULL else m
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        return lines


def _settings(records: Iterable[dict[str, Any]]) -> list[_Setting]:
    groups: dict[tuple[tuple[str, str], ...], _Setting] = {}
    for record in records:
        fields = _setting(record["key"])
        groups.setdefault(fields, _Setting(fields)).add(record)
    return [groups[f] for f in sorted(groups)]


#: What the oneshot protocol's subset-training budget means, for the report's caption.
_BUDGET_CAPTIONS = {
    "steps": "Subset models take as many SGD steps as the full-data model (`subset_budget=steps`).",
    "epochs": "Subset models train for as many epochs as the full-data model (`subset_budget=epochs`).",
}


def markdown(settings: list[_Setting]) -> str:
    out = ["# Benchmark report", ""]
    for s in settings:
        out += [f"## {s.title()}", ""]
        budget = dict(s.fields).get("subset_budget")
        if budget is not None:
            out += [_BUDGET_CAPTIONS.get(json.loads(budget), f"Subset models: {json.loads(budget)}.") + " "
                    "Accuracy is the test accuracy after the final epoch.", ""]
        for name in s.names("metrics"):
            out += s.table("metrics", name) + [""]
        shared = {name: v for name in s.names("timings") if (v := s.shared(name)) is not None}
        if shared:
            parts = [f"{name} {_fmt(float(np.mean(v)), float(np.std(v)))} s" for name, v in shared.items()]
            seeds = max(map(len, shared.values()))
            out += [f"Timings shared by every run of a seed (mean ± std over {seeds} seed{'s' if seeds != 1 else ''}): "
                    + "; ".join(parts) + ".", ""]
        for name in s.names("timings"):
            if name not in shared:
                out += s.table("timings", name) + [""]
        if s.skipped:
            out += ["Skipped:", ""]
            for (method, reason), cols in sorted(s.skipped.items()):
                out.append(f"- `{method}` ({len(cols)} run{'s' if len(cols) != 1 else ''}): {reason}")
            out.append("")
    return "\n".join(out)


#: tab10's colours (no two alike, unlike tab20's light/dark pairs) crossed with markers: with 10 colours
#: and 8 markers, the first 40 methods all differ in colour or marker; line styles alternate too.
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _plain(text: str) -> str:
    """`text` shown as written: matplotlib reads ``$…$`` in labels as TeX math (and fails on bad TeX)."""
    return text.replace("$", r"\$")


def _style(i: int) -> dict[str, Any]:
    """Line style of the i-th method of a plot: a colour, a marker and a dash pattern."""
    return {"color": _COLOURS[i % len(_COLOURS)], "marker": _MARKERS[i % len(_MARKERS)],
            "linestyle": ("-", "--")[(i // len(_COLOURS)) % 2]}


def plot(settings: list[_Setting], path: Path) -> None:
    """One panel per setting: the first metric against the budget, mean ± std bands, full data dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(settings), figsize=(6.4 * len(settings), 4.8), squeeze=False)
    for ax, s in zip(axes[0], settings):
        metrics = s.names("metrics")
        if not metrics:
            ax.set_axis_off()
            continue
        name, cols = metrics[0], s.columns()
        xs = np.array([c[1] for c in cols], dtype=float)
        for i, m in enumerate(_method_order(s.values[("metrics", name)])):
            vals = [s.cell("metrics", name, m, c) for c in cols]
            if m == _FULL:
                mean, std = float(np.mean(vals[0])), float(np.std(vals[0]))
                ax.axhline(mean, color="black", linestyle="--", label="full data")
                ax.axhspan(mean - std, mean + std, color="black", alpha=0.1)
                continue
            keep = [i for i, v in enumerate(vals) if v]
            mean = np.array([np.mean(vals[i]) for i in keep])
            std = np.array([np.std(vals[i]) for i in keep])
            style = ({"color": "black", "linewidth": 2, "marker": "o"} if m.split(":")[0] == "uniform"
                     else _style(i))
            line, = ax.plot(xs[keep], mean, label="uniform (random)" if m == "uniform" else _plain(m), **style)
            ax.fill_between(xs[keep], mean - std, mean + std, color=line.get_color(), alpha=0.15)
        if cols and all(c[0] == "fraction" for c in cols) and xs.min() > 0 and xs.max() / xs.min() >= 10:
            ax.set_xscale("log")
        ax.set_xlabel("fraction of the training set" if cols and cols[0][0] == "fraction" else "subset size")
        ax.set_ylabel(_plain(name))
        head, rest = s.headline(name)
        ax.set_title(_plain(head + (f"\n{rest}" if rest else "")), fontsize=9, wrap=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120))
    plt.close(fig)


def check_report_paths(directory: Path, inputs: Iterable[PathLike] = ()) -> tuple[Path, Path]:
    """``DIR/report.md`` and ``DIR/report.png``, each checked to be nothing yet or a regular file that is
    neither ``DIR/results.jsonl`` nor one of `inputs` (see :func:`coreselect.files.check_output`)."""
    sources = [directory / RESULTS, *inputs]
    return check_output(directory / "report.md", sources), check_output(directory / "report.png", sources)


def write_report(directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``DIR/report.md`` and ``DIR/report.png`` from ``DIR/results.jsonl``; return both paths.

    A damaged line of ``results.jsonl`` is an `InputError` naming it (see :meth:`ResultStore.records`).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"not a directory: {directory}")
    if not (directory / RESULTS).exists() and not (directory / RESULTS).is_symlink():
        raise InputError(f"{directory} holds no {RESULTS} (run `coreselect bench --out {directory}` first)")
    regular_input(directory / RESULTS)
    md_path, png_path = check_report_paths(directory)
    records = list(ResultStore(directory).records())
    if not records:
        raise InputError(f"{directory / RESULTS} holds no finished runs")
    settings = _settings(records)
    text = markdown(settings)
    atomic_write(md_path, lambda fh: fh.write(text.encode()))
    plot(settings, png_path)
    return md_path, png_path
