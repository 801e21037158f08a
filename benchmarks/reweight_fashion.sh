#!/usr/bin/env bash
# CW-ERM on Fashion-MNIST, CPU: ERM, C-ERM (1% moderate per-class coreset alone), CW-ERM (Meta-Weight-Net
# on that coreset, weights broadcast to the full set) and W-ERM (Meta-Weight-Net on the full set), on
# clean data, 40% symmetric label noise and long-tail imbalance factor 50; MLP (784-128-10), 20 epochs,
# 3 seeds, final-epoch test accuracy, wall time and flipped/clean weight ratio per arm.
# Defaults of the protocol: a trusted, clean, class-stratified split of 1,000 training rows is the meta
# set (trusted=1000), weights normalised by their batch sum (normalize=batch), 20 Meta-Weight-Net epochs
# on the coreset (meta_epochs=20), broadcast within the observed class (same_class=true).
# Under noise, the ablations: each default undone alone, and a uniform (class-stratified) coreset.
# Results: benchmarks/results/reweight-fashion-mnist.md (the table below is printed at the end).
# Resumable: rerun the same command after an interruption; finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out/reweight-fashion-mnist}
# one torch thread: on a small shared machine, torch's own threads wait on each other
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
COMMON=(--dataset fashion-mnist --protocol reweight --model mlp --epochs 20 --device cpu --seeds 3 --no-report
        --option coreset=0.01)
MODERATE=(--methods moderate:per_class=true)

coreselect bench "${COMMON[@]}" "${MODERATE[@]}" --out "$OUT/clean"
coreselect bench "${COMMON[@]}" "${MODERATE[@]}" --option noise=0.4 --out "$OUT/noise"
# each default undone alone (CW-ERM only)
for ablation in trusted=0 normalize=none meta_epochs=100 same_class=false; do
  coreselect bench "${COMMON[@]}" "${MODERATE[@]}" --option noise=0.4 --option arms=cwerm --option "$ablation" \
    --out "$OUT/noise"
done
# a uniform coreset (stratified by the observed class) instead of the moderate band
coreselect bench "${COMMON[@]}" --methods uniform:stratified=true --option noise=0.4 --option arms=cerm,cwerm \
  --out "$OUT/noise"
# long tail, factor 50: a balanced coreset (the proportional 1% leaves the tail classes one example)
coreselect bench "${COMMON[@]}" "${MODERATE[@]}" --option imbalance=50 --option allocation=balanced \
  --out "$OUT/imbalance"

python - "$OUT" <<'PY'
import json, sys
from collections import defaultdict
from pathlib import Path
import numpy as np

DEFAULTS = {"meta_set": "trusted", "normalize": "batch", "meta_epochs": 20, "same_class": True,
            "selector": "moderate:per_class=true"}
rows = defaultdict(lambda: defaultdict(list))
for cond in ("clean", "noise", "imbalance"):
    for line in (Path(sys.argv[1]) / cond / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("skipped"):
            continue
        k = r["key"]
        changed = [str(k[o]) if o in ("meta_set", "selector") else f"{o}={k[o]}"
                   for o, default in DEFAULTS.items() if o in k and k[o] != default]
        if "meta_set" not in k and k.get("trusted") != 1000:  # erm, cerm: the data hold other verified rows
            changed.append(f"trusted={k.get('trusted')}")
        arm = ", ".join([k["arm"], *changed])
        cell = rows[(cond, arm)]
        cell["acc"].append(r["metrics"]["test_accuracy"])
        cell["total"].append(r["timings"]["total"])
        cell["meta"].append(r["timings"].get("meta_train", np.nan))
        cell["ratio"].append(r["metrics"].get("weight_ratio", np.nan))
        cell["core"].append(r["metrics"].get("coreset_weight_ratio", np.nan))
print("| condition | arm | seeds | test accuracy | wall time (s) | meta-training (s) | weight ratio flipped/clean | coreset ratio |")
print("|---|---|---|---|---|---|---|---|")
for (cond, arm), c in rows.items():
    fmt = lambda v, p: "–" if np.all(np.isnan(v)) else f"{np.nanmean(v):.{p}f} ± {np.nanstd(v):.{p}f}"
    print(f"| {cond} | {arm} | {len(c['acc'])} | {fmt(c['acc'], 4)} | {fmt(c['total'], 1)} | {fmt(c['meta'], 1)} "
          f"| {fmt(c['ratio'], 3)} | {fmt(c['core'], 3)} |")
PY
