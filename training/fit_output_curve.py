"""Fit a model's output curve on validation scans and store it in its card (see L3SpotterLib.output_curve).

    python -m training.fit_output_curve L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json \\
        --data phantoms:60:900000

Every window of every scan whose L3 is in view is predicted exactly as the engine does it (same windows,
same stride, same clipping). Windows are grouped by their true target: one group at 0 (L3 below the
window), one at 1 (L3 above it) and ``--bins`` equal groups in between. Each group gives a knot
(mean prediction, mean target); isotonic regression makes the knots increasing. Use validation scans, never
the test set: the curve is part of the model. Training (``training.train``) fits it on its validation set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import isotonic_regression

from L3SpotterLib.model_card import resolve_card_path, write_card
from L3SpotterLib.output_curve import OutputCurve
from L3SpotterLib.pipeline import LoadedModel, window_predictions
from L3SpotterLib.windows import window_target

from .annotations import add_labels_argument, read_data_spec
from .projection_cache import ProjectionSpec, load_projections
from .window_sampler import TrainingProjection

DEFAULT_INTERIOR_BINS = 10


def window_predictions_and_targets(model: LoadedModel, projections: list[TrainingProjection], stride_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw (clipped, before any curve) predictions and true targets of every window of the projections
    whose L3 is in view."""
    predictions, targets = [], []
    for projection in projections:
        if not projection.in_view:
            continue
        tops, raw = window_predictions(projection.pixels, model, stride_px, apply_curve=False)
        predictions.append(raw)
        targets.append(window_target(projection.l3_row, tops, model.card.window_height_px))
    if not predictions:
        raise ValueError("no scan with L3 in view to fit the output curve on")
    return np.concatenate(predictions).astype(float), np.concatenate(targets).astype(float)


def fit_output_curve(predictions: np.ndarray, targets: np.ndarray, interior_bins: int = DEFAULT_INTERIOR_BINS) -> OutputCurve:
    """Knots (mean prediction, mean target) per target group, made increasing by isotonic regression."""
    predictions, targets = np.asarray(predictions, dtype=float), np.asarray(targets, dtype=float)
    edges = np.linspace(0.0, 1.0, interior_bins + 1)
    groups = [targets <= 0.0]
    groups += [(targets > low) & (targets <= high) & (targets < 1.0) for low, high in zip(edges[:-1], edges[1:])]
    groups.append(targets >= 1.0)
    groups = [group for group in groups if group.any()]
    if len(groups) < 2:
        raise ValueError("the windows cover too few target values to fit an output curve")
    counts = np.array([group.sum() for group in groups], dtype=float)
    mean_prediction = np.array([predictions[group].mean() for group in groups])
    mean_target = np.array([targets[group].mean() for group in groups])
    # The groups are in target order; the network's mean prediction should rise with the target.
    raw = isotonic_regression(mean_prediction, weights=counts, increasing=True).x
    # Isotonic regression pools violators into equal values: merge them into one knot.
    unique_raw, group_index = np.unique(raw, return_inverse=True)
    merged_target = np.bincount(group_index, weights=mean_target * counts) / np.bincount(group_index, weights=counts)
    if len(unique_raw) < 2:
        raise ValueError("the predictions do not rise with the target: no output curve can be fitted")
    return OutputCurve(raw=tuple(float(v) for v in unique_raw), target=tuple(float(np.clip(v, 0.0, 1.0)) for v in merged_target))


def curve_field(curve: OutputCurve, fitted_on: list[str], n_windows: int) -> dict:
    """The card's ``output_curve`` entry: the knots and where they come from."""
    return {**curve.to_dict(), "fitted_on": fitted_on, "n_windows": int(n_windows)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.fit_output_curve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card", help="model card to update (its weights are untouched)")
    parser.add_argument("--data", action="append", required=True, help="validation data: a .csv, a folder of cases, or phantoms:COUNT[:FIRST_SEED]")
    add_labels_argument(parser)
    parser.add_argument("--bins", type=int, default=DEFAULT_INTERIOR_BINS, help="target groups between 0 and 1")
    parser.add_argument("--stride", type=int, default=None, help="window stride (default: the model's)")
    parser.add_argument("--cache-dir", default="cache/projections")
    parser.add_argument("--phantom-voxel-mm", type=float, default=2.0, help="voxel size of phantoms made on the fly")
    parser.add_argument("--phantom-pixel-mm", type=float, default=None,
                        help="instead: realistic phantom acquisitions (drawn slice thickness, noise) with these in-plane pixels")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)

    card_path = resolve_card_path(args.card)
    model = LoadedModel.load(card_path, device="cpu")
    card = model.card
    scans = [scan for spec in args.data for scan in read_data_spec(spec, args.labels)]
    realistic = args.phantom_pixel_mm is not None
    spec = ProjectionSpec(
        views=tuple(card.views), grid=card.grid, phantom_voxel_mm=None if realistic else args.phantom_voxel_mm, phantom_pixel_mm=args.phantom_pixel_mm,
    )
    projections = load_projections(scans, spec, Path(args.cache_dir), workers=args.workers)
    stride = args.stride or card.default_stride_px
    predictions, targets = window_predictions_and_targets(model, projections, stride)
    curve = fit_output_curve(predictions, targets, args.bins)

    card.output_curve = curve_field(curve, args.data, len(predictions))
    card.output_curve["phantom_acquisition"] = (
        f"realistic, {args.phantom_pixel_mm:g} mm in-plane pixels" if realistic else f"{args.phantom_voxel_mm:g} mm isotropic voxels"
    )
    card.output_curve["command"] = "python -m training.fit_output_curve " + " ".join(argv if argv is not None else sys.argv[1:])
    write_card(card, card_path)
    print(json.dumps(card.output_curve))
    return 0


if __name__ == "__main__":
    sys.exit(main())
