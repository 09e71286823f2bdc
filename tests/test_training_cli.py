"""Training from the command line, end to end: annotated cases -> projections -> fit -> export ->
the engine loads the model and detects. Also the checkpoint that lets an interrupted run resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from L3SpotterLib.detector import L3Detector
from L3SpotterLib.geometry import VolumeGeometry
from L3SpotterLib.model_card import read_card
from L3SpotterLib.volume_io import load_ct
from L3SpotterLib.windows import window_tops
from training import train
from training.fit_loop import FitConfig, fit
from training.window_sampler import NO_AUGMENTATION, TrainingProjection, WindowSampler

from volumes import ijk_to_ras_of, marker_volume_ras, sitk_image_ras


@pytest.fixture(scope="module")
def marker_cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("marker_cases")
    for seed, l3_index in enumerate([25, 40, 55, 70, 85, 95]):
        image = sitk_image_ras(marker_volume_ras(l3_index, n_slices=120, seed=seed), spacing_mm=(4.0, 4.0, 4.0))
        folder = root / f"case_{seed}"
        folder.mkdir()
        sitk.WriteImage(image, str(folder / "ct.nii.gz"))
        geometry = VolumeGeometry(ijk_to_ras_of(image), image.GetSize())
        (folder / "case.json").write_text(json.dumps({"l3_slice": l3_index, "l3_z_ras_mm": float(geometry.slice_to_z_ras_mm(l3_index))}))
    return root


SMALL_SHAPE = ["--backbone", "cnn4", "--pretrained", "none", "--row-mm", "4", "--col-mm", "4", "--window-height", "32", "--window-width", "16"]


def test_train_export_load_detect(marker_cases, tmp_path):
    out = tmp_path / "model" / "marker.json"
    code = train.main([
        "--data", str(marker_cases), "--out", str(out), *SMALL_SHAPE, "--steps", "200", "--validate-every", "100",
        "--batch-size", "16", "--lr", "3e-3", "--workers", "1", "--cache-dir", str(tmp_path / "cache"),
    ])
    assert code == 0
    card = read_card(out)
    assert card.backbone == "cnn4" and card.window_height_px == 32
    assert card.training_data["n_training_cases"] + card.training_data["n_validation_cases"] == 6
    assert "python -m training.train" in card.training_data["command"]
    assert len(card.weights_sha256) == 64
    # The projections were cached: one file per case.
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 6
    result = L3Detector(out, device="cpu").detect_path(marker_cases / "case_0" / "ct.nii.gz")
    # The marker is easy to learn: 200 steps find it (case_0's marker is at slice 25), precisely enough that the
    # windows agree on its row within pipeline.MAX_WINDOW_SPREAD_MM (0.66 mm; 3.2 mm after 60 steps).
    assert result.status == "found", result.summary()
    assert abs(result.l3_slice - 25) <= 1, result.summary()
    assert result.model["name"] == "marker"


def test_interrupted_training_resumes_from_its_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    projections = [TrainingProjection(rng.random((1, 80, 16), dtype=np.float32), float(rng.uniform(10, 70))) for _ in range(4)]
    checkpoint = tmp_path / "run.ckpt"

    def run(steps):
        torch.manual_seed(0)
        from L3SpotterLib.networks import WindowRegressor

        network = WindowRegressor("cnn4")
        sampler = WindowSampler(projections, 32, seed=0, augmentation=NO_AUGMENTATION)
        messages = []
        history = fit(network, sampler, FitConfig(steps=steps, batch_size=4, validate_every=10, warmup_steps=2), torch.device("cpu"),
                      validate=lambda model: 1.0, checkpoint_path=checkpoint, progress=False, log=messages.append)
        return network, history, messages

    _, first_history, _ = run(20)
    assert [record["step"] for record in first_history] == [10, 20]
    _, history, messages = run(30)
    assert any("resumed from" in message and "at step 20" in message for message in messages)
    assert [record["step"] for record in history] == [10, 20, 30]


def test_short_training_on_phantoms_end_to_end(tmp_path):
    """CI trains for real: a few steps on a few phantoms made on the fly, export, load, detect."""
    from L3SpotterLib.phantom import generate_phantom, write_phantom_case

    out = tmp_path / "phantom_model.json"
    code = train.main([
        "--data", "phantoms:4:5000", "--val-data", "phantoms:1:6000", "--out", str(out), *SMALL_SHAPE,
        "--phantom-voxel-mm", "4", "--intensity-randomization", "0.5", "--steps", "12", "--validate-every", "6",
        "--batch-size", "8", "--workers", "1", "--cache-dir", str(tmp_path / "cache"),
    ])
    assert code == 0
    card = read_card(out)
    assert card.training_data["sources"] == ["phantoms:4:5000"]
    case = write_phantom_case(generate_phantom(7000, voxel_mm=4.0), tmp_path / "case")
    detector = L3Detector(out, device="cpu")
    result = detector.detect_path(case / "ct.nii.gz")
    # Twelve steps teach nothing that can be asserted of the answer; what is exact is that the exported
    # weights ran over every window of the scan's projection.
    volume = load_ct(case / "ct.nii.gz")
    n_rows = detector.projections(volume.voxels, volume.geometry)[0].pixels.shape[0]
    expected_windows = len(window_tops(n_rows, card.window_height_px, card.default_stride_px))
    assert result.trace is not None, result.summary()
    assert len(result.trace.predicted_fraction) == expected_windows
    assert result.model["weights_sha256"] == card.weights_sha256


def test_cross_validation_prints_the_seeds_table(marker_cases, tmp_path, capsys):
    from training import crossval

    code = crossval.main([
        "--data", str(marker_cases), "--folds", "2", *SMALL_SHAPE, "--steps", "20", "--batch-size", "8",
        "--stride", "2", "--workers", "1", "--cache-dir", str(tmp_path / "cache"),
    ])
    assert code == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| fold | error (slices) | error (mm) |")
    assert [line.split("|")[1].strip() for line in table[2:]] == ["0", "1", "average"]
    assert table[-1].rstrip().endswith("| 6 |")  # the average row covers every case


def test_sampled_windows_show_l3_where_their_target_says():
    """A bright line drawn on L3's row must appear at the target's row of every window that holds it,
    through warp, crop and shift (a wrong target would teach the model the wrong place)."""
    from training.window_sampler import Augmentation

    pixels = np.zeros((1, 400, 32), dtype=np.float32)
    l3_row = 217.0
    pixels[0, 216:219, :] = 1.0
    projection = TrainingProjection(pixels, l3_row)
    augmentation = Augmentation(flip_probability=0.0, gain_range=(1, 1), gamma_range=(1, 1), offset_range=(0, 0),
                                noise_sd_range=(0, 0), z_blur_probability=0.0, max_bright_spots=0, shift_px_range=(0, 0),
                                width_scale_range=(1, 1))
    sampler = WindowSampler([projection], 64, seed=3, augmentation=augmentation, share_with_l3=1.0)
    checked = 0
    for _ in range(200):
        window, target = sampler.window(projection)
        profile = window[0].mean(axis=1)
        if 0.05 < target < 0.95 and profile.max() > 0.5:
            assert abs(np.argmax(profile) - target * 64) <= 2.0
            checked += 1
    assert checked > 100


def test_fit_output_curve_writes_the_curve_into_the_card_and_leaves_the_weights(tmp_path):
    """On the shipped network and two validation phantoms: a valid, increasing curve, with its provenance."""
    import shutil

    from L3SpotterLib.model_card import model_files, resolve_card_path
    from L3SpotterLib.output_curve import curve_from_card_field
    from training import fit_output_curve

    shipped = resolve_card_path(None)
    for path in model_files(shipped):
        shutil.copy(path, tmp_path / path.name)
    card_path = tmp_path / shipped.name
    before = read_card(card_path)
    code = fit_output_curve.main([
        str(card_path), "--data", "phantoms:2:900000", "--phantom-voxel-mm", "4", "--workers", "1",
        "--cache-dir", str(tmp_path / "cache"),
    ])
    assert code == 0
    after = read_card(card_path)
    assert after.weights_sha256 == before.weights_sha256
    assert after.output_curve["fitted_on"] == ["phantoms:2:900000"]
    assert after.output_curve["phantom_acquisition"] == "4 mm isotropic voxels"
    curve = curve_from_card_field(after.output_curve)
    assert curve.target[0] == 0.0 and curve.target[-1] == 1.0 and len(curve.raw) >= 6
    L3Detector(card_path, device="cpu")  # the engine loads it


def test_realistic_phantom_projections_have_their_own_cache_key_and_pixels(tmp_path):
    """--phantom-pixel-mm: phantoms acquired as real scans are (drawn slice thickness, noise) with these
    in-plane pixels, exactly as training.evaluate makes them."""
    from L3SpotterLib.mip import project_views
    from L3SpotterLib.model_card import resolve_card_path
    from L3SpotterLib.phantom import generate_phantom
    from training.annotations import read_data_spec
    from training.projection_cache import ProjectionSpec, load_projections

    grid = read_card(resolve_card_path(None)).grid
    isotropic = ProjectionSpec(views=("frontal",), grid=grid, phantom_voxel_mm=4.0)
    realistic = ProjectionSpec(views=("frontal",), grid=grid, phantom_voxel_mm=None, phantom_pixel_mm=4.0)
    assert isotropic.key() != realistic.key()
    [projection] = load_projections(read_data_spec("phantoms:1:900001"), realistic, tmp_path, progress=False)
    phantom = generate_phantom(900001, pixel_spacing_mm=4.0)
    geometry = VolumeGeometry(phantom.ijk_to_ras, tuple(reversed(phantom.ct.shape)))
    assert projection.slice_thickness_mm == pytest.approx(geometry.slice_thickness_mm)
    [expected] = project_views(phantom.ct, geometry, ("frontal",), grid)
    np.testing.assert_allclose(projection.pixels[0], expected.pixels, atol=1e-3)  # the cache stores float16


def test_a_narrow_field_leaves_air_beyond_its_half_width_in_every_view():
    from training.window_sampler import Augmentation

    projection = TrainingProjection(np.ones((2, 300, 160), dtype=np.float32), 150.0)
    plain = dict(flip_probability=0.0, gain_range=(1, 1), gamma_range=(1, 1), offset_range=(0, 0), noise_sd_range=(0, 0),
                 z_blur_probability=0.0, max_bright_spots=0, shift_px_range=(0, 0), width_scale_range=(1, 1), crop_probability=0.0)
    narrow = Augmentation(narrow_field_probability=1.0, narrow_field_half_width_px_range=(30.0, 30.0), narrow_field_centre_shift_px=0.0, **plain)
    window, _ = WindowSampler([projection], 64, seed=1, augmentation=narrow, share_with_l3=1.0).window(projection)
    columns_in_field = np.abs(np.arange(160) - 79.5) <= 30.0
    for view in window:
        rows_in_scan = view[:, columns_in_field].max(axis=1) > 0  # a window may reach past the scan's ends
        assert rows_in_scan.sum() > 32
        assert np.all(view[rows_in_scan][:, columns_in_field] == 1.0)
        assert np.all(view[:, ~columns_in_field] == 0.0)
