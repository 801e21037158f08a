#!/usr/bin/env bash
# BOSS's default schedule, chosen again under the one-shot CNN protocol (METHODS.md, BOSS; Protocols):
# the settings of benchmarks/oneshot_cnn.sh (SmallCNN width 16, 5,000 training images per seed, proxy
# and full model 10 epochs, EL2N over the first 10 epochs and features from epoch 10, the `steps`
# subset budget, 3 seeds), Fashion-MNIST then MNIST, every fraction, over a grid of
#   alpha  0 (pure diversity), 1, 2;  peak 0.5, 0.8;  cutoff 0, 0.1, 0.3
# with the kNN similarity (the default), plus alpha 1 / peak 0.8 with the importance on the gain and
# with the authors' all-pairs similarity. Random and facility location run beside it (the same records
# as the headline when both write to the same directory). The scoreboard then shows, per fraction,
# which setting beats alpha = 0; the schedule in coreselect.methods.boss.SCHEDULE follows it, and if
# none does, alpha = 0 is the default.
#
#   benchmarks/boss_schedule_cnn.sh            (resumable; one torch thread; run alone on the machine)
#   GRID=boss:alpha=0:cutoff=0.1,... FRACTIONS=0.01,0.1,0.3 benchmarks/boss_schedule_cnn.sh   (only these)
#
# 19 methods x 5 fractions x 3 seeds x 2 datasets: about 570 subset trainings, each a full training under
# the steps budget (about 65 s on one CPU core; DEVICE=cuda runs them on a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/oneshot_cnn_protocol.sh
mkdir -p "$ROOT"
if [ -z "${GRID:-}" ]; then
  GRID=uniform,facility-location
  for CUT in 0 0.1 0.3; do
    GRID+=",boss:alpha=0:cutoff=$CUT"
    for ALPHA in 1 2; do
      for PEAK in 0.5 0.8; do
        GRID+=",boss:alpha=$ALPHA:peak=$PEAK:cutoff=$CUT"
      done
    done
  done
  GRID+=",boss:alpha=1:peak=0.8:cutoff=0.1:importance_on=gain,boss:alpha=1:peak=0.8:cutoff=0.1:similarity=global"
fi
for DATASET in fashion-mnist mnist; do
  echo "$(date -u +%FT%TZ) $DATASET BOSS grid start, commit $COMMIT, load $(load)"
  oneshot_args "$DATASET"
  coreselect bench "${ARGS[@]}" --methods "$GRID" --fractions "${FRACTIONS:-0.01,0.05,0.1,0.2,0.3}"
  echo "$(date -u +%FT%TZ) $DATASET BOSS grid end, load $(load)"
done
