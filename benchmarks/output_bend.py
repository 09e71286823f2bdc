"""Where the row bias comes from: the network's bent ramp, measured, and what the output curve does to it.

    .venv/bin/python benchmarks/output_bend.py --data phantoms:60:900100 --phantom-pixel-mm 2

On scans the curve was not fitted on (default: 60 phantoms of the calibration seeds, acquired as real scans
are), prints:

(The ramp match fed the ideal targets finds the true row exactly: ``tests/test_ramp_correlation.py::
test_exact_ramp_is_found_exactly``.)

2. the mean prediction minus the true target, by target group, before and after the card's output curve
   (the bend);
3. L3's signed and absolute row error with raw and corrected predictions (+ = answer above the truth);
4. how much of the bend the head's dropout explains: training fits the median of the dropout-noisy
   output (the loss is nearly L1), inference uses its mean.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO)]

from L3SpotterLib.model_card import load_model  # noqa: E402
from L3SpotterLib.output_curve import correct_predictions, curve_from_card_field  # noqa: E402
from L3SpotterLib.pipeline import LoadedModel, locate, window_predictions  # noqa: E402
from L3SpotterLib.windows import extract_windows, padded_for_windows, window_target, window_tops  # noqa: E402
from training.annotations import read_data_spec  # noqa: E402
from training.projection_cache import ProjectionSpec, load_projections  # noqa: E402

INSIDE_EDGES = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]
DROPOUT_SCANS = 20  # the dropout check samples the head many times: a few scans are enough


def target_groups(targets: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """0 exactly (L3 below the window), groups inside the ramp, 1 exactly (L3 above the window)."""
    groups = [("0", targets == 0.0)]
    for low, high in zip(INSIDE_EDGES[:-1], INSIDE_EDGES[1:]):
        groups.append((f"({low:g}, {high:g})", (targets > low) & (targets <= high) & (targets < 1.0)))
    groups.append(("1", targets == 1.0))
    return groups


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model card (default: the shipped model)")
    parser.add_argument("--data", default="phantoms:60:900100")
    parser.add_argument("--phantom-pixel-mm", type=float, default=2.0, help="realistic acquisitions with these in-plane pixels")
    parser.add_argument("--cache-dir", default="cache/projections")
    parser.add_argument("--dropout-samples", type=int, default=100)
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)

    network, card = load_model(args.model)
    curve = curve_from_card_field(card.output_curve)
    height, stride, row_mm = card.window_height_px, card.default_stride_px, card.row_mm
    # The windows and the ramp alone (no vertebra count), with and without the card's output curve.
    raw_model = LoadedModel(card, network, torch.device("cpu"))
    curved_model = LoadedModel(card, network, torch.device("cpu"), output_curve=curve)
    spec = ProjectionSpec(views=tuple(card.views), grid=card.grid, phantom_voxel_mm=None, phantom_pixel_mm=args.phantom_pixel_mm)
    projections = [p for p in load_projections(read_data_spec(args.data), spec, Path(args.cache_dir)) if p.in_view]

    raw_errors, corrected_errors = [], []
    raw_all, corrected_all, targets_all = [], [], []
    for projection in projections:
        tops, raw = window_predictions(projection.pixels, raw_model, stride)
        targets = window_target(projection.l3_row, tops, height)
        corrected = correct_predictions(raw, curve)
        for model, errors in ((raw_model, raw_errors), (curved_model, corrected_errors)):
            localisation = locate(projection.pixels, model, stride)
            if localisation.l3_row is not None and localisation.l3_position not in ("above_scan", "below_scan"):
                errors.append((projection.l3_row - localisation.l3_row) * row_mm)  # rows grow towards the feet
        raw_all.append(raw)
        corrected_all.append(corrected)
        targets_all.append(targets)
    raw_all, corrected_all, targets_all = (np.concatenate(v) for v in (raw_all, corrected_all, targets_all))

    print(f"{len(projections)} scans with L3 in view ({args.data}, realistic acquisitions, {args.phantom_pixel_mm:g} mm pixels); model {card.name}")
    print("2. mean prediction - true target, by target group (x window height = mm):")
    print("   | target | windows | raw | with the output curve |")
    print("   |---|---|---|---|")
    for label, group in target_groups(targets_all):
        if not group.any():
            continue
        raw_bias = (raw_all - targets_all)[group].mean()
        corrected_bias = (corrected_all - targets_all)[group].mean()
        print(f"   | {label} | {int(group.sum())} | {raw_bias:+.4f} ({raw_bias * height * row_mm:+.1f} mm) | {corrected_bias:+.4f} ({corrected_bias * height * row_mm:+.1f} mm) |")
    for name, errors in (("raw predictions", raw_errors), ("with the output curve", corrected_errors)):
        errors = np.asarray(errors)
        print(f"3. {name}: signed {errors.mean():+.2f} mm (+ = above the truth), mean |error| {np.abs(errors).mean():.2f} mm, n={len(errors)}")
    # Cards written before training recorded head_dropout come from training with 0.2, then fixed in the code.
    training_dropout = float(card.training_data.get("head_dropout", 0.2))
    dropout_share(network, projections, height, stride, row_mm, args.dropout_samples, training_dropout)
    return 0


def dropout_share(network, projections, height: int, stride: int, row_mm: float, n_samples: int, training_dropout: float) -> None:
    """Eval-mode output against the median of dropout samples, on the windows that hold L3."""
    if training_dropout == 0:
        print("4. the network was trained without dropout: there is no dropout share to measure")
        return
    # The engine builds the head with the default rate (dropout is off at inference); use the training rate.
    dropouts = [module for module in network.modules() if isinstance(module, torch.nn.Dropout)]
    for module in dropouts:
        module.p = training_dropout
    eval_residuals, median_residuals = [], []
    scans = projections[:DROPOUT_SCANS]
    for projection in scans:
        tops = window_tops(projection.pixels.shape[1], height, stride * 4)
        targets = window_target(projection.l3_row, tops, height)
        keep = (targets > 0.0) & (targets < 1.0)
        windows = torch.from_numpy(np.ascontiguousarray(extract_windows(padded_for_windows(projection.pixels, height), tops[keep], height)))
        with torch.inference_mode():
            network.eval()
            features = network.trunk(network.input_adapter(windows))
            eval_output = network.head(features).squeeze(1).numpy()
            for module in dropouts:
                module.train()
            samples = np.stack([network.head(features).squeeze(1).numpy() for _ in range(n_samples)])
            for module in dropouts:
                module.eval()
        eval_residuals.append(eval_output - targets[keep])
        median_residuals.append(np.median(samples, axis=0) - targets[keep])
    scale = height * row_mm
    print(
        f"4. windows holding L3 ({len(scans)} scans): mean eval-mode output - target {np.concatenate(eval_residuals).mean() * scale:+.2f} mm; "
        f"median of dropout samples - target {np.concatenate(median_residuals).mean() * scale:+.2f} mm"
    )


if __name__ == "__main__":
    sys.exit(main())
