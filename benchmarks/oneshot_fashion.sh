#!/usr/bin/env bash
# One-shot selection on Fashion-MNIST, CPU: every method on the same proxy signals (an MLP trained on all
# 60,000 training images), a fresh MLP trained on each subset, final-epoch test accuracy on the 10,000 test
# images, 3 seeds. Results: benchmarks/results/oneshot-fashion-mnist-cpu.md
# One torch thread: on an oversubscribed shared machine it trains an order of magnitude faster than two.
# gradmatch (the slowest selection) runs second, on the same cached proxies, so the others finish first.
# Resumable: rerun the script after an interruption and only the missing runs are done.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
OUT=${OUT:-bench-out/oneshot-fashion-mnist-cpu}
METHODS=uniform,moderate,herding,prune:signal=el2n,prune:signal=forgetting,prune:signal=aum,boss,ccs,coreset,leverage,kcenter,craig,facility-location,sensitivity
ARGS=(--dataset fashion-mnist --protocol oneshot --model mlp --epochs 8 --device cpu
      --fractions 0.01,0.05,0.1,0.2,0.3 --seeds 3 --out "$OUT")
coreselect bench "${ARGS[@]}" --methods "$METHODS" --no-report
coreselect bench "${ARGS[@]}" --methods "$METHODS,gradmatch"
