"""The vertebra phase (the engine's disc rule, :mod:`L3SpotterLib.vertebra_phase`) and the hidden-anchor
probe of ``benchmarks/answer_probes.py`` measure what they claim, on drawn projections."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from answer_probes import blanked  # noqa: E402
from L3SpotterLib.vertebra_phase import vertebra_phase  # noqa: E402

ROW_MM = 2.0


def spine_columns(n_rows: int, first_disc_row: int, spacing_rows: int, disc_rows: int = 3) -> np.ndarray:
    """A two-view projection: a bright spine band with darker discs every ``spacing_rows`` rows."""
    stacked = np.full((2, n_rows, 60), 0.1, dtype=np.float32)
    stacked[:, :, 25:37] = 0.9
    for disc in range(first_disc_row, n_rows, spacing_rows):
        stacked[:, disc:disc + disc_rows, 25:37] = 0.3
    return stacked


@pytest.mark.parametrize("spacing_rows", [14, 17, 20])
def test_the_phase_is_a_half_mid_body_and_zero_on_a_disc(spacing_rows):
    stacked = spine_columns(200, first_disc_row=10, spacing_rows=spacing_rows)
    disc_centre = 10 + 5 * spacing_rows + 1
    assert vertebra_phase(stacked, disc_centre, ROW_MM) == pytest.approx(0.0, abs=0.06)
    assert vertebra_phase(stacked, disc_centre + spacing_rows / 2, ROW_MM) == pytest.approx(0.5, abs=0.06)
    assert vertebra_phase(stacked, disc_centre + spacing_rows / 4, ROW_MM) == pytest.approx(0.25, abs=0.06)


def test_blanking_keeps_the_rows_asked_for_and_leaves_the_projection_alone():
    stacked = spine_columns(100, first_disc_row=5, spacing_rows=15)
    before = stacked.copy()
    kept = blanked(stacked, 20, 70)
    assert np.array_equal(kept[:, 20:70], stacked[:, 20:70])
    assert not kept[:, :20].any() and not kept[:, 70:].any()
    assert np.array_equal(stacked, before)
    assert np.array_equal(blanked(stacked, -10, 500), stacked)


def test_the_phase_needs_discs_on_both_sides_of_the_answer():
    stacked = spine_columns(200, first_disc_row=10, spacing_rows=17)
    assert vertebra_phase(stacked, 2.0, ROW_MM) is None  # 50 mm of projection below the answer only
    assert vertebra_phase(stacked, 100.0, ROW_MM) is not None


def test_the_engine_measures_the_phase_of_its_answer():
    from L3SpotterLib import pipeline
    from L3SpotterLib.ramp_correlation import RampMatch

    stacked = spine_columns(200, first_disc_row=10, spacing_rows=17)
    on_a_body = RampMatch(10 + 5 * 17 + 1 + 8.5, 0.99, 1.0, 0.99, "inside", 150.0)
    assert pipeline.phase_at(stacked, on_a_body, ROW_MM) == pytest.approx(0.5, abs=0.06)
    outside = RampMatch(-30.0, 0.99, 1.0, 0.99, "above_scan", None)
    assert pipeline.phase_at(stacked, outside, ROW_MM) is None
