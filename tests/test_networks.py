"""The torch-only mobilenet_v2 (L3SpotterLib/mobilenet.py) is torchvision's, parameter for parameter."""

from __future__ import annotations

import subprocess
import sys

import torch
import torchvision

from L3SpotterLib.mobilenet import mobilenet_v2_features


def test_the_torch_only_mobilenet_has_torchvisions_parameters_and_outputs():
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v2(weights=None).features.eval()
    ours = mobilenet_v2_features().eval()
    reference_state = reference.state_dict()
    assert list(ours.state_dict()) == list(reference_state)
    assert [value.shape for value in ours.state_dict().values()] == [value.shape for value in reference_state.values()]
    ours.load_state_dict(reference_state, strict=True)
    images = torch.rand(2, 3, 160, 96)
    with torch.inference_mode():
        assert torch.equal(ours(images), reference(images))


def test_detection_with_the_shipped_model_does_not_import_torchvision():
    """torchvision costs about a second of start-up and may not match a Slicer install's torch."""
    code = ("import sys; from L3SpotterLib.detector import L3Detector; from L3SpotterLib.phantom import generate_phantom; "
            "p = generate_phantom(3, voxel_mm=4.0, fov='abdomen'); "
            "r = L3Detector(None, device='cpu').detect_array(p.ct, p.ijk_to_ras); "
            "print(r.status in ('found', 'uncertain'), 'torchvision' in sys.modules)")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert printed == "True False"  # the network ran (L3 located), without torchvision
