"""Accuracy and time against the window stride, on synthetic test phantoms, in one run.

    .venv/bin/python benchmarks/stride_tradeoff.py --count 100 --first-seed 0

Each phantom is generated once (realistic slice thickness, noise and archive quirks; in-plane pixels of
``--pixel-mm``) and projected once; then the windows, the CNN and the correlation run at every stride.
Prints, per stride, the error on the phantoms whose L3 is in view, the share on the wrong vertebra, the
share of the out-of-view phantoms called not in view, and the median time of windows + CNN + correlation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "L3Spotter"))
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--pixel-mm", type=float, default=2.0)
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from L3SpotterLib.detector import L3Detector
    from L3SpotterLib.phantom import generate_phantom
    from L3SpotterLib.pipeline import locate
    from training.metrics import WRONG_VERTEBRA_MM, share_wrong_or_missed, summarise_errors

    detector = L3Detector(args.model, device="cpu")
    card = detector.card
    records = {stride: {"errors": [], "slices": [], "missed": 0, "out": 0, "called_out": 0, "seconds": []} for stride in args.strides}
    for seed in tqdm(range(args.first_seed, args.first_seed + args.count), desc="phantoms", file=sys.stderr):
        phantom = generate_phantom(seed, pixel_spacing_mm=args.pixel_mm)
        geometry = phantom.geometry
        true_z, in_view = phantom.l3_truth()
        projections = detector.projections(phantom.ct, geometry)
        stacked = np.stack([p.pixels for p in projections])
        for stride in args.strides:
            record = records[stride]
            started = time.perf_counter()
            match = locate(stacked, detector.model, stride)
            record["seconds"].append(time.perf_counter() - started)
            found = match.l3_row is not None and match.l3_position not in ("above_scan", "below_scan")
            if not in_view:
                record["out"] += 1
                record["called_out"] += not found
                continue
            if not found:
                record["missed"] += 1
                continue
            error_mm = abs(float(projections[0].row_to_z_ras_mm(match.l3_row)) - true_z)
            record["errors"].append(error_mm)
            record["slices"].append(error_mm / geometry.slice_thickness_mm)

    print(f"model {card.name}; {args.count} phantoms (seeds {args.first_seed}-{args.first_seed + args.count - 1}), in-plane {args.pixel_mm} mm")
    print(f"| stride (px) | mean error (mm) | median (mm) | p95 (mm) | wrong vertebra (> {WRONG_VERTEBRA_MM:.0f} mm or missed) | not in view called so | locate: windows, CNN, correlation, count (median) |")
    print("|---|---|---|---|---|---|---|")
    for stride, record in records.items():
        summary = summarise_errors(record["errors"], record["slices"])
        wrong = share_wrong_or_missed(summary, record["missed"])
        called = record["called_out"] / max(1, record["out"])
        print(
            f"| {stride} | {summary.mean_mm:.2f} ± {summary.sd_mm:.2f} | {summary.median_mm:.2f} | {summary.p95_mm:.2f} | "
            f"{100 * wrong:.1f} % | {100 * called:.0f} % of {record['out']} | {np.median(record['seconds']):.2f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
