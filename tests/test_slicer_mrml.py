"""The MRML adapter against real Slicer MRML classes (the ``slicer-core`` wheel, no Slicer application).

The shared scenarios (``L3Spotter/Testing/Python/L3SpotterScenarios.py``) run in one way only: through
the module's own self-test class, in test_slicer_module_logic.py. This file tests what the adapter does
beyond them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
import vtk  # noqa: E402  (after slicer: the scenarios need both)

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "L3Spotter" / "Testing" / "Python"))

from L3SpotterScenarios import buildSceneWithSliceViews, releaseSceneWithSliceViews  # noqa: E402

from L3SpotterLib.slicer_adapter import mrml  # noqa: E402


# ---------------------------------------------------------------- the adapter's own behaviour


@pytest.fixture()
def scene_with_views():
    scene, keep_alive = buildSceneWithSliceViews()
    yield scene
    releaseSceneWithSliceViews(scene, keep_alive)


def load_totalseg(scene, totalseg_case):
    volumes_logic = slicer.vtkSlicerVolumesLogic()
    volumes_logic.SetMRMLScene(scene)
    return volumes_logic.AddArchetypeVolume(str(totalseg_case / "ct.nii.gz"), "CT")


def test_an_untrained_model_gives_the_same_trace_from_the_node_and_the_file(scene_with_views, totalseg_case, random_cnn4_model):
    """The random model's trace varies window to window, so equal traces mean equal projections."""
    volume_node = load_totalseg(scene_with_views, totalseg_case)
    detector = mrml.detector_for(random_cnn4_model, "cpu")
    from_node = mrml.detect_volume_node(volume_node, model=random_cnn4_model, device="cpu")
    from_file = detector.detect_path(totalseg_case / "ct.nii.gz")
    assert np.std(from_file.trace.predicted_fraction) > 0.01
    assert from_node.trace.predicted_fraction == from_file.trace.predicted_fraction
    assert (from_node.status, from_node.l3_position) == (from_file.status, from_file.l3_position)
    assert from_node.input == "CT"
    # The untrained model sees no ramp: L3 "not in view", so nothing is placed.
    assert from_node.status == "not_in_view", from_node.summary()
    assert mrml.show_result(from_node, volume_node) is None
    assert mrml.find_l3_fiducial(scene_with_views) is None


def test_loaded_models_are_reused_until_their_card_changes(random_cnn4_model, tmp_path):
    card = tmp_path / "model.json"
    card.write_text(random_cnn4_model.read_text())
    (tmp_path / "model.pt").write_bytes(random_cnn4_model.with_suffix(".pt").read_bytes())
    card_json = json.loads(card.read_text())
    card_json["weights_file"] = "model.pt"
    card.write_text(json.dumps(card_json))
    first = mrml.detector_for(card, "cpu")
    assert mrml.detector_for(str(card), "cpu") is first
    os.utime(card, ns=(card.stat().st_atime_ns, card.stat().st_mtime_ns + 10**9))
    assert mrml.detector_for(card, "cpu") is not first


def test_problems_become_error_results_that_name_them(scene_with_views, totalseg_case, random_cnn4_model, tmp_path):
    volume_node = load_totalseg(scene_with_views, totalseg_case)
    missing = mrml.detect_volume_node(volume_node, model=tmp_path / "no_such_model.json", device="cpu")
    assert missing.status == "error" and "no such model card" in missing.message and missing.message.startswith("CT: ")
    unknown_device = mrml.detect_volume_node(volume_node, model=random_cnn4_model, device="tpu")
    assert unknown_device.status == "error" and "device" in unknown_device.message
    empty = scene_with_views.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    no_voxels = mrml.detect_volume_node(empty, model=random_cnn4_model, device="cpu")
    assert no_voxels.status == "error" and "no image data" in no_voxels.message
    with pytest.raises(ValueError):
        mrml.detect_volume_node(None)


def test_asking_for_cuda_without_one_is_an_error_result(scene_with_views, totalseg_case, random_cnn4_model):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    volume_node = load_totalseg(scene_with_views, totalseg_case)
    result = mrml.detect_volume_node(volume_node, model=random_cnn4_model, device="cuda")
    assert result.status == "error" and "CUDA" in result.message


def test_a_vector_volume_is_refused(scene_with_views, random_cnn4_model):
    image = vtk.vtkImageData()
    image.SetDimensions(8, 8, 8)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 3)
    node = scene_with_views.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "rgb")
    node.SetAndObserveImageData(image)
    result = mrml.detect_volume_node(node, model=random_cnn4_model, device="cpu")
    assert result.status == "error" and "3 values per voxel" in result.message


def test_a_fiducial_point_without_the_l3_label_is_left_alone(scene_with_views, totalseg_case):
    """A user's own point in the chosen node is kept; the L3 point is added beside it."""
    from L3SpotterLib.result import DetectionResult

    volume_node = load_totalseg(scene_with_views, totalseg_case)
    node = scene_with_views.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "my points")
    node.AddControlPointWorld(vtk.vtkVector3d(1.0, 2.0, 3.0), "mine")
    result = DetectionResult(input="CT", status="uncertain", l3_slice=60, l3_z_ras_mm=274.3, confidence=0.3)
    assert mrml.show_result(result, volume_node, node) is node
    assert node.GetNumberOfControlPoints() == 2
    assert node.GetNthControlPointLabel(0) == "mine"
    index = mrml.l3_control_point_index(node)
    position = [0.0, 0.0, 0.0]
    node.GetNthControlPointPositionWorld(index, position)
    assert position[2] == pytest.approx(274.3)
    assert "uncertain" in node.GetNthControlPointDescription(index)
