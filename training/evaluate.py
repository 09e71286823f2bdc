"""Measure a model with the full engine (volume -> MIP -> windows -> CNN -> correlation -> result).

    python -m training.evaluate --model L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json \\
        --data phantoms:500:0 --csv docs/results/synthetic_test.csv

Phantoms are generated with realistic acquisitions (slice thickness, in-plane pixels, noise, HU caps,
padding) unless ``--phantom-voxel-mm`` is given; ``--phantom-pixel-mm`` coarsens only the in-plane pixels. Prints the error table on the cases whose L3 is in view, and how the
cases whose L3 is not in view were called.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from L3SpotterLib.atomic_files import atomic_write_text
from L3SpotterLib.geometry import VolumeGeometry

from .annotations import AnnotatedScan, add_labels_argument, parse_override, read_data_spec
from .metrics import ErrorSummary, summarise_errors


@dataclass
class CaseOutcome:
    case_id: str
    in_view: bool
    true_z_ras_mm: float | None
    true_slice: int | None
    status: str
    l3_slice: int | None
    l3_z_ras_mm: float | None
    confidence: float | None
    l3_position: str
    edge_distance_mm: float | None  # from L3's answer to the nearest scan edge (the confidence falls within 50 mm)
    slice_thickness_mm: float
    error_mm: float | None
    error_slices: float | None
    variants: str = ""
    message: str = ""
    # whole: L3 wholly in the scan; cut: partly in it (the chest CT that ends in L3); absent: none of it.
    l3_visibility: str = ""
    window_spread_mm: float | None = None  # the windows' scatter about the answer (pipeline.MAX_WINDOW_SPREAD_MM)
    vertebra_phase: float | None = None  # the answer between two discs: 0 on one (pipeline.MIN_VERTEBRA_PHASE)


# Each worker process loads the models once.
_worker_detectors: list = []
_worker_stride = None


def _init_worker(models: list, stride: int | None, threads: int) -> None:
    import torch

    from L3SpotterLib.detector import L3Detector

    global _worker_detectors, _worker_stride
    torch.set_num_threads(threads)
    _worker_detectors = [L3Detector(model, device="cpu") for model in models]
    _worker_stride = stride


@dataclass
class ScanUnderTest:
    """A volume to detect in, and the truth to score the answer against."""

    voxels: np.ndarray
    geometry: VolumeGeometry
    source: str
    true_z_ras_mm: float | None
    in_view: bool
    true_slice: int | None
    visibility: str
    variants: str = ""


def load_scan_under_test(scan: AnnotatedScan, phantom_voxel_mm=None, phantom_pixel_mm=None, phantom_overrides: dict | None = None) -> ScanUnderTest:
    """The volume of a phantom, a non-anatomical object or a file, with its truth."""
    if scan.origin == "non_anatomical":
        from L3SpotterLib.phantom.non_anatomical import non_anatomical_volume

        kind = dict(scan.phantom_overrides)["kind"]
        voxels, ijk_to_ras = non_anatomical_volume(kind, scan.phantom_seed)
        geometry = VolumeGeometry(ijk_to_ras, tuple(reversed(voxels.shape)))
        return ScanUnderTest(voxels, geometry, scan.case_id, None, False, None, "absent", f"non_anatomical={kind}")
    if scan.phantom_seed is not None:
        from L3SpotterLib.phantom import generate_phantom

        overrides = {**dict(scan.phantom_overrides), **(phantom_overrides or {})}
        # Evaluation only: the array read the other way along k under the same header (head and feet
        # swapped in the header, as a broken conversion leaves them).
        header_flipped = bool(overrides.pop("header_flipped", False))
        # Evaluation only: front and back (and left and right) read the other way under the same header, as a
        # volume written in LPS with a RAS header (a common conversion slip) shows both.
        front_back_swapped = bool(overrides.pop("header_front_back_swapped", False))
        left_right_swapped = bool(overrides.pop("header_left_right_swapped", False))
        if phantom_pixel_mm is not None:
            overrides["pixel_spacing_mm"] = phantom_pixel_mm
        phantom = generate_phantom(scan.phantom_seed, voxel_mm=phantom_voxel_mm, **overrides)
        true_z, in_view = phantom.l3_truth()
        true_slice = phantom.case.get("l3_slice")
        variants = ";".join(f"{key}={value}" for key, value in sorted(_flat_variants(phantom.variants).items()))
        geometry = phantom.geometry
        voxels = phantom.ct
        if header_flipped:
            voxels = np.ascontiguousarray(voxels[::-1])
            true_z = float(geometry.slice_to_z_ras_mm(geometry.n_slices - 1 - geometry.z_ras_mm_to_slice(true_z)))
            if true_slice is not None:
                true_slice = geometry.n_slices - 1 - true_slice
            variants += ";header_flipped=True"
        for swapped, ijk_axis, name in ((front_back_swapped, geometry.ap_axis, "front_back"), (left_right_swapped, geometry.lr_axis, "left_right")):
            if swapped:
                voxels = np.ascontiguousarray(np.flip(voxels, axis=2 - ijk_axis))
                variants += f";header_{name}_swapped=True"
        return ScanUnderTest(voxels, geometry, scan.case_id, true_z, bool(in_view), true_slice, phantom_l3_visibility(phantom.case), variants)
    from L3SpotterLib.volume_io import load_ct

    volume = load_ct(scan.ct_path)
    true_z = scan.l3_z_ras_mm
    true_slice = None if true_z is None else int(np.floor(volume.geometry.z_ras_mm_to_slice(true_z) + 0.5))
    return ScanUnderTest(volume.voxels, volume.geometry, scan.ct_path, true_z, true_z is not None, true_slice, "whole" if true_z is not None else "")


def score(case_id: str, under_test: ScanUnderTest, result) -> CaseOutcome:
    """Compare one detection with the truth."""
    thickness = under_test.geometry.slice_thickness_mm
    error_mm = error_slices = None
    if under_test.in_view and result.l3_z_ras_mm is not None and result.status in ("found", "uncertain"):
        error_mm = abs(result.l3_z_ras_mm - under_test.true_z_ras_mm)
        error_slices = abs(result.l3_slice - under_test.true_slice) if under_test.true_slice is not None else error_mm / thickness
    return CaseOutcome(
        case_id=case_id, in_view=under_test.in_view, true_z_ras_mm=under_test.true_z_ras_mm, true_slice=under_test.true_slice,
        status=result.status, l3_slice=result.l3_slice, l3_z_ras_mm=result.l3_z_ras_mm, confidence=result.confidence,
        l3_position=result.l3_position, edge_distance_mm=result.edge_distance_mm, slice_thickness_mm=thickness, error_mm=error_mm,
        error_slices=error_slices, variants=under_test.variants, message=result.message, l3_visibility=under_test.visibility,
        window_spread_mm=result.window_spread_mm, vertebra_phase=result.vertebra_phase,
    )


def phantom_l3_visibility(case: dict) -> str:
    """How much of L3 a phantom's scan holds: whole, cut (some L3 label voxels) or absent (none)."""
    if case.get("l3_slice") is not None:
        return "whole"
    return "cut" if "L3" in case.get("vertebrae", {}) else "absent"


