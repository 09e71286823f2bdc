"""The mirror refinement (pipeline.mirror_refined_predictions): the windows that hold the first answer are
rerun with the frontal view mirrored left-right and averaged with the first pass; no other window changes,
and a card turns it on or off (``frontal_mirror_refinement``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from L3SpotterLib.errors import ModelError
from L3SpotterLib.model_card import read_card, save_model
from L3SpotterLib.networks import WindowRegressor
from L3SpotterLib.pipeline import LoadedModel, mirror_refined_predictions, window_predictions, windows_and_ramp
from L3SpotterLib.ramp_correlation import match_ramp

from test_model_card import small_card

STRIDE_PX = 2
HEIGHT_PX = 32  # small_card's windows
N_ROWS = 120
L3_ROW = 60.0


class BiasedRamp(torch.nn.Module):
    """A stand-in regressor: the exact ramp for L3 at ``L3_ROW`` (it reads each window's top row from the
    lateral view, whose row r holds (r + 1) / N_ROWS), plus a bias that changes sign when the frontal view is
    mirrored left-right (the frontal view's column-weighted mean)."""

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        top = windows[:, 1, 0, 0] * N_ROWS - 1.0
        width = windows.shape[-1]
        column_weight = (torch.arange(width, dtype=windows.dtype) - (width - 1) / 2) / width
        bias = 5.0 * (windows[:, 0] * column_weight).mean(dim=(1, 2))
        return torch.clamp((L3_ROW - top) / HEIGHT_PX, 0.0, 1.0) + bias


def two_view_model(tmp_path, refinement: bool) -> LoadedModel:
    path = tmp_path / f"refinement_{refinement}.json"
    save_model(WindowRegressor("cnn4", n_views=2), small_card(views=["frontal", "lateral"], frontal_mirror_refinement=refinement), path)
    model = LoadedModel.load(path, device="cpu")
    model.network = BiasedRamp()
    return model


def ramp_projection(seed: int) -> np.ndarray:
    """``[frontal, lateral]``: a random (asymmetric) frontal view and the lateral view that encodes rows."""
    stacked = np.empty((2, N_ROWS, 32), dtype=np.float32)
    stacked[0] = np.random.default_rng(seed).random((N_ROWS, 32), dtype=np.float32)
    stacked[1] = ((np.arange(N_ROWS) + 1.0) / N_ROWS)[:, None]
    return stacked


def mirrored_frontal(stacked: np.ndarray) -> np.ndarray:
    mirrored = stacked.copy()
    mirrored[0] = mirrored[0][:, ::-1]
    return mirrored


def test_only_the_windows_holding_the_answer_are_averaged_with_their_mirrored_pass(tmp_path):
    model = two_view_model(tmp_path, refinement=True)
    stacked = ramp_projection(3)
    tops, first = window_predictions(stacked, model, STRIDE_PX)
    _, on_mirrored = window_predictions(mirrored_frontal(stacked), model, STRIDE_PX)

    refined = mirror_refined_predictions(stacked, model, tops, first, l3_row=45.0)

    holding = (tops >= 45 - HEIGHT_PX) & (tops <= 45)
    assert holding.sum() == 17  # tops 13, 15, ..., 45
    assert not np.allclose(on_mirrored[holding], first[holding], atol=1e-3)  # the mirror changes the input
    np.testing.assert_array_equal(refined[~holding], first[~holding])
    np.testing.assert_allclose(refined[holding], (first[holding] + on_mirrored[holding]) / 2, atol=1e-6)


def test_a_symmetric_frontal_view_is_left_as_it_was(tmp_path):
    model = two_view_model(tmp_path, refinement=True)
    stacked = ramp_projection(4)
    stacked[0, :, 16:] = stacked[0, :, :16][:, ::-1]
    tops, first = window_predictions(stacked, model, STRIDE_PX)
    np.testing.assert_allclose(mirror_refined_predictions(stacked, model, tops, first, l3_row=50.0), first, atol=1e-6)


@pytest.mark.parametrize("refinement", [False, True])
def test_the_card_says_whether_the_ramp_is_matched_to_the_refined_predictions(tmp_path, refinement):
    model = two_view_model(tmp_path, refinement)
    stacked = ramp_projection(5)
    tops, first = window_predictions(stacked, model, STRIDE_PX)
    first_ramp = match_ramp(tops, first, HEIGHT_PX, N_ROWS, model.card.row_mm, model.card.confidence_threshold)
    assert abs(first_ramp.l3_row - L3_ROW) < 3  # the bias moves it, a little

    got_tops, predictions, ramp = windows_and_ramp(stacked, model, STRIDE_PX)

    np.testing.assert_array_equal(got_tops, tops)
    if not refinement:
        np.testing.assert_array_equal(predictions, first)
        assert ramp.l3_row == first_ramp.l3_row
        return
    # The mirrored pass carries the opposite bias: their mean is the unbiased ramp where the windows hold L3.
    holding = (tops >= first_ramp.l3_row - HEIGHT_PX) & (tops <= first_ramp.l3_row)
    unbiased = np.clip((L3_ROW - tops) / HEIGHT_PX, 0.0, 1.0)
    np.testing.assert_allclose(predictions[holding], unbiased[holding], atol=1e-5)
    np.testing.assert_array_equal(predictions[~holding], first[~holding])
    assert ramp.l3_row == match_ramp(tops, predictions, HEIGHT_PX, N_ROWS, model.card.row_mm, model.card.confidence_threshold).l3_row


def test_a_card_asking_for_it_must_say_true_or_false_and_have_a_frontal_view(tmp_path):
    path = tmp_path / "m.json"
    save_model(WindowRegressor("cnn4"), small_card(views=["lateral"]), path)
    text = path.read_text()
    path.write_text(text.replace('"frontal_mirror_refinement": false', '"frontal_mirror_refinement": "yes"'))
    with pytest.raises(ModelError, match="frontal_mirror_refinement 'yes' must be true or false"):
        read_card(path)
    path.write_text(text.replace('"frontal_mirror_refinement": false', '"frontal_mirror_refinement": true'))
    with pytest.raises(ModelError, match="frontal_mirror_refinement needs the frontal view"):
        read_card(path)
