"""One scoreboard of the one-shot results: every method against random selection, seed by seed.

For every setting (dataset, model and width, subset-training budget, transform) and every method and fraction:
the mean ± std of the final-epoch test accuracy over seeds, and the difference from random selection
(`uniform`) *paired by seed* (the same seed gives both the same proxy and the same initialisation), as
mean ± std of the per-seed differences. A mark flags a difference beyond two standard errors of that
mean (``▲`` above random, ``▼`` below; SE = std / √seeds, std with ddof 1; no mark under 2 seeds).

    python benchmarks/scoreboard.py RESULTS.jsonl [RESULTS.jsonl ...] --out benchmarks/results/scoreboard.md

Writes the markdown file and, beside it, a PNG per setting (accuracy vs fraction, random in black,
±1 std bands).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

#: Key fields that identify a setting (everything else but method, budget and seed must agree).
SETTING = ("dataset", "model", "width", "protocol", "subset_budget", "subset_epochs", "epochs", "proxy_epochs", "transform")
RANDOM = "uniform"


def load(paths: list[Path]) -> list[dict]:
    """Finished oneshot runs (skipped and cut-short lines left out)."""
    records = []
    for path in paths:
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("key", {}).get("protocol") == "oneshot" and "test_accuracy" in r.get("metrics", {}):
                records.append(r)
    return records


def setting_of(key: dict) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(key[k])) for k in SETTING if k in key and key[k] not in ("", None))


def paired(method: dict[int, float], random: dict[int, float]) -> tuple[float, float, int, str]:
    """Mean and std (ddof 1) of the per-seed differences, their count, and the significance mark."""
    seeds = sorted(set(method) & set(random))
    d = np.array([method[s] - random[s] for s in seeds])
    if d.size == 0:
        return math.nan, math.nan, 0, ""
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, int(d.size), ""
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(d.size)
    mark = "▲" if mean > 2 * se else "▼" if mean < -2 * se else ""
    return mean, sd, int(d.size), mark


def tables(records: list[dict]) -> dict[tuple, dict[str, dict[float, dict[int, float]]]]:
    """{setting: {method: {fraction: {seed: accuracy}}}} (the full-data reference as fraction 1.0)."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in records:
        k = r["key"]
        if k.get("budget_kind", "fraction") != "fraction":
            continue
        out[setting_of(k)][k["method"]][float(k["budget"])][int(k["seed"])] = float(r["metrics"]["test_accuracy"])
    return out


def markdown(board: dict) -> list[str]:
    lines: list[str] = []
    for setting, methods in board.items():
        fields = dict(setting)
        title = " · ".join(fields.pop(k) for k in ("dataset", "model") if k in fields)
        lines += [f"## {title}", "", ", ".join(f"{k} {v}" for k, v in fields.items()), ""]
        fractions = sorted({f for m, cells in methods.items() if m != "full" for f in cells})
        random = methods.get(RANDOM, {})
        lines += ["| method | " + " | ".join(f"{100 * f:g}%" for f in fractions) + " |",
                  "|---|" + "---:|" * len(fractions)]
        for name in [RANDOM, *sorted(m for m in methods if m not in (RANDOM, "full"))]:
            cells = []
            for f in fractions:
                acc = methods[name].get(f, {})
                if not acc:
                    cells.append("–")
                    continue
                v = np.array(list(acc.values()))
                text = f"{v.mean():.4f} ± {v.std():.4f}"
                if name != RANDOM and random.get(f):
                    mean, sd, k, mark = paired(acc, random[f])
                    text += f" ({mean:+.4f} ± {sd:.4f}{', ' + mark if mark else ''})" if k >= 2 else f" ({mean:+.4f})"
                cells.append(text)
            label = "random (uniform)" if name == RANDOM else name
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        full = [a for cells in methods.get("full", {}).values() for a in cells.values()]
        if full:
            lines.append(f"| full data | {np.mean(full):.4f} ± {np.std(full):.4f} |" + " |" * (len(fractions) - 1))
        seeds = max((len(a) for cells in methods.values() for a in cells.values()), default=0)
        lines += ["", (f"Mean ± std over up to {seeds} seeds; in brackets the difference from random, paired by "
                  "seed (mean ± std), ▲/▼ where it exceeds two standard errors."), ""]
    return lines


def plot(board: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coreselect.bench.report import _style

    fig, axes = plt.subplots(1, len(board), figsize=(6.4 * len(board), 4.8), squeeze=False)
    for ax, (setting, methods) in zip(axes[0], board.items()):
        for i, name in enumerate([RANDOM, *sorted(m for m in methods if m not in (RANDOM, "full"))]):
            fr = sorted(methods[name])
            mean = np.array([np.mean(list(methods[name][f].values())) for f in fr])
            std = np.array([np.std(list(methods[name][f].values())) for f in fr])
            style = {"color": "black", "linewidth": 2, "marker": "o"} if name == RANDOM else _style(i)
            line, = ax.plot(fr, mean, label="random (uniform)" if name == RANDOM else name, **style)
            ax.fill_between(fr, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        full = [a for cells in methods.get("full", {}).values() for a in cells.values()]
        if full:
            ax.axhline(float(np.mean(full)), color="black", linestyle="--", label="full data")
        ax.set_xscale("log")
        ax.set_xlabel("fraction of the training set")
        ax.set_ylabel("test accuracy (final epoch)")
        ax.set_title(" · ".join(v for k, v in setting if k in ("dataset", "model", "subset_budget")), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    board = tables(load(args.results))
    lines = ["# Scoreboard: one-shot selection against random", "",
             (f"Sources: {', '.join(p.name for p in args.results)}. Command: `python benchmarks/scoreboard.py "
             f"{' '.join(p.name for p in args.results)} --out {args.out.name}`."), "", *markdown(board)]
    args.out.write_text("\n".join(lines))
    plot(board, args.out.with_suffix(".png"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
