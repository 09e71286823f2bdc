"""Study the engine's decision rules on projections computed once: a development tool, not a benchmark.

The domain-shift bench (``domain_shift_bench.py``) regenerates every phantom on every run (about 25 min).
Choosing between decision rules needs many runs on the same scans, so this tool keeps each scan's
projection stack on disk and reruns only :func:`pipeline.locate` (seconds per variant).

It works on *development* draws of the shifted family (by default 200 scans with L3 in view, seeds
760000 up, 40 narrow spine reconstructions, seeds 770000 up, and 400 more with L3 in view, seeds 780000
up): the bench's own seeds (700000-759999) stay unseen until a design is chosen.

    .venv/bin/python benchmarks/decision_study.py --model shipped=L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json \\
        --model candidate=runs/v4cand/l3spotter_mobilenet_v2.json --workers 2

prints, per decision variant, the statuses and the bench's figures (right vertebra, coverage, found on
the wrong vertebra), and lists the cases found on the wrong vertebra with what each reading said.
"""

from __future__ import annotations

import argparse
import re
import hashlib
from dataclasses import dataclass
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO)]

from training.annotations import read_data_spec  # noqa: E402
from training.metrics import WRONG_VERTEBRA_MM  # noqa: E402

# The development draws mirror the bench's two located parts: the shifted family with L3 in view, and narrow
# spine reconstructions (a candidate that only the bench's narrow part showed worse was once carried this
# far: docs/results/candidate_transitional/). The narrow draw shares its seeds, so its spines, with the
# adaptation curve's site pool (770000-770019, benchmarks/adaptation_curve.py); no model chosen here is
# adapted there, so neither study sees the other's answers.
# The second shifted draw (seeds 780000-780399) chose the window-spread limit with the first; its first 60
# seeds are also the adaptation curve's site test scans (780000-780059), where the shipped model is the
# curve's starting point, unadapted.
DEFAULT_DATA = (
    "phantoms:200:760000:distribution=shifted,l3_in_view=true,coarse_pixel_mm=1.25",
    "phantoms:40:770000:distribution=shifted,fov=lumbar_spine,recon=narrow_spine,coarse_pixel_mm=0.6",
    "phantoms:400:780000:distribution=shifted,l3_in_view=true,coarse_pixel_mm=1.25",
)


def stack_path(cache_dir: Path, card_key: str, case_id: str) -> Path:
    return cache_dir / card_key / f"{case_id}.npz"


def _compute(job) -> str:
    """Generate one scan, project it as the engine does and store the stack with its truth row."""
    scan, model, out = job
    if out.exists():
        return scan.case_id
    import torch

    from L3SpotterLib.detector import L3Detector
    from L3SpotterLib.atomic_files import atomic_write_via
    from training.evaluate import load_scan_under_test

    torch.set_num_threads(1)
    detector = L3Detector(model, device="cpu")
    under_test = load_scan_under_test(scan)
    projections = detector.projections(under_test.voxels, under_test.geometry)
    stacked = np.stack([projection.pixels for projection in projections]).astype(np.float32)
    reference = projections[0]
    true_row = np.nan if under_test.true_z_ras_mm is None else float(reference.z_ras_mm_to_row(under_test.true_z_ras_mm))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_via(out, lambda path: np.savez_compressed(path, stacked=stacked, true_row=true_row, in_view=under_test.in_view,
                                                           variants=under_test.variants), suffix=".npz")
    return scan.case_id


def build_stacks(scans, model: str, cache_dir: Path, workers: int, compute: bool = True) -> list[Path]:
    from L3SpotterLib.model_card import read_card

    card = read_card(Path(model))
    # Stacks depend on the views and the grid only, so models that share them share the stacks.
    card_key = hashlib.sha256(repr((tuple(card.views), card.grid)).encode()).hexdigest()[:12]
    jobs = [(scan, model, stack_path(cache_dir, card_key, scan.case_id)) for scan in scans]
    missing = [job for job in jobs if not job[2].exists()]
    if not compute:
        return [job[2] for job in jobs if job[2].exists()]
    if missing:
        print(f"computing {len(missing)} stacks", flush=True)
        with ProcessPoolExecutor(workers) as pool:
            for done, case_id in enumerate(pool.map(_compute, missing), 1):
                if done % 20 == 0:
                    print(f"  {done}/{len(missing)}", flush=True)
    return [job[2] for job in jobs]


