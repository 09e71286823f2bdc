"""Find L3 from the per-window predictions by correlating them with the ideal ramp (the seed's method).

If L3 lies on projection row ``r``, a perfect model predicts ``window_target(r, top, H)`` for each window:
1 for windows above L3, a linear ramp from 1 down to 0 over the ``H`` windows that hold it, then 0. We slide
that template along the trace and take the row whose template best matches (Pearson correlation over the
ramp plus a margin of plateau on each side). The row is then refined by a least-absolute-error fit of the
template over a fixed set of windows nearby: smooth in the row at any stride, and not pulled by a few
wild windows.

The confidence is ``max(0, correlation) * min(1, slope)``: the correlation rewards the ramp's shape, the
least-squares slope of the predictions against the template (1 for a perfect model) penalises a faint ramp
that merely has the right shape. It is then scaled down when L3's centre lies near the scan's edge (see
``edge_confidence_factor``).

The confidence stays near 1 while the windows scatter by several mm about the answer. :func:`window_spread_mm`
measures the scatter: each window that holds L3 well inside it places L3 on a row, and the median distance
of those rows from the answer is the answer's precision (the pipeline reports ``uncertain`` above
``pipeline.MAX_WINDOW_SPREAD_MM``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .windows import window_target

# L3 reaches about 20 mm either side of its centroid (its processes included: label extents of 34-42 mm).
# A centroid this close to the scan's edge means part of L3 is surely cut, and this far means L3 is surely
# whole; closer than EDGE_SURELY_WHOLE_MM the answer is flagged as at the edge.
EDGE_SURELY_CUT_MM = 10.0
EDGE_SURELY_WHOLE_MM = 25.0
# The count is only checked when the neighbour beyond L3 is in the scan too: one centroid spacing (34 +- 4 mm
# in the lumbar spine) plus half that vertebra, about 50 mm. Nearer the edge the vertebra next to a cut L3
# looks like a whole L3 with nothing beyond it (the off-by-one of chest CTs that end in the lumbar spine),
# so the confidence rises linearly from 0 at EDGE_SURELY_CUT_MM to its full value at this distance.
EDGE_FULL_CONFIDENCE_MM = 50.0

# Candidate rows are searched on this sub-pixel step.
_SEARCH_STEP_ROWS = 0.25
# The refinement looks this far (a fraction of the window height) around the correlation's best candidate.
_REFINE_RADIUS_FRACTION = 0.25
# Plateau on each side of the ramp taken into the correlation, as a fraction of the window height.
_MARGIN_FRACTION = 0.25
# A trace whose middle 90 % spans less than this has no ramp anywhere: the model saw no L3.
_FLAT_TRACE_SPREAD = 0.5
# The windows whose row says most about L3: those holding it between 15 % and 85 % of their height (nearer
# a window's end the prediction is clamped towards 0 or 1 and says little about the row).
_SPREAD_WINDOW_FRACTIONS = (0.15, 0.85)


@dataclass(frozen=True)
class RampMatch:
    """The outcome of matching the trace against the ideal ramp, in projection rows."""

    l3_row: float | None
    correlation: float
    slope: float
    confidence: float
    l3_position: str  # inside | at_superior_edge | at_inferior_edge | above_scan | below_scan | unknown
    edge_distance_mm: float | None
    # How far, in mm (median), the rows that the windows holding L3 imply lie from the answer; None when
    # the answer is not in the scan.
    window_spread_mm: float | None = None


def ramp_templates(candidate_rows: np.ndarray, tops: np.ndarray, height_px: int) -> np.ndarray:
    """The ideal prediction of every window (columns) for L3 on each candidate row (rows)."""
    return window_target(candidate_rows[:, None], tops[None, :], height_px)


def match_ramp(
    tops: np.ndarray,
    predictions: np.ndarray,
    height_px: int,
    n_rows: int,
    row_mm: float,
    confidence_threshold: float,
) -> RampMatch:
    """Locate L3 (a projection row) from the windows' predictions; see the module docstring."""
    tops = np.asarray(tops, dtype=float)
    predictions = np.asarray(predictions, dtype=float)
    margin = _MARGIN_FRACTION * height_px
    # L3 may lie beyond either end of the scan; the padded windows reach half a window past each end.
    candidates = np.arange(-height_px / 2.0, n_rows - 1 + height_px / 2.0 + 1e-9, _SEARCH_STEP_ROWS)
    correlation, slope = _masked_correlation(candidates, tops, predictions, height_px, margin)
    score = np.maximum(correlation, 0.0) * np.clip(slope, 0.0, 1.0)
    best = int(np.argmax(score))
    l3_row = _refine_row(candidates[best], tops, predictions, height_px, margin)
    correlation, slope = (float(v[0]) for v in _masked_correlation(np.array([l3_row]), tops, predictions, height_px, margin))
    confidence = max(correlation, 0.0) * float(np.clip(slope, 0.0, 1.0))

    spread = float(np.subtract(*np.percentile(predictions, [95, 5])))
    if confidence < confidence_threshold and spread < _FLAT_TRACE_SPREAD:
        # No ramp anywhere. The plateau says which side L3 is on: predictions near 1 mean "below".
        side = "below_scan" if np.median(predictions) > 0.5 else "above_scan"
        return RampMatch(None, correlation, slope, confidence, side, None)

    # A row covers half a row either side of its centre.
    if l3_row < -0.5 or l3_row > n_rows - 0.5:
        side = "above_scan" if l3_row < 0 else "below_scan"
        return RampMatch(l3_row, correlation, slope, confidence, side, None)

    edge_distance_mm = max(0.0, min(l3_row, n_rows - 1 - l3_row)) * row_mm
    position = "inside"
    if edge_distance_mm < EDGE_SURELY_WHOLE_MM:
        position = "at_superior_edge" if l3_row < (n_rows - 1) / 2 else "at_inferior_edge"
    confidence *= edge_confidence_factor(edge_distance_mm)
    spread_mm = window_spread_mm(l3_row, tops, predictions, height_px, row_mm)
    return RampMatch(l3_row, correlation, slope, confidence, position, edge_distance_mm, spread_mm)


