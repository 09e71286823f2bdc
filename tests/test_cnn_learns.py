"""A tiny CNN, trained here for a few seconds, learns to find a bright marker: the training path
(engine projections -> window sampler -> fit -> export) and the inference path (load -> windows ->
CNN -> ramp correlation -> result) fit together. This is not the product's model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from L3SpotterLib.detector import L3Detector
from L3SpotterLib.geometry import VolumeGeometry
from L3SpotterLib.mip import project_views
from L3SpotterLib.model_card import ModelCard, save_model
from L3SpotterLib.networks import WindowRegressor
from training.fit_loop import FitConfig, fit
from training.window_sampler import NO_AUGMENTATION, TrainingProjection, WindowSampler

from volumes import ijk_to_ras_of, marker_volume_ras, sitk_image_ras

SPACING_MM = 4.0
N_SLICES = 120


def marker_case(l3_index: int, seed: int):
    volume = marker_volume_ras(l3_index, n_slices=N_SLICES, seed=seed)
    matrix = ijk_to_ras_of(sitk_image_ras(volume, spacing_mm=(SPACING_MM,) * 3))
    geometry = VolumeGeometry(matrix, tuple(reversed(volume.shape)))
    return volume, geometry, float(geometry.slice_to_z_ras_mm(l3_index))


@pytest.fixture(scope="module")
def trained_marker_model(tmp_path_factory):
    torch.manual_seed(0)
    card = ModelCard(
        name="marker-finder", backbone="cnn4", views=["frontal"], row_mm=SPACING_MM, col_mm=SPACING_MM,
        window_height_px=32, window_width_px=16, hu_window=(-100.0, 1000.0), weights_file="",
        default_stride_px=1, training_data={"source": "tests/volumes.py marker volumes"},
    )
    rng = np.random.default_rng(0)
    projections = []
    for seed, l3_index in enumerate(rng.integers(15, N_SLICES - 15, size=16)):
        volume, geometry, l3_z = marker_case(int(l3_index), seed)
        (frontal,) = project_views(volume, geometry, card.views, card.grid)
        projections.append(TrainingProjection(frontal.pixels[None], float(frontal.z_ras_mm_to_row(l3_z))))
    sampler = WindowSampler(projections, card.window_height_px, seed=0, augmentation=NO_AUGMENTATION)
    network = WindowRegressor("cnn4")
    fit(network, sampler, FitConfig(steps=400, batch_size=32, learning_rate=3e-3, warmup_steps=20), torch.device("cpu"), progress=False)
    path = tmp_path_factory.mktemp("marker") / "marker.json"
    save_model(network, card, path)
    return path


@pytest.mark.parametrize("l3_index, seed", [(30, 101), (60, 102), (95, 103)])
def test_trained_cnn_finds_the_marker(trained_marker_model, l3_index, seed):
    volume, geometry, l3_z = marker_case(l3_index, seed)
    result = L3Detector(trained_marker_model, device="cpu").detect_array(volume, geometry.ijk_to_ras, source="marker")
    assert result.status == "found", result.summary()
    assert abs(result.l3_z_ras_mm - l3_z) <= SPACING_MM
    assert abs(result.l3_slice - l3_index) <= 1
    assert result.confidence > 0.8


def test_untrained_cnn_does_not_find_the_marker(tmp_path):
    """The same check fails without training: the test above measures learning, not luck."""
    torch.manual_seed(0)
    card = ModelCard(
        name="untrained", backbone="cnn4", views=["frontal"], row_mm=SPACING_MM, col_mm=SPACING_MM,
        window_height_px=32, window_width_px=16, hu_window=(-100.0, 1000.0), weights_file="", default_stride_px=1,
    )
    save_model(WindowRegressor("cnn4"), card, tmp_path / "untrained.json")
    volume, geometry, l3_z = marker_case(60, 102)
    result = L3Detector(tmp_path / "untrained.json", device="cpu").detect_array(volume, geometry.ijk_to_ras)
    assert result.status != "found" or abs(result.l3_z_ras_mm - l3_z) > SPACING_MM
