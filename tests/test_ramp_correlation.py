"""Windows and the ramp correlation, checked with known per-window predictions."""

from __future__ import annotations

import numpy as np
import pytest

from L3SpotterLib.ramp_correlation import EDGE_SURELY_WHOLE_MM, edge_confidence_factor, match_ramp, window_spread_mm
from L3SpotterLib.windows import extract_windows, padded_for_windows, window_target, window_tops

HEIGHT = 160
ROW_MM = 2.0


def ideal_trace(l3_row: float, n_rows: int, stride: int):
    tops = window_tops(n_rows, HEIGHT, stride)
    return tops, window_target(l3_row, tops, HEIGHT)


def match(tops, predictions, n_rows, threshold=0.5):
    return match_ramp(tops, predictions, HEIGHT, n_rows, ROW_MM, threshold)


def test_window_tops_cover_every_row_at_every_position():
    tops = window_tops(n_rows=50, height_px=HEIGHT, stride_px=1)
    assert tops[0] == -(HEIGHT - 1) and tops[-1] == 49
    for row in (0, 25, 49):
        positions = row - tops
        assert set(range(HEIGHT)) <= set(positions.tolist())


def test_window_stride_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        window_tops(100, HEIGHT, 0)


def test_extracted_windows_hold_the_right_rows_and_zero_padding():
    image = np.arange(30 * 4, dtype=np.float32).reshape(30, 4) + 1.0
    height = 8
    padded = padded_for_windows(image, height)
    tops = np.array([-7, -3, 0, 10, 29])
    windows = extract_windows(padded, tops, height)
    assert windows.shape == (5, height, 4)
    np.testing.assert_array_equal(windows[2], image[0:8])
    np.testing.assert_array_equal(windows[3], image[10:18])
    np.testing.assert_array_equal(windows[1][:3], 0.0)  # rows -3..-1 are padding
    np.testing.assert_array_equal(windows[1][3:], image[0:5])
    np.testing.assert_array_equal(windows[4][0], image[29])
    np.testing.assert_array_equal(windows[4][1:], 0.0)
    stacked = extract_windows(padded_for_windows(np.stack([image, -image]), height), tops, height)
    assert stacked.shape == (5, 2, height, 4)
    np.testing.assert_array_equal(stacked[:, 1], -windows)


def test_window_target_ramp():
    assert window_target(100, 100, HEIGHT) == 0.0
    assert window_target(100, 20, HEIGHT) == pytest.approx(80 / HEIGHT)
    assert window_target(100, -200, HEIGHT) == 1.0
    assert window_target(100, 150, HEIGHT) == 0.0


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
@pytest.mark.parametrize("l3_row", [60.0, 123.4, 200.75])
def test_exact_ramp_is_found_exactly(l3_row, stride):
    tops, predictions = ideal_trace(l3_row, n_rows=260, stride=stride)
    result = match(tops, predictions, 260)
    assert result.l3_row == pytest.approx(l3_row, abs=0.15)
    assert result.confidence == pytest.approx(1.0, abs=1e-3)
    assert result.l3_position == "inside"


@pytest.mark.parametrize("seed", range(5))
def test_noisy_ramp_is_found_within_a_row(seed):
    rng = np.random.default_rng(seed)
    l3_row = rng.uniform(40, 220)
    tops, predictions = ideal_trace(l3_row, n_rows=260, stride=2)
    noisy = np.clip(predictions + rng.normal(0, 0.05, size=predictions.shape), 0, 1)
    result = match(tops, noisy, 260)
    assert result.l3_row == pytest.approx(l3_row, abs=1.0)
    assert 0.8 < result.confidence <= 1.0


