#!/usr/bin/env bash
# Selection inside the training loop on CPU (METHODS.md, In the training loop; `bench --protocol dynamic`):
# Fashion-MNIST, SmallCNN at width 16 on a random 5,000-image training set per seed, 10 epochs, 3 seeds.
# Per seed, with the same loop and initialisation: full data; InfoBatch at prune ratios 0.5 and 0.7
# (δ = 0.125) and per-epoch random at each InfoBatch run's compute; per-epoch random at 30% and 50%;
# CRAIG and GradMatch re-selecting 30% and 50% every epoch (R = max(1, round(10 / 15)) = 1) from the
# current model's last-layer gradients. Final-epoch test accuracy and wall time with all selection work.
#
#   benchmarks/dynamic_cnn.sh            (results: $OUT, default bench-out/dynamic-cnn)
#
# One torch thread (CORESELECT_NUM_THREADS=1). Resumable. The commit and load average are logged.
set -euo pipefail
cd "$(dirname "$0")/.."
export CORESELECT_NUM_THREADS=1 OMP_NUM_THREADS=1
ROOT=${OUT:-bench-out/dynamic-cnn}
mkdir -p "$ROOT"
ARGS=(--dataset fashion-mnist --protocol dynamic --model cnn --epochs 10 --seeds 3 --device "${DEVICE:-cpu}"
      --no-report --option width=16 --option train_size=5000 --fractions 0.3,0.5 --out "$ROOT")
echo "$(date -u +%FT%TZ) start, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load $(cut -d' ' -f1 /proc/loadavg)"
coreselect bench "${ARGS[@]}" --option arms=infobatch,random,reselect --option prune_ratio=0.5
coreselect bench "${ARGS[@]}" --option arms=infobatch,random --option prune_ratio=0.7
echo "$(date -u +%FT%TZ) end, load $(cut -d' ' -f1 /proc/loadavg)"
