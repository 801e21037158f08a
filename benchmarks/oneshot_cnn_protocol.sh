# The one-shot CNN protocol shared by oneshot_cnn.sh, boss_schedule_cnn.sh and dedup_then_select_cnn.sh
# (sourced, not run): their records share a directory, so every key field must agree. SmallCNN width 16
# on 5,000 training images per seed, proxy and full model 10 epochs, 3 seeds, one torch thread.
export CORESELECT_NUM_THREADS=1 OMP_NUM_THREADS=1
ROOT=${OUT:-bench-out/oneshot-cnn}
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

# oneshot_args DATASET: sets ARGS to the bench arguments of the protocol on DATASET, written to $ROOT/DATASET.
oneshot_args() {
  ARGS=(--dataset "$1" --protocol oneshot --model cnn --epochs 10 --device "${DEVICE:-cpu}" --seeds 3 --no-report
        --option width=16 --option train_size=5000 --out "$ROOT/$1")
}

# load: the 1-minute load average.
load() { cut -d' ' -f1 /proc/loadavg; }
