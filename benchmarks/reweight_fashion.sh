#!/usr/bin/env bash
# CW-ERM on Fashion-MNIST with the small CNN, CPU (METHODS.md, CW-ERM and Protocols): SmallCNN at width
# 16 on a random training set of TRAIN_SIZE = 10,000 images per seed, 10 epochs, 3 seeds, final-epoch
# accuracy on the 10,000 test images, wall time per arm, and the flipped/clean mean-weight ratio of the
# reweighted coreset rows before the broadcast (`coreset_weight_ratio`) and of the full set after it
# (`weight_ratio`; W-ERM: its learned weights).
#
# Conditions: clean; 40% symmetric noise (exactly 40% of the labels moved to another class); 40%
# Meta-Weight-Net `uniform_mix` noise (each label redrawn from all 10 classes with probability 0.4:
# about 36% wrong); long tail, imbalance 50 (then TRAIN_SIZE of the long-tailed rows).
# Arms: ERM; C-ERM and CW-ERM, each with the per-class moderate coreset and with a class-stratified
# uniform one; W-ERM (Meta-Weight-Net on the full set); the oracle ceiling (weighted ERM, weight 0 on
# every label the noise changed; recorded as skipped on the clean and long-tailed data).
#
# Sizes. The trusted meta set is Meta-Weight-Net's 1,000 clean rows (its official code: 100 per class;
# here class-stratified, so about 100 per class on balanced data), i.e. TRAIN_SIZE / 10. Their labels
# are the true ones in every arm, so 36% of the labels are wrong under 40% symmetric noise (40% of the
# other 9,000 rows), about 32% under uniform_mix. The coreset is 5%, 500 rows (the protocol's 1% would
# be 100, ten per class, too few for the CNN); about 50 of them are trusted rows, which stay in the
# meta set, so CW-ERM reweights about 450 rows against W-ERM's 9,000. Under the long tail the coreset
# is split equally over the classes (`allocation=balanced`, 50 per class; the tail class has about 70
# rows). Protocol defaults kept: 1 feature-model epoch, 100 C-ERM epochs on the coreset, 20
# Meta-Weight-Net epochs on it, batch-sum weight normalisation, same-class broadcast with k = 1.
#
# `imbalance-balanced-meta` (not in the default list): the long tail with Meta-Weight-Net's own long-tail
# meta set, a balanced trusted split of TRAIN_SIZE / 100 rows (ten per class) instead of the proportional
# one, whose meta loss is as long-tailed as the training set.
#
# `sweep` (not in the default list) checks those defaults together: the CW-ERM arm under 40% symmetric
# noise with the uniform coreset (the one that holds noise to learn from), normalisation (batch, none)
# × meta epochs (20, 100), and label-agnostic broadcast at the defaults; its records join the
# symmetric condition's (the default cell is already there and is not rerun). About 70 min.
#
# Time on one unloaded core (measured under 40% symmetric noise, 3 seeds): ERM ≈ 135 s per seed; C-ERM ≈
# 85 s; CW-ERM ≈ 200 s (≈ 70 s meta-training); W-ERM ≈ 620 s; the oracle ≈ 135 s. Per condition (3 seeds,
# both coresets): ≈ 75 min; in total ≈ 5 h.
#
#   benchmarks/reweight_fashion.sh [CONDITION ...]   (clean symmetric uniform-mix imbalance sweep
#                                                    imbalance-balanced-meta; default the first four)
#
# Environment: OUT (default bench-out/reweight-fashion-mnist), SEEDS (3), TRAIN_SIZE (10000), EPOCHS
# (10); smaller values for a quick check of the commands. One torch thread (CORESELECT_NUM_THREADS=1,
# OMP_NUM_THREADS=1), as the estimates assume. Wall times are recorded: run nothing else alongside;
# the commit and the 1-min load average are logged ($OUT/log.txt) at the start and end of each
# condition. Resumable: rerun the same command after an interruption and only the missing runs are
# done. The table is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export CORESELECT_NUM_THREADS=1 OMP_NUM_THREADS=1
ALL=(clean symmetric uniform-mix imbalance)
[ $# -gt 0 ] && CONDITIONS=("$@") || CONDITIONS=("${ALL[@]}")
for name in "${CONDITIONS[@]}"; do
  [[ " ${ALL[*]} sweep imbalance-balanced-meta " == *" $name "* ]] ||
    { echo "unknown condition $name; choose among ${ALL[*]} sweep imbalance-balanced-meta" >&2; exit 2; }
done
OUT=${OUT:-bench-out/reweight-fashion-mnist}
SEEDS=${SEEDS:-3}
TRAIN_SIZE=${TRAIN_SIZE:-10000}
EPOCHS=${EPOCHS:-10}
mkdir -p "$OUT"
COMMIT=$(git describe --always --dirty 2>/dev/null || echo unknown)
COMMON=(--dataset fashion-mnist --protocol reweight --model cnn --epochs "$EPOCHS" --device cpu --seeds "$SEEDS"
        --no-report --option width=16 --option train_size="$TRAIN_SIZE" --option coreset=0.05)
# the trusted meta set: TRAIN_SIZE / 10 rows, class-stratified (imbalance-balanced-meta: its own)
TRUSTED=(--option trusted=$((TRAIN_SIZE / 10)))
MODERATE=(--methods moderate:per_class=true)
UNIFORM=(--methods uniform:stratified=true --option arms=cerm,cwerm)

stamp() {
  echo "$(date -u +%FT%TZ) $1, commit $COMMIT, load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT/log.txt"
}

# condition name, then its options
run_condition() {
  local name=$1
  shift
  stamp "$name start"
  coreselect bench "${COMMON[@]}" "${TRUSTED[@]}" "${MODERATE[@]}" "$@" --out "$OUT/$name"
  coreselect bench "${COMMON[@]}" "${TRUSTED[@]}" "${UNIFORM[@]}" "$@" --out "$OUT/$name"
  stamp "$name end"
}

for name in "${CONDITIONS[@]}"; do
  case $name in
    clean) run_condition clean ;;
    symmetric) run_condition symmetric --option noise=0.4 ;;
    uniform-mix) run_condition uniform-mix --option noise=0.4 --option noise_kind=uniform_mix ;;
    imbalance) run_condition imbalance --option imbalance=50 --option allocation=balanced ;;
    imbalance-balanced-meta)  # in a subshell: its trusted set does not outlive the condition
      (TRUSTED=(--option trusted=$((TRAIN_SIZE / 100)) --option trusted_allocation=balanced)
       run_condition imbalance-balanced-meta --option imbalance=50 --option allocation=balanced) ;;
    sweep)
      stamp "sweep start"
      SWEEP=("${COMMON[@]}" "${TRUSTED[@]}" --methods uniform:stratified=true --option arms=cwerm --option noise=0.4 --out "$OUT/symmetric")
      for NORMALIZE in batch none; do
        for META_EPOCHS in 20 100; do
          coreselect bench "${SWEEP[@]}" --option normalize=$NORMALIZE --option meta_epochs=$META_EPOCHS
        done
      done
      coreselect bench "${SWEEP[@]}" --option same_class=false
      stamp "sweep end" ;;
  esac