def test_noisy_ramp_with_outlier_windows_still_found():
    rng = np.random.default_rng(7)
    tops, predictions = ideal_trace(150.0, n_rows=260, stride=2)
    corrupted = predictions.copy()
    wrong = rng.choice(len(tops), size=len(tops) // 10, replace=False)
    corrupted[wrong] = rng.uniform(0, 1, size=wrong.size)
    result = match(tops, corrupted, 260)
    assert result.l3_row == pytest.approx(150.0, abs=2.0)


@pytest.mark.parametrize("l3_row, position", [(0.0, "at_superior_edge"), (7.0, "at_superior_edge"), (259.0, "at_inferior_edge"), (252.5, "at_inferior_edge")])
def test_l3_at_either_edge_is_found_and_flagged(l3_row, position):
    tops, predictions = ideal_trace(l3_row, n_rows=260, stride=2)
    result = match(tops, predictions, 260)
    assert result.l3_row == pytest.approx(l3_row, abs=0.5)
    assert result.l3_position == position
    # Part of L3 is cut off: the confidence drops in proportion to how close its centre is to the edge.
    assert result.confidence <= edge_confidence_factor(result.edge_distance_mm) + 1e-6
    assert result.edge_distance_mm < EDGE_SURELY_WHOLE_MM


def test_edge_confidence_factor():
    assert edge_confidence_factor(5.0) == 0.0
    assert edge_confidence_factor(30.0) == pytest.approx(0.5)
    assert edge_confidence_factor(50.0) == 1.0
    assert edge_confidence_factor(80.0) == 1.0


def test_l3_far_from_the_edges_is_not_flagged():
    tops, predictions = ideal_trace(130.0, n_rows=260, stride=2)
    result = match(tops, predictions, 260)
    assert result.l3_position == "inside"
    assert result.edge_distance_mm == pytest.approx(129.0 * ROW_MM, abs=1.0)


@pytest.mark.parametrize("value, side", [(1.0, "below_scan"), (0.0, "above_scan"), (0.97, "below_scan"), (0.04, "above_scan")])
def test_flat_trace_means_l3_not_in_view_and_says_where(value, side):
    rng = np.random.default_rng(3)
    tops = window_tops(200, HEIGHT, 2)
    predictions = np.clip(value + rng.normal(0, 0.02, size=tops.shape), 0, 1)
    result = match(tops, predictions, 200)
    assert result.l3_row is None
    assert result.l3_position == side
    assert result.confidence < 0.5


def test_ramp_beyond_the_lower_end_is_placed_below_the_scan():
    """L3 40 rows below the last row: only the top of its ramp is seen; the fit puts it outside."""
    n_rows = 200
    tops, predictions = ideal_trace(n_rows - 1 + 40.0, n_rows=n_rows, stride=2)
    result = match(tops, predictions, n_rows)
    assert result.l3_position == "below_scan"
    assert result.l3_row == pytest.approx(n_rows - 1 + 40.0, abs=1.0)


def test_faint_ramp_has_low_confidence():
    """A ramp with the right shape but a tenth of the amplitude is not a confident answer."""
    tops, predictions = ideal_trace(120.0, n_rows=260, stride=2)
    faint = 0.45 + 0.1 * predictions
    result = match(tops, faint, 260)
    assert result.confidence < 0.2


def test_random_trace_has_low_confidence():
    rng = np.random.default_rng(11)
    tops = window_tops(260, HEIGHT, 2)
    result = match(tops, rng.uniform(0, 1, size=tops.shape), 260)
    assert result.confidence < 0.5


def test_a_clean_ramp_within_one_level_of_the_edge_is_not_full_confidence():
    """The vertebra next to a cut L3 gives a perfect ramp ~30 mm from the edge; the count cannot be checked."""
    n_rows, row_mm = 260, 2.0
    l3_row = n_rows - 1 - 30.0 / row_mm  # 30 mm above the inferior edge: wholly inside, so not flagged
    tops, predictions = ideal_trace(l3_row, n_rows=n_rows, stride=2)
    result = match(tops, predictions, n_rows)
    assert result.l3_position == "inside"
    assert result.confidence == pytest.approx(edge_confidence_factor(30.0), abs=0.02)
    assert result.confidence < 0.6


def test_the_window_spread_is_zero_for_an_ideal_ramp_and_the_median_scatter_otherwise():
    n_rows = 300
    tops, predictions = ideal_trace(150.0, n_rows, stride=2)
    assert match(tops, predictions, n_rows).window_spread_mm == pytest.approx(0.0, abs=1e-9)
    # Every window holding L3 well inside it now places L3 alternately 2 rows above and below: 4 mm at 2 mm rows.
    holding = (tops >= 150.0 - 0.85 * HEIGHT) & (tops <= 150.0 - 0.15 * HEIGHT)
    scattered = predictions.copy()
    scattered[holding] += np.where(np.arange(holding.sum()) % 2 == 0, 2.0, -2.0) / HEIGHT
    result = match(tops, scattered, n_rows)
    assert result.l3_row == pytest.approx(150.0, abs=0.5)
    assert result.window_spread_mm == pytest.approx(window_spread_mm(150.0, tops, scattered, HEIGHT, ROW_MM))
    assert window_spread_mm(150.0, tops, scattered, HEIGHT, ROW_MM) == pytest.approx(4.0)


def test_an_answer_beyond_the_scan_has_no_window_spread():
    tops, predictions = ideal_trace(-60.0, 300, stride=2)
    assert match(tops, predictions, 300).window_spread_mm is None
