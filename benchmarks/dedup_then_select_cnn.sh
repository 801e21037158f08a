#!/usr/bin/env bash
# SemDeDup as a first step (METHODS.md, More one-shot methods): SemDeDup with its defaults keeps half of
# the training set (on the proxy's epoch-10 features), then random, BOSS and facility location each select
# 10% of the whole set among the rows it kept (`--option dedup=0.5`). The settings of
# benchmarks/oneshot_cnn.sh (SmallCNN width 16, 5,000 Fashion-MNIST training images per seed, proxy and
# full model 10 epochs, the `steps` subset budget, 3 seeds), written to the same directory so that the
# scoreboard shows the deduplicated rows (their own table, "dedup 0.5") beside the plain ones.
#
#   benchmarks/dedup_then_select_cnn.sh     (resumable; one torch thread; run alone on the machine; ~10 min)
set -euo pipefail
cd "$(dirname "$0")/.."
export CORESELECT_NUM_THREADS=1 OMP_NUM_THREADS=1
ROOT=${OUT:-bench-out/oneshot-cnn}
echo "$(date -u +%FT%TZ) dedup start, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load $(cut -d' ' -f1 /proc/loadavg)"
coreselect bench --dataset fashion-mnist --protocol oneshot --model cnn --epochs 10 --device "${DEVICE:-cpu}" --seeds 3 \
  --no-report --option width=16 --option train_size=5000 --option dedup=0.5 --out "$ROOT/fashion-mnist" \
  --methods uniform,boss,facility-location --fractions 0.1
echo "$(date -u +%FT%TZ) dedup end, load $(cut -d' ' -f1 /proc/loadavg)"
