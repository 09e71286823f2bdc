"""Limits a model card sets on its inputs: the window stride and the scans it was measured on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from L3SpotterLib.detector import L3Detector
from L3SpotterLib.geometry import VolumeGeometry
from L3SpotterLib.phantom import generate_phantom
from L3SpotterLib.pipeline import input_range_problems
from L3SpotterLib.result import STATUS_ERROR


def test_a_stride_that_leaves_fewer_than_two_windows_per_vertebra_is_refused(random_cnn4_model):
    detector = L3Detector(random_cnn4_model, device="cpu")
    phantom = generate_phantom(3, voxel_mm=4.0, fov="abdomen", in_plane_fov_mm=320.0)
    refused = detector.detect_array(phantom.ct, phantom.ijk_to_ras, source="phantom", stride_px=9)
    assert refused.status == STATUS_ERROR
    assert refused.message == (
        "phantom: a window stride of 9 pixels (18 mm) leaves fewer than 2 windows per vertebra; the largest this model allows is 8 pixels"
    )
    assert detector.detect_array(phantom.ct, phantom.ijk_to_ras, source="phantom", stride_px=8).status != STATUS_ERROR


def test_slices_thicker_than_the_card_allows_make_any_answer_uncertain(random_cnn4_model, tmp_path):
    card = json.loads(random_cnn4_model.read_text())
    card["valid_input"] = {"slice_thickness_mm": [0.5, 6.0], "pixel_mm": [0.2, 2.0]}
    card["confidence_threshold"] = 0.0  # the random network's answer would otherwise be uncertain anyway
    limited = tmp_path / random_cnn4_model.name
    limited.write_text(json.dumps(card))
    limited.with_suffix(".pt").write_bytes(random_cnn4_model.with_suffix(".pt").read_bytes())
    detector = L3Detector(limited, device="cpu")
    phantom = generate_phantom(4, voxel_mm=2.0, fov="abdomen_pelvis", in_plane_fov_mm=320.0)
    # Every fifth slice of a 2 mm phantom: 10 mm slices.
    thick = phantom.ct[::5]
    matrix = phantom.ijk_to_ras.copy()
    matrix[:3, 2] *= 5.0
    result = detector.detect_array(np.ascontiguousarray(thick), matrix, source="thick")
    assert "the slice thickness 10 mm lies outside the 0.5-6 mm this model was measured on" in result.message
    assert result.status != "found"
    ordinary = detector.detect_array(phantom.ct, phantom.ijk_to_ras, source="ordinary")
    assert "outside" not in ordinary.message


class _CardWithLimits:
    valid_input = {"slice_thickness_mm": [0.5, 6.0], "pixel_mm": [0.2, 3.0], "in_plane_field_mm": [150.0, None]}


def test_a_field_of_view_narrower_than_the_card_allows_is_named_and_a_wide_one_has_no_upper_limit():
    narrow = input_range_problems(_CardWithLimits(), 1.0, 0.6, in_plane_field_mm=114.0)
    assert narrow == [
        "the in-plane field of view is 114 mm, narrower than 150 mm: the ribs and iliac wings are cut at its edges, "
        "and this model has not been shown to find L3 on real scans this narrow"
    ]
    assert input_range_problems(_CardWithLimits(), 1.0, 0.6, in_plane_field_mm=150.0) == []
    assert input_range_problems(_CardWithLimits(), 1.0, 0.6, in_plane_field_mm=900.0) == []
    assert input_range_problems(_CardWithLimits(), 8.0, 0.6, in_plane_field_mm=400.0) == [
        "the slice thickness 8 mm lies outside the 0.5-6 mm this model was measured on"
    ]


def test_the_in_plane_field_is_the_narrower_of_the_left_right_and_front_back_extents():
    # 120 x 100 voxels of 0.8 x 1.5 mm in plane (i left-right, j front-back), 40 slices of 2.5 mm.
    geometry = VolumeGeometry(np.diag([-0.8, -1.5, 2.5, 1.0]), (120, 100, 40))
    assert geometry.in_plane_field_mm == pytest.approx(96.0)
    assert VolumeGeometry(np.diag([-1.5, -0.8, 2.5, 1.0]), (120, 100, 40)).in_plane_field_mm == pytest.approx(80.0)


def test_outside_the_cards_limits_not_in_view_becomes_uncertain_without_a_fiducial(random_cnn4_model, totalseg_case, tmp_path):
    """The lumbar-spine CT of issue 13 (114 mm wide) was answered not_in_view: where the model was not
    measured, "no L3 here" is no more trustworthy than an L3 found."""
    detector = L3Detector(random_cnn4_model, device="cpu")
    assert detector.detect_path(totalseg_case / "ct.nii.gz").status == "not_in_view"  # the untrained network sees no ramp
    card = json.loads(random_cnn4_model.read_text())
    card["valid_input"] = {"in_plane_field_mm": [400.0, None]}  # wider than this 303 x 366 mm scan
    limited = tmp_path / random_cnn4_model.name
    limited.write_text(json.dumps(card))
    limited.with_suffix(".pt").write_bytes(random_cnn4_model.with_suffix(".pt").read_bytes())
    result = L3Detector(limited, device="cpu").detect_path(totalseg_case / "ct.nii.gz")
    assert result.status == "uncertain", result.summary()
    assert result.l3_slice is None and result.l3_z_ras_mm is None and result.l3_point_ras_mm is None
    assert result.l3_position == "unknown"
    assert result.message.split("; ") == [
        "L3 was not located (the windows place it beyond the scan's edge), which is no evidence that it lies outside a scan like this one",
        "the in-plane field of view is 303 mm, narrower than 400 mm: the ribs and iliac wings are cut at its edges, "
        "and this model has not been shown to find L3 on real scans this narrow",
    ]