@dataclass
class CaseEvidence:
    """Everything the decision reads for one scan, computed once: the ramp and every count reading."""

    case_id: str
    in_view: bool
    true_row: float
    n_rows: int
    ramp: object
    tops: np.ndarray
    predictions: np.ndarray
    counts: dict
    vertebra_phase: float | None = None


def gather_evidence(paths: list[Path], model) -> list[CaseEvidence]:
    from L3SpotterLib import pipeline
    from L3SpotterLib.ramp_correlation import match_ramp

    card, evidence = model.card, []
    for path in paths:
        data = np.load(path)
        stacked = data["stacked"]
        counts = pipeline._count_readings(stacked, model)
        tops, predictions = pipeline.window_predictions(stacked, model, card.default_stride_px)
        ramp = match_ramp(tops, predictions, card.window_height_px, stacked.shape[1], card.row_mm, card.confidence_threshold)
        phase = pipeline.phase_at(stacked, ramp, card.row_mm)
        evidence.append(CaseEvidence(path.stem, bool(data["in_view"]), float(data["true_row"]), stacked.shape[1], ramp, tops, predictions, counts, phase))
    return evidence


@dataclass(frozen=True)
class Variant:
    """A decision rule to compare: which count readings the answer must agree with, and the pipeline's
    limits (``None``: the pipeline's own)."""

    readings: tuple[str, ...] = ("both", "frontal_only", "lateral_only")
    agreement_levels: float | None = None
    single_reading_levels: float | None = None
    max_window_spread_mm: float | None = None
    min_vertebra_phase: float | None = None


def decide_variant(case: CaseEvidence, model, variant: Variant):
    """The pipeline's decision under ``variant``'s readings and limits."""
    from L3SpotterLib import pipeline

    localisation = pipeline.Localisation.from_ramp(case.ramp, case.tops, case.predictions, case.counts, case.vertebra_phase)
    counts = None if case.counts is None else {name: reading for name, reading in case.counts.items() if name in variant.readings}
    limits = {"AGREEMENT_LEVELS": variant.agreement_levels, "SINGLE_READING_LEVELS": variant.single_reading_levels,
              "MAX_WINDOW_SPREAD_MM": variant.max_window_spread_mm, "MIN_VERTEBRA_PHASE": variant.min_vertebra_phase}
    saved = {name: getattr(pipeline, name) for name in limits}
    for name, value in limits.items():
        if value is not None:
            setattr(pipeline, name, value)
    try:
        pipeline.decide(localisation, counts, model.card.row_mm, model.card.confidence_threshold, case.n_rows)
    finally:
        for name, value in saved.items():
            setattr(pipeline, name, value)
    return localisation


def study(evidence: list[CaseEvidence], model, variants: dict) -> None:
    row_mm = model.card.row_mm
    for name, variant in variants.items():
        statuses, wrong_found, right, found, in_view, reasons = {}, [], 0, 0, 0, {}
        for case in evidence:
            localisation = decide_variant(case, model, variant)
            statuses[localisation.status] = statuses.get(localisation.status, 0) + 1
            for reason in localisation.reasons if localisation.status == "uncertain" else []:
                kind = re.sub(r"[-+]?\d+(\.\d+)?", "#", reason)
                reasons[kind] = reasons.get(kind, 0) + 1
            if not case.in_view:
                continue
            in_view += 1
            placed = localisation.l3_row is not None and localisation.status != "not_in_view"
            error_mm = abs(localisation.l3_row - case.true_row) * row_mm if placed else None
            is_right = error_mm is not None and error_mm <= WRONG_VERTEBRA_MM
            right += is_right
            if localisation.status == "found":
                found += 1
                if not is_right:
                    wrong_found.append((case.case_id, error_mm, localisation))
        print(f"[{name}] {dict(sorted(statuses.items()))}; in view {in_view}: right {right / max(in_view, 1):.1%}, "
              f"coverage {found / max(in_view, 1):.1%}, found wrong {len(wrong_found)} of {found} ({len(wrong_found) / max(found, 1):.1%})")
        for kind, count in sorted(reasons.items(), key=lambda item: -item[1]):
            print(f"    uncertain because: {kind} ({count})")
        for case_id, error_mm, localisation in wrong_found:
            shown = {key: value for key, value in localisation.view_levels_at_answer.items()}
            print(f"    {case_id}: {error_mm:.1f} mm off, confidence {localisation.confidence:.3f}, levels {shown}")