def _flat_variants(variants: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in (variants or {}).items():
        if isinstance(value, dict):
            flat.update(_flat_variants(value, f"{prefix}{key}."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            flat[f"{prefix}{key}"] = value
    return flat


def _evaluate_job(job) -> list[CaseOutcome]:
    """One scan, loaded once and detected by every model of the worker."""
    scan, phantom_voxel_mm, phantom_pixel_mm, phantom_overrides = job
    try:
        under_test = load_scan_under_test(scan, phantom_voxel_mm, phantom_pixel_mm, phantom_overrides)
        return [score(scan.case_id, under_test, detector.detect_array(under_test.voxels, under_test.geometry, source=under_test.source, stride_px=_worker_stride))
                for detector in _worker_detectors]
    except Exception as error:  # one broken case must not end a long evaluation
        failed = CaseOutcome(scan.case_id, False, None, None, "error", None, None, None, "unknown", None, 0.0, None, None, message=f"{type(error).__name__}: {error}")
        return [failed for _ in _worker_detectors]


def evaluate(scans, model=None, stride=None, workers=1, phantom_voxel_mm=None, phantom_pixel_mm=None, phantom_overrides=None, progress=True) -> list[CaseOutcome]:
    return evaluate_models(scans, [model], stride, workers, phantom_voxel_mm, phantom_pixel_mm, phantom_overrides, progress)[0]


def evaluate_models(scans, models: list, stride=None, workers=1, phantom_voxel_mm=None, phantom_pixel_mm=None, phantom_overrides=None,
                    progress=True) -> list[list[CaseOutcome]]:
    """Every model on the same scans (each scan is generated or read once): outcomes per model, per scan."""
    from tqdm import tqdm

    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    jobs = [(scan, phantom_voxel_mm, phantom_pixel_mm, phantom_overrides) for scan in scans]
    per_scan = []
    with tqdm(total=len(jobs), desc="evaluating", unit="scan", disable=not progress, file=sys.stderr) as bar:
        if workers > 1:
            with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(models, stride, threads)) as pool:
                for outcomes in pool.map(_evaluate_job, jobs, chunksize=2):
                    per_scan.append(outcomes)
                    bar.update(1)
        else:
            _init_worker(models, stride, threads)
            for job in jobs:
                per_scan.append(_evaluate_job(job))
                bar.update(1)
    return [[outcomes[index] for outcomes in per_scan] for index in range(len(models))]


@dataclass
class EvaluationReport:
    in_view: ErrorSummary
    n_in_view: int
    n_in_view_missed: int  # in view, but called not_in_view or error
    n_uncertain: int
    n_out_of_view: int
    n_out_of_view_called_not_in_view: int
    n_absent: int  # none of L3 in the scan
    n_absent_called_not_in_view: int
    n_cut: int  # L3 cut by the scan's edge
    n_cut_by_status: dict
    n_errors: int

    def lines(self) -> list[str]:
        lines = [f"L3 in view ({self.n_in_view} cases; {self.n_in_view_missed} missed, {self.n_uncertain} uncertain): {self.in_view.as_row()}"]
        if self.n_out_of_view:
            share = self.n_out_of_view_called_not_in_view / self.n_out_of_view
            lines.append(f"L3 not wholly in view ({self.n_out_of_view} cases): called not_in_view {100 * share:.1f} %")
        if self.n_absent:
            share = self.n_absent_called_not_in_view / self.n_absent
            lines.append(f"  L3 absent from the scan ({self.n_absent} cases): called not_in_view {100 * share:.1f} %")
        if self.n_cut:
            statuses = ", ".join(f"{status} {count}" for status, count in sorted(self.n_cut_by_status.items()))
            lines.append(f"  L3 cut by the scan's edge ({self.n_cut} cases): {statuses}")
        if self.n_errors:
            lines.append(f"errors: {self.n_errors}")
        return lines


def summarise(outcomes: list[CaseOutcome]) -> EvaluationReport:
    in_view = [o for o in outcomes if o.in_view and o.status != "error"]
    located = [o for o in in_view if o.error_mm is not None]
    out_of_view = [o for o in outcomes if not o.in_view and o.status != "error"]
    absent = [o for o in out_of_view if o.l3_visibility == "absent"]
    cut = [o for o in out_of_view if o.l3_visibility == "cut"]
    cut_by_status = {}
    for outcome in cut:
        cut_by_status[outcome.status] = cut_by_status.get(outcome.status, 0) + 1
    return EvaluationReport(
        in_view=summarise_errors([o.error_mm for o in located], [o.error_slices for o in located]),
        n_in_view=len(in_view),
        n_in_view_missed=len(in_view) - len(located),
        n_uncertain=sum(1 for o in located if o.status == "uncertain"),
        n_out_of_view=len(out_of_view),
        n_out_of_view_called_not_in_view=sum(1 for o in out_of_view if o.status == "not_in_view"),
        n_absent=len(absent),
        n_absent_called_not_in_view=sum(1 for o in absent if o.status == "not_in_view"),
        n_cut=len(cut),
        n_cut_by_status=cut_by_status,
        n_errors=sum(1 for o in outcomes if o.status == "error"),
    )


def write_outcomes_csv(path: Path, outcomes: list[CaseOutcome]) -> None:
    buffer = io.StringIO()
    fields = list(CaseOutcome.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for outcome in outcomes:
        writer.writerow(asdict(outcome))
    atomic_write_text(path, buffer.getvalue())


def read_outcomes_csv(path: Path) -> list[CaseOutcome]:
    """The outcomes :func:`write_outcomes_csv` wrote, with their types back."""
    def number(text: str, kind=float):
        return None if text in ("", "None") else kind(float(text))

    with open(path, newline="", encoding="utf-8") as stream:
        return [
            CaseOutcome(
                case_id=row["case_id"], in_view=row["in_view"] == "True", true_z_ras_mm=number(row["true_z_ras_mm"]),
                true_slice=number(row["true_slice"], int), status=row["status"], l3_slice=number(row["l3_slice"], int),
                l3_z_ras_mm=number(row["l3_z_ras_mm"]), confidence=number(row["confidence"]), l3_position=row["l3_position"],
                edge_distance_mm=number(row["edge_distance_mm"]), slice_thickness_mm=float(row["slice_thickness_mm"]),
                error_mm=number(row["error_mm"]), error_slices=number(row["error_slices"]), variants=row["variants"],
                message=row["message"], l3_visibility=row["l3_visibility"], window_spread_mm=number(row.get("window_spread_mm", "")),
                vertebra_phase=number(row.get("vertebra_phase", "")),
            )
            for row in csv.DictReader(stream)
        ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[],
                        help="model card (default: the shipped model); repeat it to run several models side by side on the same scans")
    parser.add_argument("--data", action="append", required=True, help="a .csv, a folder of cases, or phantoms:COUNT[:FIRST_SEED[:KEY=VALUE,...]]")
    add_labels_argument(parser)
    parser.add_argument("--stride", type=int, default=None, help="window stride (default: the model's)")
    parser.add_argument("--phantom-voxel-mm", type=float, default=None, help="isotropic phantom voxels (default: realistic acquisitions)")
    parser.add_argument("--phantom-pixel-mm", type=float, default=None,
                        help="in-plane phantom pixels, keeping the drawn slice thickness, noise and archive quirks (faster than 0.5-1 mm)")
    parser.add_argument("--phantom-override", action="append", default=[], metavar="KEY=VALUE",
                        help="force a phantom parameter, e.g. lumbar_count=6 or rib_pairs=11 (repeatable)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--csv", action="append", default=[], help="write one row per case here (one --csv per --model)")
    args = parser.parse_args(argv)
    models = args.model or [None]
    if args.csv and len(args.csv) != len(models):
        parser.error(f"give one --csv per model ({len(models)} models, {len(args.csv)} --csv)")
    scans = [scan for spec in args.data for scan in read_data_spec(spec, args.labels, keep_out_of_view=True)]
    overrides = dict(parse_override(text) for text in args.phantom_override)
    per_model = evaluate_models(scans, models, args.stride, args.workers, args.phantom_voxel_mm, args.phantom_pixel_mm, overrides)
    for index, (model, outcomes) in enumerate(zip(models, per_model)):
        if args.csv:
            write_outcomes_csv(Path(args.csv[index]), outcomes)
        if len(models) > 1:
            print(f"model {model or 'shipped'}:")
        for line in summarise(outcomes).lines():
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
