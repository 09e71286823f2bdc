#!/usr/bin/env bash
# Issue 13, an experiment: the lumbar-junction network (training/junction_network.py), started from the
# shipped model's vertebra count and trained 1200 steps on its data plus four- and six-lumbar spines of
# the randomised family, validated on standard phantoms and on 30 four- and 30 six-lumbar ones. About
# 17 min on 2 CPU cores once the projections are cached (the 120 validation phantoms of seeds 920000 and
# 930000 take 2 min more the first time). Then measure it:
#   bash benchmarks/train_junction_network.sh
#   .venv/bin/python benchmarks/junction_study.py --junctions runs/junctions/junctions.pt
set -euo pipefail
cd "$(dirname "$0")/.."
SHIPPED=L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json
R=distribution=randomized,fov_profile=archive,coarse_pixel_mm=1.5
export OMP_WAIT_POLICY=PASSIVE
.venv/bin/python -m training.train_junctions "$SHIPPED" --out runs/junctions \
  --data phantoms:1000:100000 --data phantoms:600:200000:fov_profile=archive --data phantoms:800:300000:$R \
  --data phantoms:200:340000:$R,lumbar_count=6 --data phantoms:300:400000:$R,lumbar_count=6 \
  --data phantoms:200:410000:$R,lumbar_count=4 \
  --val-data phantoms:60:900000 --val-data phantoms:60:910000:fov_profile=archive \
  --val-data phantoms:30:920000:$R,lumbar_count=4 --val-data phantoms:30:930000:$R,lumbar_count=6 \
  --steps 1200 --batch-size 8 --lr 5e-4 --validate-every 250 --patience 4 --checkpoint runs/junctions.ckpt
