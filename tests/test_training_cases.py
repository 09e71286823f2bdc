"""The label folder the Slicer panel saves checked scans into, read back by ``training``."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest
import SimpleITK as sitk

from L3SpotterLib.app.training_cases import ScanSource, count_training_cases, save_training_case
from L3SpotterLib.geometry import VolumeGeometry
from training.annotations import AnnotationError, read_data_spec

WHEN = datetime(2026, 11, 30, 9, 15, tzinfo=timezone.utc)


def test_a_scan_that_is_a_file_is_referenced_not_copied(totalseg_case, tmp_path):
    labels = tmp_path / "labels"
    detection = {"status": "found", "l3_z_ras_mm": -140.0, "confidence": 0.97, "model": "l3spotter_mobilenet_v2"}
    case = save_training_case(labels, ScanSource("CT", ct_path=str(totalseg_case / "ct.nii.gz")), -148.5, detection, user="dr_a", now=WHEN)

    assert sorted(path.name for path in case.iterdir()) == ["case.json"]
    record = json.loads((case / "case.json").read_text())
    assert record["ct_path"] == str((totalseg_case / "ct.nii.gz").resolve())
    assert record["l3_z_ras_mm"] == -148.5
    assert record["history"] == [{"saved_at": "2026-11-30T09:15:00+00:00", "saved_by": "dr_a", "l3_z_ras_mm": -148.5,
                                  "detection": detection, "corrected_by_mm": -8.5}]
    [scan] = read_data_spec(str(labels))
    assert (scan.case_id, scan.l3_z_ras_mm, scan.ct_path, scan.origin) == ("CT", -148.5, record["ct_path"], "case.json")
    assert count_training_cases(labels) == 1


def test_saving_the_same_scan_again_updates_its_case_and_keeps_the_history(totalseg_case, tmp_path):
    source = ScanSource("CT", ct_path=str(totalseg_case / "ct.nii.gz"))
    first = save_training_case(tmp_path, source, -140.0, None, user="dr_a", now=WHEN)
    second = save_training_case(tmp_path, source, -150.0, {"status": "uncertain", "l3_z_ras_mm": -140.0, "confidence": 0.8, "model": "m"},
                                user="dr_b", now=WHEN)

    assert first == second and count_training_cases(tmp_path) == 1
    record = json.loads((second / "case.json").read_text())
    assert record["l3_z_ras_mm"] == -150.0
    assert [(entry["saved_by"], entry["l3_z_ras_mm"], entry["corrected_by_mm"]) for entry in record["history"]] == [
        ("dr_a", -140.0, None), ("dr_b", -150.0, -10.0)]


def test_a_scan_in_memory_is_written_as_nifti_with_its_geometry(tmp_path):
    voxels = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 1000  # [k, j, i]
    ijk_to_ras = np.array([[-0.8, 0, 0, 100.0], [0, -0.8, 0, 50.0], [0, 0, 2.5, -300.0], [0, 0, 0, 1]])
    case = save_training_case(tmp_path, ScanSource("edited CT/1", voxels=voxels, ijk_to_ras=ijk_to_ras), -295.0, user="u", now=WHEN)

    assert case.name == "edited_CT_1"
    image = sitk.ReadImage(str(case / "ct.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), voxels)
    np.testing.assert_allclose(VolumeGeometry.from_sitk_image(image).ijk_to_ras, ijk_to_ras, atol=1e-4)
    assert "ct_path" not in json.loads((case / "case.json").read_text())
    [scan] = read_data_spec(str(tmp_path))
    assert scan.ct_path == str(case / "ct.nii.gz") and scan.l3_z_ras_mm == -295.0


def test_two_scans_with_one_name_get_two_cases(tmp_path):
    ijk_to_ras = np.diag([1.0, 1.0, 2.0, 1.0])
    first = save_training_case(tmp_path, ScanSource("CT", voxels=np.zeros((3, 4, 4), np.int16), ijk_to_ras=ijk_to_ras), 1.0)
    second = save_training_case(tmp_path, ScanSource("CT", voxels=np.ones((3, 4, 4), np.int16), ijk_to_ras=ijk_to_ras), 2.0)

    assert (first.name, second.name) == ("CT", "CT_2")
    assert count_training_cases(tmp_path) == 2


def test_a_level_that_is_not_a_number_and_a_scan_without_voxels_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not a number"):
        save_training_case(tmp_path, ScanSource("CT", ct_path="/x.nii.gz"), float("nan"))
    with pytest.raises(ValueError, match="needs the scan's file or its voxels"):
        save_training_case(tmp_path, ScanSource("CT"), 1.0)
    assert count_training_cases(tmp_path) == 0 and count_training_cases(tmp_path / "absent") == 0


def test_a_case_whose_scan_was_moved_names_it(totalseg_case, tmp_path):
    case = save_training_case(tmp_path / "labels", ScanSource("CT", ct_path=str(totalseg_case / "ct.nii.gz")), -140.0)
    record = json.loads((case / "case.json").read_text())
    record["ct_path"] = str(tmp_path / "moved.nii.gz")
    (case / "case.json").write_text(json.dumps(record))

    with pytest.raises(AnnotationError, match="moved.nii.gz does not exist"):
        read_data_spec(str(tmp_path / "labels"))
