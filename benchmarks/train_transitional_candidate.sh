#!/usr/bin/env bash
# Issue 13: the "transitional" candidate. Both networks of the shipped model fine-tuned for 1000 steps with
# 300 six-lumbar and 200 four-lumbar spines of the randomised family added to the shipped model's data,
# so that counting up from the sacrum stops paying off: L3 is counted from the thoracolumbar junction.
# About 50 min on 2 CPU cores: about 10 min of projections for the 500 new phantoms, then the two
# trainings side by side (one thread each, 40 min). Writes runs/v4cand/ (card + both networks, the shipped
# model's confidence threshold until calibrated: see docs/results/candidate_transitional/README.md).
#   bash benchmarks/train_transitional_candidate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHIPPED=L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json
RANDOMIZED=phantoms:800:300000:distribution=randomized,fov_profile=archive,coarse_pixel_mm=1.5
SIX=phantoms:300:400000:distribution=randomized,fov_profile=archive,coarse_pixel_mm=1.5,lumbar_count=6
FOUR=phantoms:200:410000:distribution=randomized,fov_profile=archive,coarse_pixel_mm=1.5,lumbar_count=4
export OMP_WAIT_POLICY=PASSIVE
mkdir -p runs/v4count runs/v4window runs/v4cand
# The count is trained into a copy of the shipped card (train_count attaches it to the card it is given).
cp "$SHIPPED" "$(dirname "$SHIPPED")"/*.pt runs/v4count/

# The new phantoms' projections first, once (both trainings read the same cache; run side by side, each
# would compute the missing ones itself).
.venv/bin/python - "$SHIPPED" "$SIX" "$FOUR" <<'PY'
import sys
from pathlib import Path
sys.path[:0] = ["L3Spotter", "."]
from L3SpotterLib.model_card import read_card
from training.annotations import read_data_spec
from training.projection_cache import ProjectionSpec, load_projections
card = read_card(Path(sys.argv[1]))
spec = ProjectionSpec(tuple(card.views), card.grid, phantom_voxel_mm=2.0, phantom_intensity_randomization=0.5)
for data in sys.argv[2:]:
    load_projections(read_data_spec(data, keep_out_of_view=True), spec, Path("cache/projections"), workers=2)
PY

.venv/bin/python -m training.train_count runs/v4count/l3spotter_mobilenet_v2.json \
  --data phantoms:1000:100000 --data phantoms:600:200000:fov_profile=archive --data $RANDOMIZED --data $SIX --data $FOUR \
  --data non_anatomical:300:0 \
  --val-data phantoms:60:900000 --val-data phantoms:60:910000:fov_profile=archive --val-data non_anatomical:30:5000 \
  --pretrained $SHIPPED --lr 3e-4 --steps 1000 --validate-every 250 --patience 6 --checkpoint runs/v4count.ckpt \
  --threads 1 > runs/v4count/log.txt 2>&1 &
.venv/bin/python -m training.train --data phantoms:1000:100000 --data phantoms:600:200000:fov_profile=archive \
  --data $RANDOMIZED --data $SIX --data $FOUR \
  --val-data phantoms:60:900000 --val-data phantoms:60:910000:fov_profile=archive \
  --out runs/v4window/l3spotter_mobilenet_v2.json --views frontal,lateral --intensity-randomization 0.5 \
  --pretrained $SHIPPED --lr 2e-4 --steps 1000 --validate-every 250 \
  --patience 20 --head-dropout 0 --checkpoint runs/v4window.ckpt --threads 1 > runs/v4window/log.txt 2>&1
wait

# The candidate: the window regressor's card with the new count attached.
.venv/bin/python - "$SHIPPED" <<'PY'
import shutil, sys
from pathlib import Path
sys.path.insert(0, "L3Spotter")
from L3SpotterLib.model_card import read_card, write_card
out = Path("runs/v4cand")
window = read_card(Path("runs/v4window/l3spotter_mobilenet_v2.json"))
count = read_card(Path("runs/v4count/l3spotter_mobilenet_v2.json"))
shipped = read_card(Path(sys.argv[1]))
shutil.copy("runs/v4window/l3spotter_mobilenet_v2.pt", out / "l3spotter_mobilenet_v2.pt")
shutil.copy("runs/v4count/" + count.vertebra_count["weights_file"], out / count.vertebra_count["weights_file"])
window.name = shipped.name
window.vertebra_count = count.vertebra_count
window.confidence_threshold = shipped.confidence_threshold
window.valid_input = shipped.valid_input
write_card(window, out / "l3spotter_mobilenet_v2.json")
print("wrote", out / "l3spotter_mobilenet_v2.json")
PY
