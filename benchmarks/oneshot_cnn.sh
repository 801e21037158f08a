#!/usr/bin/env bash
# The CNN headline of the one-shot evaluation on CPU (METHODS.md, Protocols): Fashion-MNIST, then MNIST;
# SmallCNN at width 16 on a random 5,000-image training set per seed, 10 epochs for the full-data model
# and the signal proxy (EL2N over its 10 epochs, features and logits from epoch 10); every subset model
# gets the full model's SGD steps (`subset_budget=steps`); the `epochs` budget at 1% and 10% beside it.
# Final-epoch accuracy on the 10,000 test images, 3 seeds. Results: benchmarks/results/oneshot-cnn/
# and the scoreboard (benchmarks/results/scoreboard.md).
#
#   benchmarks/oneshot_cnn.sh [METHODS ...]     (each argument one comma-separated group; default: all)
#
# One torch thread (CORESELECT_NUM_THREADS=1): the small CNN trains several times faster with one
# thread than with two on 2-core machines. Run it alone on the machine; every results line records
# its timings, and the commit and load average are logged at the start and end of each group.
# Resumable: rerun after an interruption and only the missing runs are done. Methods run group by
# group, so an interrupted run leaves complete rows.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/oneshot_cnn_protocol.sh
mkdir -p "$ROOT"
GROUPS_DEFAULT=(
  uniform,moderate,prune:signal=el2n,prune:signal=aum,prune:signal=forgetting,herding,kcenter
  boss,boss:similarity=global,ccs,ccs:aum=prob,facility-location
  craig,gradmatch,coreset,leverage
)
[ $# -gt 0 ] && METHOD_GROUPS=("$@") || METHOD_GROUPS=("${GROUPS_DEFAULT[@]}")
for DATASET in fashion-mnist mnist; do
  oneshot_args "$DATASET"
  for METHODS in "${METHOD_GROUPS[@]}"; do
    echo "$(date -u +%FT%TZ) $DATASET $METHODS start, commit $COMMIT, load $(load)"
    coreselect bench "${ARGS[@]}" --methods "$METHODS" --fractions 0.01,0.05,0.1,0.2,0.3
    coreselect bench "${ARGS[@]}" --methods "$METHODS" --fractions 0.01,0.1 --option subset_budget=epochs
    echo "$(date -u +%FT%TZ) $DATASET $METHODS end, load $(load)"
  done
done
