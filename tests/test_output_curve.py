"""The output curve: fitted from windows with known targets, it undoes a network's bend of its predictions,
and with it the bias that a bent ramp gives the correlation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from L3SpotterLib.detector import L3Detector
from L3SpotterLib.errors import ModelError
from L3SpotterLib.model_card import read_card, save_model
from L3SpotterLib.networks import WindowRegressor
from L3SpotterLib.output_curve import OutputCurve, correct_predictions, curve_from_card_field
from L3SpotterLib.ramp_correlation import match_ramp
from L3SpotterLib.windows import window_target, window_tops
from training.fit_output_curve import fit_output_curve

from test_model_card import small_card

HEIGHT_PX = 160
ROW_MM = 2.0


def bend(targets):
    """A distortion like the shipped network's before correction: high near 0, low near 1, uneven."""
    targets = np.asarray(targets, dtype=float)
    return np.clip(0.02 + 0.96 * targets - 0.06 * targets**2 * (1 - targets) - 0.02 * targets**4, 0.0, 1.0)


def bent_trace(l3_row: float, n_rows: int, rng=None, noise_sd: float = 0.0):
    tops = window_tops(n_rows, HEIGHT_PX, 2)
    predictions = bend(window_target(l3_row, tops, HEIGHT_PX))
    if rng is not None:
        predictions = np.clip(predictions + rng.normal(0.0, noise_sd, size=len(tops)), 0.0, 1.0)
    return tops, predictions


def training_windows(rng, n_scans=30, n_rows=300):
    predictions, targets = [], []
    for _ in range(n_scans):
        l3_row = rng.uniform(60, n_rows - 60)
        tops, noisy = bent_trace(l3_row, n_rows, rng, noise_sd=0.02)
        predictions.append(noisy)
        targets.append(window_target(l3_row, tops, HEIGHT_PX))
    return np.concatenate(predictions), np.concatenate(targets)


def test_a_bent_ramp_biases_the_row_and_the_fitted_curve_removes_the_bias():
    rng = np.random.default_rng(0)
    curve = fit_output_curve(*training_windows(rng))
    raw_errors, corrected_errors = [], []
    for l3_row in rng.uniform(80, 220, size=12):
        tops, predictions = bent_trace(l3_row, 300)
        raw = match_ramp(tops, predictions, HEIGHT_PX, 300, ROW_MM, 0.5)
        corrected = match_ramp(tops, curve.apply(predictions), HEIGHT_PX, 300, ROW_MM, 0.5)
        raw_errors.append((raw.l3_row - l3_row) * ROW_MM)
        corrected_errors.append((corrected.l3_row - l3_row) * ROW_MM)
    # The bend alone moves the answer by millimetres; the fitted curve brings it back near the truth.
    assert abs(np.mean(raw_errors)) > 1.5
    assert abs(np.mean(corrected_errors)) < 0.4
    assert np.max(np.abs(corrected_errors)) < 1.0


def test_the_curve_maps_the_mean_prediction_of_each_target_back_to_it():
    rng = np.random.default_rng(1)
    curve = fit_output_curve(*training_windows(rng))
    for target in (0.1, 0.3, 0.5, 0.7, 0.9):
        assert curve.apply(np.array([bend(target)]))[0] == pytest.approx(target, abs=0.01)
    # Beyond the end knots: the plateaus.
    assert curve.apply(np.array([0.0, 1.0])).tolist() == [0.0, 1.0]


def test_fitting_pools_groups_whose_means_go_backwards():
    # Windows near 0.5 predicted lower on average than windows near 0.4: the knots must still rise.
    targets = np.array([0.0] * 50 + [0.35] * 50 + [0.45] * 50 + [0.55] * 50 + [1.0] * 50)
    predictions = np.array([0.02] * 50 + [0.40] * 50 + [0.50] * 50 + [0.45] * 50 + [0.97] * 50)
    curve = fit_output_curve(predictions, targets)
    assert np.all(np.diff(curve.raw) > 0) and np.all(np.diff(curve.target) >= 0)
    assert len(curve.raw) == 4  # the two crossing groups became one knot


def test_a_network_that_predicts_one_value_gets_no_curve():
    with pytest.raises(ValueError, match="do not rise"):
        fit_output_curve(np.full(100, 0.4), np.linspace(0, 1, 100))


def test_invalid_knots_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        OutputCurve(raw=(0.1, 0.1, 0.9), target=(0.0, 0.5, 1.0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        OutputCurve(raw=(0.1, 0.9), target=(0.0, 1.5))


def test_a_card_without_a_curve_leaves_predictions_alone():
    predictions = np.array([0.0, 0.3, 1.0], dtype=np.float32)
    assert curve_from_card_field({}) is None
    assert correct_predictions(predictions, None) is predictions


def test_a_card_with_bad_knots_is_refused_with_a_clear_error(tmp_path):
    card_path = tmp_path / "m.json"
    save_model(WindowRegressor("cnn4"), small_card(), card_path)
    text = card_path.read_text().replace('"output_curve": {}', '"output_curve": {"raw": [0.5, 0.2], "target": [0, 1]}')
    card_path.write_text(text)
    with pytest.raises(ModelError, match="output_curve: raw knots must be strictly increasing"):
        read_card(card_path)


def test_the_detector_applies_the_cards_curve(tmp_path):
    torch.manual_seed(0)
    network = WindowRegressor("cnn4")
    plain = save_model(network, small_card(), tmp_path / "plain.json")
    knots = {"raw": [0.0, 0.2, 1.0], "target": [0.0, 0.6, 1.0], "fitted_on": ["test"], "n_windows": 3}
    save_model(network, small_card(output_curve=knots), tmp_path / "curved.json")
    assert plain.output_curve == {}
    stacked = np.random.default_rng(2).random((1, 90, 32), dtype=np.float32)
    _, raw = L3Detector(tmp_path / "plain.json", device="cpu").window_predictions(stacked, 4)
    _, curved = L3Detector(tmp_path / "curved.json", device="cpu").window_predictions(stacked, 4)
    np.testing.assert_allclose(curved, np.interp(raw, knots["raw"], knots["target"]), atol=1e-5)