def window_spread_mm(l3_row: float, tops: np.ndarray, predictions: np.ndarray, height_px: int, row_mm: float) -> float | None:
    """Median distance (mm) between ``l3_row`` and the row each window holding L3 well inside it implies.

    A window with top ``t`` that predicts ``p`` places L3 on row ``t + p * height_px``.
    """
    tops = np.asarray(tops, dtype=float)
    low, high = _SPREAD_WINDOW_FRACTIONS
    holding = (tops >= l3_row - high * height_px) & (tops <= l3_row - low * height_px)
    if not holding.any():
        return None
    implied_rows = tops[holding] + np.asarray(predictions, dtype=float)[holding] * height_px
    return float(np.median(np.abs(implied_rows - l3_row)) * row_mm)


def count_checkable(edge_distance_mm: float) -> bool:
    """Whether an answer lies far enough from the scan's edge to be reported ``found`` at all."""
    return edge_distance_mm >= EDGE_FULL_CONFIDENCE_MM


def edge_confidence_factor(edge_distance_mm: float) -> float:
    """0 when L3 is surely cut, 1 when L3 and the vertebra beyond it are in the scan, linear between."""
    span = EDGE_FULL_CONFIDENCE_MM - EDGE_SURELY_CUT_MM
    return float(np.clip((edge_distance_mm - EDGE_SURELY_CUT_MM) / span, 0.0, 1.0))


def _masked_correlation(candidates, tops, predictions, height_px, margin):
    """Pearson correlation and slope of predictions vs template over each candidate's ramp segment."""
    templates = ramp_templates(candidates, tops, height_px)
    in_segment = (tops[None, :] >= candidates[:, None] - height_px - margin) & (
        tops[None, :] <= candidates[:, None] + margin
    )
    weights = in_segment.astype(float)
    count = weights.sum(axis=1)
    # A candidate near the ends of the padded range sees only part of its segment; with too few windows
    # a correlation means little.
    stride = float(np.median(np.diff(tops))) if len(tops) > 1 else 1.0
    nominal = (height_px + 2 * margin) / stride
    enough = count >= max(3.0, 0.5 * nominal)
    count = np.maximum(count, 1.0)
    mean_template = (weights * templates).sum(axis=1) / count
    mean_prediction = (weights * predictions[None, :]).sum(axis=1) / count
    template_dev = (templates - mean_template[:, None]) * weights
    prediction_dev = (predictions[None, :] - mean_prediction[:, None]) * weights
    covariance = (template_dev * prediction_dev).sum(axis=1)
    template_var = (template_dev**2).sum(axis=1)
    prediction_var = (prediction_dev**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.sqrt(template_var * prediction_var)
        slope = covariance / template_var
    valid = enough & (template_var > 1e-9) & (prediction_var > 1e-12)
    return np.where(valid, correlation, 0.0), np.where(valid, slope, 0.0)


def _refine_row(coarse_row: float, tops, predictions, height_px: int, margin: float) -> float:
    """Least-absolute-error fit of the ramp's row near the coarse best, over a fixed set of windows.

    The coarse search changes which windows it compares as the candidate moves, which makes its score
    step-wise at large strides; a fixed set makes the fit smooth and exact for an ideal ramp.
    """
    reach = _REFINE_RADIUS_FRACTION * height_px
    in_segment = (tops >= coarse_row - height_px - margin - reach) & (tops <= coarse_row + margin + reach)
    fine = coarse_row + np.arange(-reach, reach + 1e-9, 0.05)
    templates = ramp_templates(fine, tops[in_segment], height_px)
    # Absolute, not squared, error: a few wild windows must not pull the fit.
    absolute_error = np.abs(templates - predictions[in_segment][None, :]).sum(axis=1)
    return float(fine[int(np.argmin(absolute_error))])
