"""Several models on the same test scans, in one run: each phantom is generated once and every model
detects on it, so the comparison is not muddied by different test cases.

    .venv/bin/python benchmarks/compare_models.py --models runs/a.json runs/b.json --count 200 --first-seed 0

Phantoms use realistic slice thickness, noise and archive quirks, with in-plane pixels of ``--pixel-mm``.
Also runs every model on the real scans given with ``--real`` (folders with ct.nii.gz and case.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "L3Spotter"))
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--pixel-mm", type=float, default=2.0)
    parser.add_argument("--real", nargs="*", default=[], help="real case folders (ct.nii.gz + case.json)")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from L3SpotterLib.detector import L3Detector
    from L3SpotterLib.phantom import generate_phantom
    from L3SpotterLib.volume_io import load_ct
    from training.metrics import WRONG_VERTEBRA_MM, share_within_1_slice, share_wrong_or_missed, summarise_errors
    from training.projection_cache import phantom_l3_level

    detectors = {Path(model).stem: L3Detector(model, device="cpu") for model in args.models}
    records = {name: {"mm": [], "slices": [], "missed": 0, "out": 0, "called_out": 0} for name in detectors}
    for seed in tqdm(range(args.first_seed, args.first_seed + args.count), desc="phantoms", file=sys.stderr):
        phantom = generate_phantom(seed, pixel_spacing_mm=args.pixel_mm)
        true_z, in_view = phantom_l3_level(phantom)
        thickness = phantom.geometry.slice_thickness_mm
        for name, detector in detectors.items():
            result = detector.detect_array(phantom.ct, phantom.geometry, source=f"phantom_{seed}")
            record = records[name]
            located = result.status in ("found", "uncertain") and result.l3_z_ras_mm is not None
            if not in_view:
                record["out"] += 1
                record["called_out"] += result.status == "not_in_view"
            elif not located:
                record["missed"] += 1
            else:
                error = abs(result.l3_z_ras_mm - true_z)
                record["mm"].append(error)
                record["slices"].append(error / thickness)

    real_rows = []
    for folder in args.real:
        folder = Path(folder)
        volume = load_ct(folder / "ct.nii.gz")
        truth = json.loads((folder / "case.json").read_text()).get("l3_z_ras_mm")
        answers = []
        for name, detector in detectors.items():
            result = detector.detect_array(volume.voxels, volume.geometry, source=folder.name)
            where = f"slice {result.l3_slice}, {result.l3_z_ras_mm} mm" if result.l3_z_ras_mm is not None else result.l3_position
            error = f", error {abs(result.l3_z_ras_mm - truth):.1f} mm" if truth is not None and result.l3_z_ras_mm is not None else ""
            answers.append(f"{result.status} ({where}{error}, confidence {result.confidence})")
        real_rows.append((folder.name, truth, answers))

    print(f"{args.count} phantoms (seeds {args.first_seed}-{args.first_seed + args.count - 1}), in-plane {args.pixel_mm} mm")
    print(f"| model | mean error (slices) | mean error (mm) | median (mm) | p95 (mm) | within 1 slice | wrong vertebra (> {WRONG_VERTEBRA_MM:.0f} mm or missed) | not in view called so |")
    print("|---|---|---|---|---|---|---|---|")
    for name, record in records.items():
        summary = summarise_errors(record["mm"], record["slices"])
        wrong = share_wrong_or_missed(summary, record["missed"])
        within = share_within_1_slice(summary, record["missed"])
        print(
            f"| {name} | {summary.mean_slices:.2f} ± {summary.sd_slices:.2f} | {summary.mean_mm:.2f} ± {summary.sd_mm:.2f} | "
            f"{summary.median_mm:.2f} | {summary.p95_mm:.2f} | {100 * within:.1f} % | {100 * wrong:.1f} % | "
            f"{100 * record['called_out'] / max(1, record['out']):.0f} % of {record['out']} |"
        )
    for case, truth, answers in real_rows:
        print(f"\nreal scan {case} (reference L3 {truth} mm):")
        for name, answer in zip(detectors, answers):
            print(f"  {name}: {answer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
