"""The accuracy–time table and curve of a dynamic-protocol run (`benchmarks/dynamic_cnn.sh`).

Every arm of ``bench --protocol dynamic`` against the same seed's full-data run: the change in final-epoch
test accuracy and the share of full training's wall time it took (selection included), mean ± std over
seeds, and the share of examples it saw. Writes ``benchmarks/results/<name>.md`` and ``<name>.png``.

    python benchmarks/dynamic_report.py RESULTS_DIR --name dynamic-cnn --header "first line" ...
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from machine import RESULTS, publish


def arms(results: Path) -> dict[str, dict[str, np.ndarray]]:
    """`{arm label: {"change", "time", "seen", "accuracy"}: per-seed values}` (the full run excluded)."""
    recs = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    full = {r["key"]["seed"]: r for r in recs if r["key"]["method"] == "full"}
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in sorted(recs, key=lambda r: r["key"]["seed"]):
        k = r["key"]
        if k["method"] == "full" or k["seed"] not in full:
            continue
        ref = full[k["seed"]]
        name = k["method"] if k["budget"] == 1.0 else f"{k['method']} at {k['budget']:.0%}"
        m = r["metrics"]
        out[name]["change"].append(m["test_accuracy"] - ref["metrics"]["test_accuracy"])
        out[name]["time"].append(r["timings"]["total"] / ref["timings"]["total"])
        out[name]["seen"].append(1 - m["compute_saved"])
        out[name]["accuracy"].append(m["test_accuracy"])
    out["full"] = {"change": [0.0] * len(full), "time": [1.0] * len(full), "seen": [1.0] * len(full),
                   "accuracy": [r["metrics"]["test_accuracy"] for r in full.values()]}
    return {a: {k: np.array(v) for k, v in d.items()} for a, d in out.items()}


def table(data: dict[str, dict[str, np.ndarray]]) -> list[str]:
    def ms(v: np.ndarray, scale: float = 1.0, digits: int = 2) -> str:
        return f"{v.mean() * scale:+.{digits}f} ± {v.std() * scale:.{digits}f}"

    lines = ["| arm | seeds | test accuracy | change vs full (points) | wall time / full's | examples seen / full's |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, d in sorted(data.items(), key=lambda kv: -kv[1]["time"].mean()):
        lines.append(f"| {name} | {d['accuracy'].size} | {d['accuracy'].mean():.4f} | {ms(d['change'], 100)} "
                     f"| {d['time'].mean():.2f} ± {d['time'].std():.2f} | {d['seen'].mean():.2f} |")
    return lines


def plot(data: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    markers = "os^vDPX*<>hp"
    colors = plt.get_cmap("tab20").colors
    for i, (name, d) in enumerate(sorted(data.items())):
        ax.errorbar(d["time"].mean(), 100 * d["change"].mean(), xerr=d["time"].std(), yerr=100 * d["change"].std(),
                    fmt=markers[i % len(markers)], color=colors[(2 * i) % 20 + (i // 10) % 2], capsize=3, label=name)
    ax.axhline(-0.3, color="grey", ls=":", lw=1)
    ax.axvline(0.6, color="grey", ls=":", lw=1)
    ax.set_xlabel("wall time / full training's (selection included)")
    ax.set_ylabel("test accuracy − full training's (points)")
    ax.set_title("Fashion-MNIST, SmallCNN width 16, 5,000 images, 10 epochs; target: dotted corner")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results_dir", type=Path)
    ap.add_argument("--name", default="dynamic-cnn")
    ap.add_argument("--header", action="append", default=[], help="a line of the report's header")
    args = ap.parse_args()
    data = arms(args.results_dir / "results.jsonl")
    plot(data, RESULTS / f"{args.name}.png")
    publish(f"{args.name}.md", [*args.header, "", *table(data), "", f"![accuracy against time]({args.name}.png)", ""])


if __name__ == "__main__":
    main()
