"""k-fold cross-validation, printed as the seed's table (errors in slices per fold and on average).

    python -m training.crossval --data my_cases/ --folds 5

Each fold trains on the other folds (holding out a tenth of them for early stopping) with the same
settings as ``training.train`` (its output curve fitted on that tenth), then locates L3 on its own cases with the engine's windows and ramp
correlation. A case whose L3 the model does not find counts as missed and as on the wrong vertebra.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from L3SpotterLib.inference import choose_device
from L3SpotterLib.output_curve import OutputCurve
from L3SpotterLib.pipeline import LoadedModel

from .annotations import add_labels_argument, read_data_spec
from .validation import locate_l3
from .fit_output_curve import fit_output_curve, window_predictions_and_targets
from .metrics import WRONG_VERTEBRA_MM, share_within_1_slice, share_wrong_or_missed, summarise_errors
from .projection_cache import ProjectionSpec, load_projections
from .train import TrainingSettings, add_shape_arguments, shape_from_args, split_validation, train_model
from .fit_loop import FitConfig


def fold_of_each_case(n_cases: int, folds: int, seed: int) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n_cases)
    assignment = np.empty(n_cases, dtype=int)
    assignment[order] = np.arange(n_cases) % folds
    return assignment


def fold_output_curve(network, validation, settings: TrainingSettings, stride_px: int, device) -> OutputCurve | None:
    """The fold's output curve, fitted on its validation cases as training does; None if it cannot be."""
    if not any(projection.in_view for projection in validation):
        return None
    predictions, targets = window_predictions_and_targets(LoadedModel(settings.shape, network, device), validation, stride_px)
    try:
        return fit_output_curve(predictions, targets)
    except ValueError:
        return None


def fold_errors(network, projections, settings: TrainingSettings, stride_px: int, device, output_curve=None) -> tuple[list[float], list[float], int]:
    """(errors in mm, errors in slices, number missed) on one fold's cases."""
    shape = settings.shape
    model = LoadedModel(shape, network, device, output_curve=output_curve)
    errors_mm, errors_slices, missed = [], [], 0
    for projection in projections:
        localisation = locate_l3(model, projection, stride_px)
        if localisation.l3_row is None or localisation.l3_position in ("above_scan", "below_scan"):
            missed += 1
            continue
        error_mm = abs(localisation.l3_row - projection.l3_row) * shape.row_mm
        errors_mm.append(error_mm)
        errors_slices.append(error_mm / projection.slice_thickness_mm)
    return errors_mm, errors_slices, missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.crossval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="a .csv, a folder of cases, or phantoms:COUNT[:FIRST_SEED]")
    add_labels_argument(parser)
    parser.add_argument("--folds", type=int, default=5)
    add_shape_arguments(parser)
    parser.add_argument("--pretrained", default="imagenet")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--stride", type=int, default=4, help="window stride when locating L3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache-dir", default="cache/projections")
    parser.add_argument("--phantom-voxel-mm", type=float, default=2.0)
    args = parser.parse_args(argv)

    torch.set_num_threads(os.cpu_count() or 1)
    device = choose_device(args.device)
    shape = shape_from_args(args)
    scans = [scan for spec in args.data for scan in read_data_spec(spec, args.labels)]
    if len(scans) < args.folds:
        parser.error(f"{len(scans)} cases cannot make {args.folds} folds")
    spec = ProjectionSpec(views=tuple(shape.views), grid=shape.grid, phantom_voxel_mm=args.phantom_voxel_mm)
    projections = load_projections(scans, spec, Path(args.cache_dir), workers=args.workers)
    folds = fold_of_each_case(len(scans), args.folds, args.seed)

    rows, all_mm, all_slices, all_missed = [], [], [], 0
    for fold in range(args.folds):
        held_out = [p for p, f in zip(projections, folds) if f == fold]
        rest = [p for p, f in zip(projections, folds) if f != fold]
        training, validation = split_validation(rest, 0.1, args.seed)
        settings = TrainingSettings(
            shape=shape, pretrained=args.pretrained, seed=args.seed + fold,
            fit=FitConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, validate_every=max(50, args.steps // 12), patience=6, seed=args.seed + fold),
        )
        network, _ = train_model(training, validation, settings, device)
        curve = fold_output_curve(network, validation, settings, args.stride, device)
        errors_mm, errors_slices, missed = fold_errors(network, held_out, settings, args.stride, device, curve)
        rows.append((fold, summarise_errors(errors_mm, errors_slices), missed, len(held_out)))
        all_mm += errors_mm
        all_slices += errors_slices
        all_missed += missed
        print(f"fold {fold}: {rows[-1][1].as_row()}, missed {missed}", file=sys.stderr)

    print(f"| fold | error (slices) | error (mm) | median (mm) | p95 (mm) | within 1 slice | wrong vertebra (> {WRONG_VERTEBRA_MM:.0f} mm or missed) | n |")
    print("|---|---|---|---|---|---|---|---|")
    for fold, summary, missed, n in rows:
        print(_table_row(str(fold), summary, missed, n))
    print(_table_row("average", summarise_errors(all_mm, all_slices), all_missed, len(projections)))
    return 0


def _table_row(label, summary, missed, n) -> str:
    wrong = share_wrong_or_missed(summary, missed)
    within = share_within_1_slice(summary, missed)
    return (
        f"| {label} | {summary.mean_slices:.2f} ± {summary.sd_slices:.2f} | {summary.mean_mm:.2f} ± {summary.sd_mm:.2f} | "
        f"{summary.median_mm:.2f} | {summary.p95_mm:.2f} | {100 * within:.1f} % | {100 * wrong:.1f} % | {n} |"
    )


if __name__ == "__main__":
    sys.exit(main())
