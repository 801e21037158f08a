#!/usr/bin/env bash
# Weighted methods with their weights and without: the rows CRAIG selects, trained with weight 1 on every
# row (`--option subset_weights=uniform`) instead of its cluster-size weights (mean 1, up to 30–70 times
# the mean). Random's rows have weight 1 either way; it is rerun under the same key so that the
# scoreboard's "subset_weights uniform" table has its own baseline. The settings of
# benchmarks/oneshot_cnn.sh (SmallCNN width 16, 5,000 training images per seed, proxy and full model
# 10 epochs, the `steps` subset budget, 3 seeds), on Fashion-MNIST and MNIST at 1%, 10% and 30%, written to
# the same directories (the cached proxies are reused).
#
#   benchmarks/unit_weights_cnn.sh [METHODS]   (default craig; resumable; one torch thread; run alone; ~17 min)
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/oneshot_cnn_protocol.sh
METHODS=${1:-craig}
for DATASET in fashion-mnist mnist; do
  oneshot_args "$DATASET"
  echo "$(date -u +%FT%TZ) $DATASET unit weights $METHODS start, commit $COMMIT, load $(load)"
  coreselect bench "${ARGS[@]}" --option subset_weights=uniform --methods "uniform,$METHODS" --fractions 0.01,0.1,0.3
  echo "$(date -u +%FT%TZ) $DATASET unit weights $METHODS end, load $(load)"
done
