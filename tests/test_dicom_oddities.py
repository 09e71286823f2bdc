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


def test_uneven_spacing_is_named(lps_scan, tmp_path):
    positions = [np.array(p) for p in true_positions(lps_scan)]
    for k in range(60, len(positions)):
        positions[k] = positions[k] + np.array([0.0, 0.0, 1.3])  # one gap of 4.3 mm
    write_dicom_series(lps_scan, tmp_path / "dicom", positions=positions)
    with pytest.raises(InputError, match=r"uneven slice spacing \(gaps from 3.00 to 4.30 mm\)"):
        load_ct(tmp_path / "dicom")


def test_duplicate_slice_positions_are_named(lps_scan, tmp_path):
    positions = [np.array(p) for p in true_positions(lps_scan)]
    positions[31] = positions[30]
    write_dicom_series(lps_scan, tmp_path / "dicom", positions=positions)
    with pytest.raises(InputError, match="two slices at the same position"):
        load_ct(tmp_path / "dicom")


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
