"""Run the engine's windows -> CNN -> ramp correlation on cached projections and score the result."""

from __future__ import annotations

import numpy as np
import torch

from L3SpotterLib.inference import predict_windows
from L3SpotterLib.output_curve import OutputCurve, correct_predictions
from L3SpotterLib.ramp_correlation import RampMatch, match_ramp
from L3SpotterLib.windows import window_tops

from .window_sampler import TrainingProjection


def locate_l3(
    network: torch.nn.Module,
    projection: TrainingProjection,
    height_px: int,
    row_mm: float,
    stride_px: int,
    device: torch.device,
    confidence_threshold: float = 0.5,
    output_curve: OutputCurve | None = None,
) -> RampMatch:
    n_rows = projection.pixels.shape[1]
    tops = window_tops(n_rows, height_px, stride_px)
    predictions = correct_predictions(predict_windows(network, projection.pixels, tops, height_px, device), output_curve)
    return match_ramp(tops, predictions, height_px, n_rows, row_mm, confidence_threshold)


def row_errors_mm(network, projections, height_px, row_mm, stride_px, device, miss_penalty_mm: float) -> np.ndarray:
    """|found - true| in mm per projection whose L3 is in view; ``miss_penalty_mm`` where none was found."""
    errors = []
    for projection in projections:
        match = locate_l3(network, projection, height_px, row_mm, stride_px, device)
        if match.l3_row is None or match.l3_position in ("above_scan", "below_scan"):
            errors.append(miss_penalty_mm)
        else:
            errors.append(min(abs(match.l3_row - projection.l3_row) * row_mm, miss_penalty_mm))
    return np.asarray(errors)
