#!/usr/bin/env bash
# The one-shot check on a GPU (METHODS.md, Protocols): Fashion-MNIST with the CIFAR ResNet-18, the BOSS
# paper's optimiser (SGD, momentum 0.9, weight decay 5e-4, lr 0.1, batch 256, cosine), the proxy and the full model
# trained EPOCHS epochs (EL2N over the first 10, features from epoch 10), random / BOSS / CCS / moderate /
# facility location at 10% and 30% under the `epochs` budget (the BOSS paper's Table 9 convention:
# subset models train as many epochs as the full model, so their time columns compare), 2 seeds.
#
#   DATA=DIR benchmarks/oneshot_gpu.sh      (DIR holds fashion-mnist/; EPOCHS=30 by default)
#
# A machine without faiss (a bare GPU host) installs it from wheels in .whl/ when they are there
# (pip download faiss-cpu kmedoids -d .whl on a machine with the registries). Resumable.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import faiss" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  pip install --no-index --find-links .whl faiss-cpu kmedoids -q
fi
python -c "import coreselect" 2>/dev/null || pip install --no-deps -e . -q
EPOCHS=${EPOCHS:-30}
OUT=${OUT:-bench-out/oneshot-gpu}
mkdir -p "$(dirname "$OUT")"
echo "$(date -u +%FT%TZ) start, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
python -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
coreselect bench --dataset fashion-mnist --data-root "${DATA:-../shared/data}" --protocol oneshot --model resnet18 \
  --epochs "$EPOCHS" --device cuda --seeds 2 --option lr=0.1 --option batch_size=256 --option subset_budget=epochs \
  --methods uniform,boss,ccs,moderate,facility-location --fractions 0.1,0.3 --out "$OUT"
echo "$(date -u +%FT%TZ) end"