# The rules as shipped, and what each of their parts is worth: the same scans decided without it.
VARIANTS = {
    "shipped rules": Variant(),
    "without the disc rule": Variant(min_vertebra_phase=0.0),
    "disc rule at 0.1": Variant(min_vertebra_phase=0.1),
    "disc rule at 0.2": Variant(min_vertebra_phase=0.2),
    "without the window spread": Variant(max_window_spread_mm=float("inf")),
    "every reading within 0.5 (the rule before)": Variant(single_reading_levels=0.5, max_window_spread_mm=float("inf")),
    "every reading within 0.5, with the window spread": Variant(single_reading_levels=0.5),
    "both views only": Variant(readings=("both",)),
    "window spread 2.5 mm": Variant(max_window_spread_mm=2.5),
    "window spread 3.5 mm": Variant(max_window_spread_mm=3.5),
}


# The 600 shifted development scans with L3 in view (no narrow reconstructions): what the studies of one
# model's answers read (benchmarks/junction_study.py, benchmarks/answer_probes.py).
SHIFTED_IN_VIEW_DATA = (DEFAULT_DATA[0], DEFAULT_DATA[2])


def add_single_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=str(REPO / "L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json"))
    parser.add_argument("--cache", default=str(REPO / "cache/decision_study"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)


def stacks_and_model(args, data=SHIFTED_IN_VIEW_DATA) -> tuple[list[Path], object]:
    """The cached stacks of ``data`` (computed where missing) and ``args.model`` loaded on the CPU."""
    import torch

    from L3SpotterLib.pipeline import LoadedModel

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    scans = [scan for spec in data for scan in read_data_spec(spec, keep_out_of_view=True)]
    paths = build_stacks(scans, args.model, Path(args.cache), args.workers)
    return paths, LoadedModel.load(args.model, device="cpu")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", metavar="[NAME=]CARD",
                        help="a model to study (repeatable; default: the shipped one); the first one's views and grid make the stacks")
    parser.add_argument("--data", action="append", help=f"a data spec; repeatable (default: {' and '.join(DEFAULT_DATA)})")
    parser.add_argument("--cache", default=str(REPO / "cache/decision_study"))
    parser.add_argument("--only-cached", action="store_true", help="study the stacks already computed, compute none")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    args = parser.parse_args(argv)

    import torch

    from L3SpotterLib.pipeline import LoadedModel

    scans = [scan for spec in (args.data or DEFAULT_DATA) for scan in read_data_spec(spec, keep_out_of_view=True)]
    models = [argument.partition("=")[::2] if "=" in argument else (Path(argument).parent.name, argument)
              for argument in (args.model or [str(REPO / "L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json")])]
    paths = build_stacks(scans, models[0][1], Path(args.cache), args.workers, compute=not args.only_cached)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name, card in models:
        model = LoadedModel.load(card, device="cpu")
        evidence = gather_evidence(paths, model)
        for spec in args.data or DEFAULT_DATA:
            print(f"== {name} on {spec}")
            cases = {scan.case_id for scan in read_data_spec(spec, keep_out_of_view=True)}
            study([case for case in evidence if case.case_id in cases], model, VARIANTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
