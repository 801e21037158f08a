"""One scoreboard of the one-shot results: every method against random selection, seed by seed.

For every setting (dataset, model and width, subset-training budget, transform) and every method and fraction:
the mean ± std of the final-epoch test accuracy over seeds, and the difference from random selection
(`uniform`) *paired by seed* (the same seed gives both the same proxy and the same initialisation), as
mean ± std of the per-seed differences. A mark flags a difference beyond two standard errors of that
mean (``▲`` above random, ``▼`` below; SE = std / √seeds, std with ddof 1; no mark under 2 seeds).

    python benchmarks/scoreboard.py RESULTS.jsonl [RESULTS.jsonl ...] --out benchmarks/results/scoreboard.md
        [--methods boss,ccs,...]    (only these methods, beside random and the full-data reference)

Writes the markdown file and, beside it, a PNG per setting (accuracy vs fraction, random in black,
±1 std bands). Under every accuracy table, the time columns of the BOSS paper's Table 9: signal
(proxy) training, selection, subset training and full training, in mean seconds; and at the end the
papers' own numbers, for orderings (their datasets and models are not ours).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

#: Key fields that identify a setting (everything else but method, budget and seed must agree).
SETTING = ("dataset", "model", "width", "protocol", "subset_budget", "subset_epochs", "epochs", "proxy_epochs", "transform",
           "dedup", "subset_weights")
RANDOM = "uniform"


def load(paths: list[Path], methods: set[str] | None = None) -> list[dict]:
    """Finished oneshot runs (skipped and cut-short lines left out), of `methods` (all if None), random
    and the full-data reference."""
    records = []
    for path in paths:
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            key = r.get("key", {})
            wanted = methods is None or key.get("method") in methods | {RANDOM, "full"}
            if key.get("protocol") == "oneshot" and "test_accuracy" in r.get("metrics", {}) and wanted:
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


def timings(records: list[dict]) -> dict[tuple, dict[str, dict[float, dict[str, list[float]]]]]:
    """{setting: {method: {fraction: {timing name: [seconds, one per seed]}}}} (full data as fraction 1.0)."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for r in records:
        k = r["key"]
        if k.get("budget_kind", "fraction") != "fraction":
            continue
        for name, seconds in r.get("timings", {}).items():
            out[setting_of(k)][k["method"]][float(k["budget"])][name].append(float(seconds))
    return out


