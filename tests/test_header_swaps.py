"""The evaluation's header swaps (``training.evaluate.load_scan_under_test``): the domain-shift bench reads
phantoms with front and back, or left and right, the other way under the same header, as a volume written
in LPS under a RAS header shows them. The truth stays where it was: no swap moves a slice."""

from __future__ import annotations

import numpy as np

from training.annotations import read_data_spec
from training.evaluate import load_scan_under_test

SPEC = "phantoms:1:950300:l3_in_view=true"


def _loaded(extra: str = ""):
    (scan,) = read_data_spec(SPEC + extra, keep_out_of_view=True)
    return load_scan_under_test(scan, phantom_voxel_mm=4.0)


def test_front_back_and_left_right_swaps_mirror_the_array_along_those_axes_only():
    plain = _loaded()
    both = _loaded(",header_front_back_swapped=true,header_left_right_swapped=true")
    front_back = _loaded(",header_front_back_swapped=true")
    geometry = plain.geometry
    ap_array_axis, lr_array_axis = 2 - geometry.ap_axis, 2 - geometry.lr_axis
    assert np.array_equal(front_back.voxels, np.flip(plain.voxels, ap_array_axis))
    assert np.array_equal(both.voxels, np.flip(np.flip(plain.voxels, ap_array_axis), lr_array_axis))
    assert both.true_z_ras_mm == plain.true_z_ras_mm and both.true_slice == plain.true_slice
    assert both.variants.endswith(";header_front_back_swapped=True;header_left_right_swapped=True")
    assert "header_left_right_swapped" not in front_back.variants
