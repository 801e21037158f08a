#!/usr/bin/env bash
# CW-ERM on Fashion-MNIST, CPU: ERM, C-ERM (1% moderate per-class coreset alone), CW-ERM (Meta-Weight-Net
# on that coreset, weights broadcast to the full set) and W-ERM (Meta-Weight-Net on the full set), on
# clean data, 40% symmetric label noise and long-tail imbalance factor 50; MLP (784-128-10), 20 epochs,
# 3 seeds, final-epoch test accuracy and wall time per arm.
# Results: benchmarks/results/reweight-fashion-mnist.md (the table below is printed at the end).
# Resumable: rerun the same command after an interruption; finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out/reweight-fashion-mnist}
# one torch thread: on a small shared machine, torch's own threads wait on each other
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
COMMON=(--dataset fashion-mnist --protocol reweight --methods moderate:per_class=true --model mlp --epochs 20
        --device cpu --seeds 3 --no-report --option coreset=0.01 --option coreset_epochs=100)

# clean
coreselect bench "${COMMON[@]}" --out "$OUT/clean"
# 40% symmetric label noise: the four arms as specified (meta split with the observed labels) ...
coreselect bench "${COMMON[@]}" --option noise=0.4 --out "$OUT/noise"
# ... CW-ERM broadcasting only within the observed class, then also with a trusted (true-label) meta split
coreselect bench "${COMMON[@]}" --option noise=0.4 --option arms=cwerm --option same_class=true --out "$OUT/noise"
coreselect bench "${COMMON[@]}" --option noise=0.4 --option arms=cwerm --option clean_meta=true \
  --option same_class=true --out "$OUT/noise"
# long tail, factor 50: a balanced coreset (the proportional 1% leaves the tail classes one example,
# too few for a per-class meta split; Meta-Weight-Net's imbalance setting also uses a balanced meta set)
coreselect bench "${COMMON[@]}" --option imbalance=50 --option allocation=balanced --out "$OUT/imbalance"

python - "$OUT" <<'EOF'
import json, sys
from collections import defaultdict
from pathlib import Path
import numpy as np

rows = defaultdict(lambda: defaultdict(list))
for cond in ("clean", "noise", "imbalance"):
    for line in (Path(sys.argv[1]) / cond / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("skipped"):
            continue
        k = r["key"]
        arm = k["arm"] + "".join(f" {o}" for o in ("same_class", "clean_meta") if k.get(o))
        cell = rows[(cond, arm)]
        cell["acc"].append(r["metrics"]["test_accuracy"])
        cell["total"].append(r["timings"]["total"])
        cell["meta"].append(r["timings"].get("meta_train", np.nan))
        cell["ratio"].append(r["metrics"].get("weight_ratio", np.nan))
        cell["n"].append(r["size"])
print("| condition | arm | seeds | test accuracy | wall time (s) | meta-training (s) | weight ratio flipped/clean |")
print("|---|---|---|---|---|---|---|")
for (cond, arm), c in rows.items():
    fmt = lambda v, p: "–" if np.all(np.isnan(v)) else f"{np.nanmean(v):.{p}f} ± {np.nanstd(v):.{p}f}"
    print(f"| {cond} | {arm} | {len(c['acc'])} | {fmt(c['acc'], 4)} | {fmt(c['total'], 1)} | {fmt(c['meta'], 1)} | {fmt(c['ratio'], 3)} |")
EOF
