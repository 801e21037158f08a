"""Estimate benchmark: relative error of Σ_S wℓ vs s and vs λ, sensitivity sampling vs uniform.

Runs the ``estimate`` protocol on Fashion-MNIST proxy embeddings and losses (both embeddings: label-aware
and plain), then writes ``benchmarks/results/sensitivity-estimate.md`` and two PNG plots.

    python benchmarks/sensitivity_estimate.py --seeds 100 --out bench-out/estimate
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
from pathlib import Path

import numpy as np
from machine import RESULTS, describe, publish

from coreselect.bench import BenchConfig, ResultStore
from coreselect.bench.protocols import estimate

SIZES = (100, 300, 1000, 3000)
FACTORS = "0,0.1,0.3,1,3,10,inf"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--plain-seeds", type=int, default=30)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--out", default="bench-out/estimate")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    started = datetime.datetime.now().isoformat(timespec="minutes")
    seeds = {"label": args.seeds, "plain": args.plain_seeds}
    for emb in ("label", "plain"):
        cfg = BenchConfig(dataset="fashion-mnist", protocol="estimate", out=Path(args.out),
                          methods=("sensitivity", "uniform"), sizes=SIZES, seeds=seeds[emb], epochs=1,
                          data_root=args.data_root, device="cpu",
                          options={"lam_factors": FACTORS, "embedding": emb, "k": str(args.k)})
        estimate.validate(cfg)
        estimate.run(cfg, ResultStore(cfg.out))
    load_end = os.getloadavg()[0]
    errors: dict[tuple, list[float]] = collections.defaultdict(list)
    lams: dict[str, list[float]] = collections.defaultdict(list)
    for r in ResultStore(args.out).records():
        k = r["key"]
        if k["seed"] >= seeds[k["embedding"]] or k.get("k") != args.k:
            continue
        errors[(k["embedding"], k["method"], k["variant"], k["budget"])].append(r["metrics"]["rel_error"])
        if k["method"] == "sensitivity" and not k["variant"] and k["budget"] == SIZES[0]:
            lams[k["embedding"]].append(r["metrics"]["lam"])
    med = {key: float(np.median(v)) for key, v in errors.items()}
    lines = [
        "# Sensitivity sampling: estimating the total loss (protocol `estimate`)",
        "",
        f"Command: `python benchmarks/sensitivity_estimate.py --seeds {args.seeds} --plain-seeds {args.plain_seeds} "
        f"--k {args.k} --out {args.out}`",
        "",
        f"Machine: {describe()}. Date: {started}. 1-min load average: {load_start:.2f} at start, "
        f"{load_end:.2f} at end (the machine is shared with other jobs).",
        "",
        "Data: Fashion-MNIST training set (n = 60,000). A 128-unit MLP trained for 1 epoch (Adam 1e-3) gives",
        "the embeddings h (its penultimate activations) and the loss ℓ (its per-example cross-entropy).",
        "`label` embeddings are `[h | c·onehot(y)]` (classes never share a cluster, so ℓ is a Lipschitz",
        "function of the embedding, the paper's assumption); `plain` embeddings are h alone.",
        f"Sensitivity sampling: Algorithm 1, k-means with k = {args.k} centers snapped to data points, the",
        f"loss queried at those {args.k} rows only, λ automatic (Σℓ̂/Σv), s i.i.d. draws with weights 1/(s·p).",
        "Uniform: s rows without replacement, weight n/s (it makes no loss query; sensitivity makes k).",
        f"Metric: median over the seeds ({args.seeds} with label embeddings, {args.plain_seeds} with plain) of "
        "|Σ_S wℓ − Σ_D ℓ| / Σ_D ℓ.",
        "",
        "## Error vs sample size s",
        "",
        "| embedding | s | uniform | sensitivity | ratio (sensitivity / uniform) |",
        "|---|---|---|---|---|",
    ]
    for emb in ("label", "plain"):
        for s in SIZES:
            if (emb, "sensitivity", "", s) not in med:
                continue
            u, v = med[(emb, "uniform", "", s)], med[(emb, "sensitivity", "", s)]
            lines.append(f"| {emb} | {s} | {u:.4f} | {v:.4f} | {v / u:.2f} |")
    lines += ["", "## Error vs λ (s = 1000; λ = factor × automatic λ; ∞ = distance only)", "",
              "| embedding | factor | sensitivity | uniform (same s) |", "|---|---|---|---|"]
    factors = [f for f in FACTORS.split(",")]
    for emb in ("label", "plain"):
        if emb not in lams:
            continue
        for f in factors:
            v = med[(emb, "sensitivity", f"lam×{float(f):g}", 1000)]
            lines.append(f"| {emb} | {f} | {v:.4f} | {med[(emb, 'uniform', '', 1000)]:.4f} |")
        lines.append(f"| {emb} | automatic λ (median over seeds) = {np.median(lams[emb]):.3g} | | |")
    lines += ["", "Plots: `sensitivity-estimate-vs-s.png`, `sensitivity-estimate-vs-lambda.png`.", ""]
    publish("sensitivity-estimate.md", lines)
    plot(med, factors)


def plot(med: dict, factors: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    embs = [e for e in ("label", "plain") if (e, "sensitivity", "", SIZES[0]) in med]
    for emb, style in zip(embs, ("-", "--")):
        ax.plot(SIZES, [med[(emb, "sensitivity", "", s)] for s in SIZES], "o" + style, label=f"sensitivity ({emb})")
    ax.plot(SIZES, [med[("label", "uniform", "", s)] for s in SIZES], "s:", color="k", label="uniform")
    ax.set(xscale="log", yscale="log", xlabel="sample size s", ylabel="median relative error",
           title="Fashion-MNIST: total-loss estimate")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "sensitivity-estimate-vs-s.png", dpi=120)
    fig, ax = plt.subplots(figsize=(5, 4))
    xs = np.arange(len(factors))
    for emb, style in zip(embs, ("-", "--")):
        ax.plot(xs, [med[(emb, "sensitivity", f"lam×{float(f):g}", 1000)] for f in factors], "o" + style,
                label=f"sensitivity ({emb})")
    ax.axhline(med[("label", "uniform", "", 1000)], color="k", ls=":", label="uniform")
    ax.set_xticks(xs, [f"{f}×" for f in factors])
    ax.set(yscale="log", xlabel="λ / automatic λ", ylabel="median relative error", title="s = 1000")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "sensitivity-estimate-vs-lambda.png", dpi=120)


if __name__ == "__main__":
    main()