def time_table(methods: dict[str, dict[float, dict[str, list[float]]]]) -> list[str]:
    """The BOSS paper's Table 9 columns for one setting: per method and fraction the mean selection and
    subset-training seconds; signal (proxy) and full training once per setting."""
    fractions = sorted({f for m, cells in methods.items() if m != "full" for f in cells})
    lines = ["Seconds (mean over seeds), selection / subset training:", "",
             "| method | " + " | ".join(f"{100 * f:g}%" for f in fractions) + " |",
             "|---|" + "---:|" * len(fractions)]
    for name in [RANDOM, *sorted(m for m in methods if m not in (RANDOM, "full"))]:
        cells = []
        for f in fractions:
            t = methods.get(name, {}).get(f, {})
            cells.append(f"{np.mean(t['select']):.1f} / {np.mean(t['train_subset']):.0f}"
                         if t.get("select") and t.get("train_subset") else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    full = methods.get("full", {}).get(1.0, {})
    if full.get("signal") and full.get("train_full"):
        lines += ["", (f"Signal (proxy) training {np.mean(full['signal']):.0f} s; full-data training "
                       f"{np.mean(full['train_full']):.0f} s (the proxy doubles as the full-data model when "
                       "their epochs agree).")]
    return lines + [""]


#: The papers' own accuracies (%), for orderings only: other datasets, models and budgets than ours.
PAPERS = [
    "## The papers' own numbers",
    "",
    "BOSS paper, Table 1 (ResNet-18, 200 epochs; mean ± std over 5 runs; CCS, Moderate, CRAIG and GradMatch",
    "as run by the BOSS authors). The claim to test: BOSS > CCS > random, most at small fractions.",
    "",
    "| dataset | subset | random | CRAIG | GradMatch | Moderate | CCS | BOSS |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
    "| CIFAR-10 | 10% | 70.69 ± 1.2 | 70.96 ± 1.6 | 72.26 ± 0.5 | 72.04 ± 0.7 | 74.78 ± 1.8 | 79.47 ± 0.5 |",
    "| CIFAR-10 | 20% | 83.27 ± 1.2 | 83.36 ± 1.5 | 84.30 ± 0.9 | 83.64 ± 0.8 | 86.45 ± 2.1 | 87.82 ± 0.9 |",
    "| CIFAR-10 | 30% | 88.89 ± 0.6 | 88.98 ± 1.2 | 88.47 ± 0.6 | 88.46 ± 0.5 | 91.49 ± 0.5 | 92.15 ± 0.6 |",
    "| CIFAR-100 | 10% | 37.35 ± 1.9 | 38.67 ± 1.3 | 36.68 ± 0.6 | 37.76 ± 0.9 | 40.26 ± 1.6 | 47.58 ± 0.5 |",
    "| CIFAR-100 | 20% | 51.55 ± 2.6 | 51.44 ± 1.7 | 53.16 ± 2.2 | 50.90 ± 1.9 | 55.48 ± 1.8 | 61.44 ± 0.7 |",
    "| CIFAR-100 | 30% | 62.89 ± 0.6 | 62.92 ± 0.7 | 63.02 ± 1.2 | 62.55 ± 0.6 | 64.61 ± 0.5 | 67.89 ± 0.2 |",
    "",
    "BOSS paper, Table 2 (its ablation; same setting): the difficulty score alone, i.e. keeping the",
    "examples of highest EL2N (our `prune:signal=el2n`), beside Table 1's random. At high pruning rates",
    "the hardest examples alone train far worse models than random ones.",
    "",
    "| dataset | subset | random | EL2N, hardest kept |",
    "|---|---|---:|---:|",
    "| CIFAR-10 | 10% | 70.69 ± 1.2 | 22.26 ± 0.4 |",
    "| CIFAR-10 | 20% | 83.27 ± 1.2 | 41.95 ± 1.9 |",
    "| CIFAR-10 | 30% | 88.89 ± 0.6 | 78.75 ± 6.4 |",
    "| CIFAR-100 | 10% | 37.35 ± 1.9 | 7.11 ± 0.4 |",
    "| CIFAR-100 | 20% | 51.55 ± 2.6 | 14.78 ± 0.5 |",
    "| CIFAR-100 | 30% | 62.89 ± 0.6 | 31.99 ± 1.1 |",
    "",
    "The CW-ERM paper's Table 1 and the sensitivity paper's Figure 2b concern reweighting and",
    "regression; our comparisons with them are `reweight-fashion-mnist.md` and `sensitivity-regression.md` here.",
    "",
]


def markdown(board: dict, times: dict | None = None) -> list[str]:
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
        if times and setting in times:
            lines += time_table(times[setting])
    return lines


def plot(board: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coreselect.bench.report import _style

    fig, axes = plt.subplots(1, len(board), figsize=(6.4 * len(board), 4.8), squeeze=False)
    every = sorted({m for methods in board.values() for m in methods if m not in (RANDOM, "full")})
    for ax, (setting, methods) in zip(axes[0], board.items()):  # one style per method across the panels
        for name in [RANDOM, *sorted(m for m in methods if m not in (RANDOM, "full"))]:
            i = every.index(name) + 1 if name != RANDOM else 0
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
    parser.add_argument("--methods", help="comma-separated method labels to show (default: every one)")
    parser.add_argument("--runs", type=Path,
                        help="the markdown file that says how the sources were run (commands, code, machine, "
                             "dates, load); linked from the scoreboard")
    args = parser.parse_args()
    methods = None if args.methods is None else {m.strip() for m in args.methods.split(",") if m.strip()}
    records = load(args.results, methods)
    board = tables(records)
    lines = ["# Scoreboard: one-shot selection against random", "",
             (f"Sources: {', '.join(p.name for p in args.results)}. Command: `python benchmarks/scoreboard.py "
             f"{' '.join(p.name for p in args.results)} --out {args.out.name}"
             f"{'' if args.methods is None else f' --methods {args.methods}'}"
             f"{'' if args.runs is None else f' --runs {args.runs.name}'}`."
             f"{'' if args.runs is None else f' How they were run (commands, code, machine, dates, load): [{args.runs.name}]({args.runs.name}).'}"), "",
             *markdown(board, timings(records)), *PAPERS]
    args.out.write_text("\n".join(lines))
    plot(board, args.out.with_suffix(".png"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
