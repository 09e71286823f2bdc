"""Where an answer lies between two intervertebral discs, read from the projection near it.

On both MIPs a disc is a narrow band darker than the bodies above and below it (the endplates and the
cortical shell are bone; the disc is not). Near the answer, each row gets a disc strength: how much darker
it is than its neighbourhood along z (a grey-level closing over ``DISC_CLOSING_MM``), in the brightest
fifth of the columns, which is the spine. A regular comb of discs (spacing 20-45 mm, any offset) is fitted
to those strengths, and the answer's phase is its distance to the nearest tooth over the spacing: 0 on a
disc, 0.5 in the middle of a vertebral body.

An answer half a vertebra off lies near a disc, whatever the count says: the confidently wrong answers
left on the domain-shift family (four- and six-lumbar spines, where the networks settle between the count
from the ribs and the count from the sacrum) lie 0.11-0.12 of a vertebra from a disc, where 95 % of the
answers on the right vertebra lie more than 0.16 from one (``benchmarks/answer_probes.py``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

DISC_CLOSING_MM = 18.0  # longer than a disc (2-12 mm), shorter than a body (18-35 mm)
HALF_WIDTH_MM = 50.0  # the stretch of projection either side of the answer the comb is fitted on
DISC_SPACING_MM = (20.0, 45.0)
_SPACING_STEP_ROWS = 0.25
_OFFSET_STEP_ROWS = 0.5
_TOOTH_SIGMA_ROWS = 1.5
_SPINE_COLUMN_QUANTILE = 0.8  # the spine: columns brighter than this quantile of the column medians
_ROW_QUANTILE = 0.7  # a row's disc strength: this quantile of its darkening over the spine columns


def disc_strength(view: np.ndarray, centre_row: float, half_rows: int, closing_rows: int) -> tuple[int, np.ndarray]:
    """``(first row, disc strength of each row from it)`` for ``view`` [rows, columns] near ``centre_row``."""
    first = max(0, int(centre_row) - half_rows)
    last = min(view.shape[0], int(centre_row) + half_rows + 1)
    patch = view[first:last]
    darker = ndimage.grey_closing(patch, size=(closing_rows, 1)) - patch
    column_level = np.median(patch, axis=0)
    spine = column_level >= np.quantile(column_level, _SPINE_COLUMN_QUANTILE)
    return first, np.quantile(darker[:, spine], _ROW_QUANTILE, axis=1)


def vertebra_phase(stacked_views: np.ndarray, answer_row: float, row_mm: float) -> float | None:
    """The answer's phase between the discs (0 on a disc, 0.5 mid-body) on a ``[views, rows, width]``
    projection, or None where too little of the projection lies around the answer to fit a comb."""
    half_rows = int(round(HALF_WIDTH_MM / row_mm))
    closing_rows = max(3, int(round(DISC_CLOSING_MM / row_mm)) | 1)
    strength = None
    for view in stacked_views:
        first, view_strength = disc_strength(view, answer_row, half_rows, closing_rows)
        strength = view_strength if strength is None else strength + view_strength
    if strength is None or len(strength) * row_mm < 2 * DISC_SPACING_MM[1]:
        return None
    rows = np.arange(len(strength), dtype=float) + first
    strength = strength - strength.mean()
    best_score, best_phase = -np.inf, None
    for spacing in np.arange(DISC_SPACING_MM[0] / row_mm, DISC_SPACING_MM[1] / row_mm, _SPACING_STEP_ROWS):
        offsets = np.arange(0.0, spacing, _OFFSET_STEP_ROWS)
        to_tooth = np.abs(((rows[None, :] - offsets[:, None] + spacing / 2) % spacing) - spacing / 2)
        # Normalised by the number of teeth, so that a finer comb does not win by having more of them.
        scores = np.exp(-0.5 * (to_tooth / _TOOTH_SIGMA_ROWS) ** 2) @ strength / np.sqrt(len(rows) / spacing)
        best = int(np.argmax(scores))
        if scores[best] > best_score:
            answer_to_tooth = abs(((answer_row - offsets[best] + spacing / 2) % spacing) - spacing / 2)
            best_score, best_phase = float(scores[best]), float(answer_to_tooth / spacing)
    return best_phase
