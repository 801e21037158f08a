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
source benchmarks/oneshot_cnn_protocol.sh
echo "$(date -u +%FT%TZ) dedup start, commit $COMMIT, load $(load)"
oneshot_args fashion-mnist
coreselect bench "${ARGS[@]}" --option dedup=0.5 --methods uniform,boss,facility-location --fractions 0.1
echo "$(date -u +%FT%TZ) dedup end, load $(load)"
