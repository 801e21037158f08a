"""The BOSS paper's toy (Figures 1, 10–12): CCS vs BOSS subsets of four moons, and the boundaries they learn.

    python benchmarks/four_moons.py [--seeds 3]

A 2×100 ReLU MLP is trained on the full four-moons training set (2,000 points) for 40 epochs while
recording EL2N (first 10 epochs), AUM (all epochs) and the penultimate features (epoch 10, as the BOSS
authors' code reads them). CCS (β = 0.1, AUM strata, the paper's toy setting) and BOSS (the paper's toy
settings: 1% α = 0; 3% peak 0.5, α = 1; 10% peak 0.8, α = 1; β = 0) select 1%, 3% and 10%, BOSS both
with our kNN similarity (the default) and with the authors' all-pairs one (``similarity="global"``);
a fresh MLP is trained on each subset; the figure shows the selected points over its decision regions
(benchmarks/results/four-moons.png). Also checked and written to benchmarks/results/four-moons.md:

* coverage: every moon has a selected point in each third of its arc, at every budget;
* boundary at 10%: share of selected points near the boundary (an other-class training point within
  0.2) for BOSS vs uniform vs plain facility location (BOSS with α = 0) vs the population;
* accuracy: BOSS within one standard deviation of facility location, or above it, at every budget.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from machine import describe

import coreselect
from coreselect.data import load_dataset
from coreselect.data.synthetic import MOON_SHIFT
from coreselect.signals import DynamicsRecorder

OUT = Path(__file__).parent / "results"
FRACTIONS = (0.01, 0.03, 0.10)
BOSS = {0.01: {"alpha": 0.0, "cutoff": 0.0}, 0.03: {"peak": 0.5, "alpha": 1.0, "cutoff": 0.0},
        0.10: {"peak": 0.8, "alpha": 1.0, "cutoff": 0.0}}
CCS = {"cutoff": 0.1}


def train(x, y, seed, epochs, recorder=None, weights=None):
    from coreselect.train import TrainConfig, build_model, fit

    model = build_model("mlp", (2,), 4, seed=seed, hidden=(100, 100))
    cfg = TrainConfig(epochs=epochs, batch_size=64, optimizer="adam", lr=1e-2, schedule="constant",
                      weight_decay=0.0, seed=seed, device="cpu")
    fit(model, x, y, cfg, sample_weight=weights, recorder=recorder, progress=False)
    return model


def signals(x, y, seed):
    rec = DynamicsRecorder(x.shape[0], 4, epochs=10, features_epoch=10)
    model = train(x, y, seed, 40, recorder=rec)
    return rec.result(), model


def arc_third(x, y):
    """Which third of its moon's arc each point lies on (0, 1, 2), from its angle around the moon's centre."""
    p = x - np.where((y >= 2)[:, None], np.asarray(MOON_SHIFT, dtype=np.float32), 0)
    outer = (y % 2) == 0
    theta = np.where(outer, np.arctan2(p[:, 1], p[:, 0]), np.arctan2(0.5 - p[:, 1], 1 - p[:, 0]))
    return np.clip((np.clip(theta, 0, np.pi) / (np.pi / 3)).astype(int), 0, 2)


def near_boundary(x, y, radius=0.2):
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    d[y[:, None] == y[None, :]] = np.inf
    return np.sqrt(d.min(1)) < radius


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # small models on a shared 2-core machine: threads cost more than they give
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from coreselect.train import accuracy, predict

    load0 = os.getloadavg()[0]
    ds = load_dataset("four-moons", seed=0)
    x, y = ds.x_train, ds.y_train
    third = arc_third(x, y)
    boundary = near_boundary(x, y)
    rows, checks = [], []
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    gx, gy = np.meshgrid(np.linspace(-1.5, 5.5, 300), np.linspace(-1.0, 1.5, 120))
    grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float32)
    for seed in range(args.seeds):
        sig, _ = signals(x, y, seed)
        feats = sig.pop("features")
        for f in FRACTIONS:
            subsets = {
                "ccs": coreselect.select("ccs", features=feats, signals=sig, fraction=f, seed=seed, **CCS),
                "boss": coreselect.select("boss", features=feats, labels=y, signals=sig, fraction=f, seed=seed,
                                          **BOSS[f]),
                "boss (global)": coreselect.select("boss", features=feats, labels=y, signals=sig, fraction=f,
                                                   seed=seed, similarity="global", **BOSS[f]),
                "facility-location": coreselect.select("facility-location", features=feats, labels=y, fraction=f,
                                                       seed=seed),
                "uniform": coreselect.select("uniform", features=feats, fraction=f, seed=seed),
            }
            for name, s in subsets.items():
                model = train(x[s.indices], y[s.indices], seed, 300)
                acc = accuracy(model, ds.x_test, ds.y_test)
                covered = all(np.unique(third[s.indices][y[s.indices] == c]).size == 3 for c in range(4))
                near = boundary[s.indices].mean()
                rows.append((seed, f, name, acc, covered, near))
                if seed == 0 and name in ("ccs", "boss"):
                    ax = axes[0 if name == "ccs" else 1, FRACTIONS.index(f)]
                    pred = predict(model, grid).argmax(1).reshape(gx.shape)
                    ax.contourf(gx, gy, pred, levels=np.arange(-0.5, 4.5), cmap="Pastel1", alpha=0.8)
                    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="Set1", s=3, alpha=0.35)
                    ax.scatter(x[s.indices, 0], x[s.indices, 1], facecolors="none", edgecolors="red", s=40, lw=1.2)
                    ax.set_title(f"{name.upper()} {f:.0%}: test accuracy {acc:.3f}")
                    ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    OUT.mkdir(exist_ok=True)
    fig.savefig(OUT / "four-moons.png", dpi=110)

    def agg(f, name, col):
        v = np.array([r[col] for r in rows if r[1] == f and r[2] == name], dtype=float)
        return v.mean(), v.std()

    table = ["| fraction | method | test accuracy | every moon's arc thirds covered | share near the boundary |",
             "|---|---|---|---|---|"]
    for f in FRACTIONS:
        for name in ("uniform", "ccs", "facility-location", "boss", "boss (global)"):
            a, sa = agg(f, name, 3)
            c, _ = agg(f, name, 4)
            b, sb = agg(f, name, 5)
            table.append(f"| {f:.0%} | {name} | {a:.3f} ± {sa:.3f} | {c:.0%} of seeds | {b:.3f} ± {sb:.3f} |")
    covered = [r[4] for r in rows if r[2] == "boss"]
    b10, u10, fl10 = (agg(0.10, name, 5)[0] for name in ("boss", "uniform", "facility-location"))
    checks.append(f"- BOSS covers every third of every moon's arc at every budget: {'yes' if all(covered) else 'NO'} "
                  f"({sum(covered)}/{len(covered)} seed-budgets)")
    checks.append(f"- BOSS at 10% places more points near the boundary than uniform: {'yes' if b10 > u10 else 'NO'} "
                  f"({b10:.3f} vs {u10:.3f}; facility location {fl10:.3f}; population {boundary.mean():.3f})")
    for f in FRACTIONS:
        (ab, _), (af, sf) = agg(f, "boss", 3), agg(f, "facility-location", 3)
        checks.append(f"- {f:.0%}: BOSS accuracy within one std of facility location's or above: "
                      f"{'yes' if ab >= af - sf else 'NO'} ({ab:.3f} vs {af:.3f} ± {sf:.3f})")
    text = "\n".join([
        "# Four moons: CCS vs BOSS (the BOSS paper's toy)", "",
        f"Command: `python benchmarks/four_moons.py --seeds {args.seeds}`  ",
        f"Machine: {describe()}; one torch thread; 1-min load average {load0:.2f} at "
        f"start, {os.getloadavg()[0]:.2f} at end  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
        "Proxy: 2×100 ReLU MLP, Adam 1e-2, 40 epochs on the 2,000 training points (EL2N over the first 10,",
        "AUM over all, penultimate features of epoch 10). Subset models: the same MLP, 300 epochs.",
        f"BOSS settings (the paper's toy): {BOSS}; CCS: {CCS} with AUM strata. `boss` is our kNN",
        "similarity (the default), `boss (global)` the authors' all-pairs one.",
        "Test accuracy on 1,000 held-out points; mean ± std over seeds. 'Near the boundary': an other-class",
        "training point within 0.2.", "", *table, "", "Checks:", *checks, "",
        "![CCS vs BOSS selections over the decision regions learnt from each subset](four-moons.png)", ""])
    (OUT / "four-moons.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
