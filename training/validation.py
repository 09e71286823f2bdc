"""Training-time validation: score a network on cached projections through the engine's one pipeline
(:func:`L3SpotterLib.pipeline.locate`), so that early stopping chooses by the rules users get."""

from __future__ import annotations

import numpy as np

from L3SpotterLib.pipeline import LoadedModel, Localisation, locate

from .window_sampler import TrainingProjection


def locate_l3(model: LoadedModel, projection: TrainingProjection, stride_px: int) -> Localisation:
    return locate(projection.pixels, model, stride_px)


def row_errors_mm(model: LoadedModel, projections: list[TrainingProjection], stride_px: int, miss_penalty_mm: float) -> np.ndarray:
    """|found - true| in mm per projection whose L3 is in view; ``miss_penalty_mm`` where none was found."""
    errors = []
    for projection in projections:
        localisation = locate_l3(model, projection, stride_px)
        if localisation.l3_row is None or localisation.l3_position in ("above_scan", "below_scan"):
            errors.append(miss_penalty_mm)
        else:
            errors.append(min(abs(localisation.l3_row - projection.l3_row) * model.card.row_mm, miss_penalty_mm))
    return np.asarray(errors)
