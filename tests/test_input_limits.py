"""Limits a model card sets on its inputs: the window stride and the scans it was measured on."""

from __future__ import annotations

import json

import numpy as np

from L3SpotterLib.detector import L3Detector
from L3SpotterLib.phantom import generate_phantom
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
