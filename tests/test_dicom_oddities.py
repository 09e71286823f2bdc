"""DICOM series with missing slices, uneven spacing or gantry tilt: refused with the reason, or read
with exact slice positions."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from L3SpotterLib.errors import InputError
from L3SpotterLib.volume_io import load_ct

from dicom_series import write_dicom_series


@pytest.fixture(scope="module")
def lps_scan(totalseg_case):
    return sitk.DICOMOrient(sitk.ReadImage(str(totalseg_case / "ct.nii.gz")), "LPS")


def true_positions(image):
    return [image.TransformIndexToPhysicalPoint((0, 0, k)) for k in range(image.GetDepth())]


def test_missing_slices_are_named(lps_scan, tmp_path):
    write_dicom_series(lps_scan, tmp_path / "dicom", skip_slices={50, 51})
    with pytest.raises(InputError, match=r"2 missing slice\(s\) after slice 49 \(a gap of 9.00 mm where slices are 3.00 mm apart\)"):
        load_ct(tmp_path / "dicom")


def test_a_gap_much_wider_than_the_others_is_refused_as_missing_slices(lps_scan, tmp_path):
    positions = [np.array(p) for p in true_positions(lps_scan)]
    for k in range(60, len(positions)):
        positions[k] = positions[k] + np.array([0.0, 0.0, 2.7])  # one gap of 5.7 mm: 1.9 times the usual
    write_dicom_series(lps_scan, tmp_path / "dicom", positions=positions)
    with pytest.raises(InputError, match=r"has a gap of 5.70 mm after slice 59, 1.9 times the usual 3.00 mm: slices are missing there"):
        load_ct(tmp_path / "dicom")


def test_duplicate_slice_positions_are_named(lps_scan, tmp_path):
    positions = [np.array(p) for p in true_positions(lps_scan)]
    positions[31] = positions[30]
    write_dicom_series(lps_scan, tmp_path / "dicom", positions=positions)
    with pytest.raises(InputError, match=r"has 1 duplicated slice position\(s\): slice_0030.dcm and slice_0031.dcm lie at the same position"):
        load_ct(tmp_path / "dicom")


def test_a_slice_stored_twice_under_a_new_uid_is_named_as_such(lps_scan, tmp_path):
    """The issue's case: a copy of one slice with another SOP instance UID, which ITK's sorting put at the
    end and the old check read as 80 missing slices."""
    folder = tmp_path / "dicom"
    write_dicom_series(lps_scan, folder)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(folder / "slice_0030.dcm"))
    copy = reader.Execute()
    for key in reader.GetMetaDataKeys():
        copy.SetMetaData(key, reader.GetMetaData(key))
    copy.SetMetaData("0008|0018", "1.2.826.0.1.3680043.2.1125.1.1.999")
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(folder / "copy_of_30.dcm"))
    writer.Execute(copy)
    with pytest.raises(InputError) as refused:
        load_ct(folder)
    message = str(refused.value)
    assert "1 duplicated slice position(s)" in message and "as when a slice is stored twice under two UIDs" in message
    assert {"slice_0030.dcm", "copy_of_30.dcm"} <= set(message.replace(",", " ").split())
    assert "missing" not in message


def test_a_localizer_inside_the_series_is_dropped_with_a_note(lps_scan, tmp_path):
    """One series UID, two image sizes (a scout stored with the axial slices): ITK refused it with "Size
    mismatch"; the odd image is left out and the result says so."""
    folder = tmp_path / "dicom"
    write_dicom_series(lps_scan, folder)
    scout = sitk.GetImageFromArray(np.full((2, 64, 256), -1000, dtype=np.int16))
    scout.SetSpacing((1.5, 1.5, 1.0))
    write_dicom_series(scout, tmp_path / "scout")  # the same series UID
    (tmp_path / "scout" / "slice_0000.dcm").rename(folder / "scout.dcm")
    volume = load_ct(folder)
    alone = load_ct_of_series(lps_scan, tmp_path / "alone")
    np.testing.assert_array_equal(volume.voxels, alone.voxels)
    np.testing.assert_allclose(volume.geometry.ijk_to_ras, alone.geometry.ijk_to_ras)
    assert volume.series["n_files"] == 113
    assert volume.series["notes"] == [
        "dropped 1 image(s) of another size or orientation (256x64; the slices are 122x101): "
        "a localizer or other image stored in the series (scout.dcm)"
    ]