done

python - "$OUT" <<'PY'
import json, sys
from collections import defaultdict
from pathlib import Path
import numpy as np

CONDITIONS = {"clean": "clean", "symmetric": "symmetric 40%", "uniform-mix": "uniform_mix 40%",
              "imbalance": "imbalance 50", "imbalance-balanced-meta": "imbalance 50, balanced trusted set"}
# key fields whose value, when not this default, is named in the arm's row
DEFAULTS = {"meta_set": "trusted", "normalize": "batch", "meta_epochs": 20, "same_class": True, "k": 1}
rows = defaultdict(lambda: defaultdict(list))
skipped = defaultdict(set)
for cond, label in CONDITIONS.items():
    path = Path(sys.argv[1]) / cond / "results.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        r = json.loads(line)
        k = r["key"]
        if r.get("skipped"):
            skipped[(label, k["arm"])].add(r["skipped"])
            continue
        changed = [f"{o}={k[o]}" for o, default in DEFAULTS.items() if o in k and k[o] != default]
        arm = " ".join([k["arm"], *([k["selector"].split(":")[0]] if "selector" in k else []), *changed])
        cell = rows[(label, arm)]
        m, t = r["metrics"], r["timings"]
        cell["acc"].append(m["test_accuracy"])
        cell["total"].append(t["total"])
        cell["meta"].append(t.get("meta_train", np.nan))
        cell["noisy"].append(m.get("noisy_fraction", np.nan))
        cell["core"].append(m.get("coreset_weight_ratio", np.nan))
        cell["ratio"].append(m.get("weight_ratio", np.nan))

def fmt(values, digits):
    v = np.asarray(values, dtype=float)
    return "–" if np.all(np.isnan(v)) else f"{np.nanmean(v):.{digits}f} ± {np.nanstd(v):.{digits}f}"

print("| condition | arm | seeds | test accuracy | wall time (s) | meta-training (s) | coreset flipped share "
      "| flipped/clean weight, coreset (before broadcast) | flipped/clean weight, full set (after broadcast) |")
print("|---|---|---|---|---|---|---|---|---|")
for (cond, arm), c in rows.items():
    print(f"| {cond} | {arm} | {len(c['acc'])} | {fmt(c['acc'], 4)} | {fmt(c['total'], 1)} | {fmt(c['meta'], 1)} "
          f"| {fmt(c['noisy'], 3)} | {fmt(c['core'], 3)} | {fmt(c['ratio'], 3)} |")
if skipped:
    print()
for (cond, arm), reasons in skipped.items():
    print(f"skipped: {cond}, {arm}: {'; '.join(sorted(reasons))}")
PY
