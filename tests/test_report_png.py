"""The QC picture: what a reviewer looks at must be where the result says it is."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from L3SpotterLib.app.report_png import (
    DETECTED,
    LABELS,
    MARGIN_RIGHT_PX,
    REFERENCE,
    TRACE_POINTS,
    caption_lines,
    layout_for,
    render_result_png,
)
from L3SpotterLib.detector import L3Detector


@pytest.fixture(scope="module")
def shipped_result(totalseg_case):
    return L3Detector(None, device="cpu").detect_path(totalseg_case / "ct.nii.gz")


def picture(result, reference_z_ras_mm=None) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(render_result_png(result, reference_z_ras_mm))).convert("RGB"))


def rows_with(image: np.ndarray, colour, columns: slice) -> set[int]:
    return set(np.nonzero(np.all(image[:, columns] == colour, axis=2).any(axis=1))[0].tolist())


def test_the_l3_line_the_reference_and_every_labelled_vertebra_are_drawn_at_their_z(shipped_result, known_l3_z_ras_mm):
    result = shipped_result
    assert result.l3_z_ras_mm is not None and set(result.vertebrae) >= {"L1", "L2", "L3", "L4", "L5", "S1"}
    image = picture(result, known_l3_z_ras_mm)
    layout = layout_for(result, len(caption_lines(result)))
    frontal_left, frontal_width = layout.panels[0]
    frontal = slice(frontal_left, frontal_left + frontal_width)
    line_y = layout.y_of(result.l3_z_ras_mm)
    assert line_y in rows_with(image, DETECTED, frontal) <= {line_y, line_y + 1}  # a line 2 pixels wide, nothing else red
    assert layout.y_of(known_l3_z_ras_mm) in rows_with(image, REFERENCE, frontal)
    yellow = rows_with(image, LABELS, frontal)
    for name, vertebra in result.vertebrae.items():
        assert layout.y_of(vertebra["z_ras_mm"]) in yellow, name
    # The trace's points lie in the trace panel, on the scan's z range.
    trace_left, trace_width = layout.panels[-1]
    points = rows_with(image[: layout.bottom_px + 20], TRACE_POINTS, slice(trace_left, trace_left + trace_width))  # above the legend
    assert len(points) > 100 and min(points) >= layout.top_px - 2 and max(points) <= layout.bottom_px + 2


def test_the_whole_reason_of_an_uncertain_answer_fits_in_the_picture(shipped_result):
    assert shipped_result.status == "uncertain" and len(shipped_result.summary()) > 150
    image = picture(shipped_result)
    # A wrapped caption: the picture is no wider than its panels, however long the reason.
    layout = layout_for(shipped_result, len(caption_lines(shipped_result)))
    assert len(caption_lines(shipped_result)) >= 3
    assert image.shape == (layout.bottom_px + 84, layout.panels[-1][0] + layout.panels[-1][1] + MARGIN_RIGHT_PX, 3)
    assert image.shape[1] < 1400