def load_ct_of_series(image, folder):
    write_dicom_series(image, folder)
    return load_ct(folder)


def z_ramp_series(z_mm, tilt_deg=0.0, size=24):
    """Axial slices at the given z (LPS mm, increasing) whose every voxel holds 10 * z, stacked along a line
    tilted by ``tilt_deg`` towards y (gantry tilt): linear interpolation along the stack is then exact."""
    array = np.stack([np.full((size, size), round(10.0 * z), dtype=np.int16) for z in z_mm])
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.0, 1.0))
    positions = [np.array([-12.0, -12.0 + (z - z_mm[0]) * np.tan(np.radians(tilt_deg)), z]) for z in z_mm]
    return image, positions


def test_uneven_gaps_without_a_missing_slice_are_resampled_onto_an_even_grid(tmp_path):
    """A head CT with gantry tilt and gaps from 1.1 to 7.4 mm (the issue's scanner), none missing: read, on
    an even grid at the median gap, every voxel where the slices say it is; the result records it."""
    gaps = [4.5, 5.0, 7.4, 1.1, 5.5, 6.0] * 7
    z_mm = np.concatenate([[0.0], np.cumsum(gaps)])
    image, positions = z_ramp_series(z_mm, tilt_deg=15.0)
    write_dicom_series(image, tmp_path / "dicom", positions=positions)
    volume = load_ct(tmp_path / "dicom")

    resampled = volume.series["resampled"]
    assert resampled["reason"] == "uneven slice gaps"
    assert resampled["gaps_mm"] == [1.1, 7.4]
    assert resampled["n_slices_read"] == 43
    step_z_mm = z_mm[-1] / (resampled["n_slices"] - 1)
    assert resampled["n_slices"] == round(z_mm[-1] / 5.25) + 1  # the median gap
    assert volume.series["gantry_tilt_deg"] == pytest.approx(15.0, abs=0.05)
    assert volume.series["notes"][-1].startswith("resampled onto an even grid: 43 slices with gaps from 1.1 to 7.4 mm became")
    geometry = volume.geometry
    assert geometry.n_slices == resampled["n_slices"]
    for k in range(geometry.n_slices):
        z = float(geometry.slice_to_z_ras_mm(k))
        assert z == pytest.approx(k * step_z_mm, abs=1e-3)
        assert np.all(np.abs(volume.voxels[k].astype(float) - 10.0 * z) <= 0.5 + 1e-6)


def test_gantry_tilt_keeps_each_slice_at_its_true_z(lps_scan, tmp_path):
    """Slices shifted along y in proportion to z (a 15 degree gantry tilt): ITK would stretch z by
    1/cos(15 deg); the stacking vector taken from the positions keeps every slice's z exact."""
    tilt = np.radians(15.0)
    positions = [np.array(p) + np.array([0.0, k * 3.0 * np.tan(tilt), 0.0]) for k, p in enumerate(true_positions(lps_scan))]
    write_dicom_series(lps_scan, tmp_path / "dicom", positions=positions)
    volume = load_ct(tmp_path / "dicom")
    assert volume.series["gantry_tilt_deg"] == pytest.approx(15.0, abs=0.1)
    geometry = volume.geometry
    for k in (0, 40, 111):
        # z of the slice's in-plane centre equals the written position's z (LPS z = RAS z).
        assert geometry.slice_to_z_ras_mm(k) == pytest.approx(positions[k][2], abs=1e-3)
    assert geometry.slice_thickness_mm == pytest.approx(3.0, abs=1e-6)


def test_untilted_series_reports_no_tilt(lps_scan, tmp_path):
    write_dicom_series(lps_scan, tmp_path / "dicom")
    volume = load_ct(tmp_path / "dicom")
    assert volume.series["gantry_tilt_deg"] == 0.0
    np.testing.assert_allclose(volume.geometry.z_range_ras_mm, (true_positions(lps_scan)[0][2], true_positions(lps_scan)[-1][2]), atol=1e-3)
