"""Geometry: the slice axis, its direction and the slice <-> z map in every storage orientation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from L3SpotterLib.geometry import GeometryError, VolumeGeometry, ijk_to_ras_from_lps, lps_from_ijk_to_ras
from L3SpotterLib.l3_definition import l3_slice_from_level, label_level
from L3SpotterLib.mip import MipGrid, project
from L3SpotterLib.vertebra_labels import VERSE_IDS

from volumes import rotated_direction

ORIENTATIONS = ("RAS", "LPS", "PIR", "LAI", "SRA", "IPL", "ASL")
GRID = MipGrid(row_mm=2.0, col_mm=2.0, width_px=160, hu_window=(-100.0, 1000.0))


@pytest.fixture(scope="module")
def totalseg_images(totalseg_case):
    return sitk.ReadImage(str(totalseg_case / "ct.nii.gz")), sitk.ReadImage(str(totalseg_case / "vertebrae.nii.gz"))


def test_real_scan_slice_axis_matches_case_json(totalseg_images):
    ct, _ = totalseg_images
    geometry = VolumeGeometry.from_sitk_image(ct)
    assert geometry.slice_axis == 2
    assert geometry.slice_index_increases_towards == "superior"
    assert geometry.n_slices == 112


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_same_anatomy_in_any_orientation_gives_the_same_l3_z(totalseg_images, orientation):
    ct, labels = totalseg_images
    reference = label_level(sitk.GetArrayFromImage(labels), VolumeGeometry.from_sitk_image(labels), VERSE_IDS["L3"])
    assert l3_slice_from_level(reference) == 73

    oriented = sitk.DICOMOrient(labels, orientation)
    geometry = VolumeGeometry.from_sitk_image(oriented)
    level = label_level(sitk.GetArrayFromImage(oriented), geometry, VERSE_IDS["L3"])
    assert level.z_ras_mm == pytest.approx(reference.z_ras_mm, abs=1e-6)
    # The slice index maps to the same z, whichever way the slice axis runs.
    assert geometry.slice_to_z_ras_mm(level.centroid_slice) == pytest.approx(reference.z_ras_mm, abs=1e-6)
    # The slice axis is the one whose direction column has the S component.
    direction = np.asarray(oriented.GetDirection()).reshape(3, 3)
    assert abs(direction[2, geometry.slice_axis]) == pytest.approx(1.0)
    expected_towards = "superior" if direction[2, geometry.slice_axis] > 0 else "inferior"
    assert geometry.slice_index_increases_towards == expected_towards


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("view", ["frontal", "lateral"])
def test_projection_is_independent_of_storage_orientation(totalseg_images, orientation, view):
    ct, _ = totalseg_images
    reference = project(sitk.GetArrayViewFromImage(ct), VolumeGeometry.from_sitk_image(ct), view, GRID)
    oriented = sitk.DICOMOrient(ct, orientation)
    projection = project(sitk.GetArrayViewFromImage(oriented), VolumeGeometry.from_sitk_image(oriented), view, GRID)
    assert projection.z_top_ras_mm == pytest.approx(reference.z_top_ras_mm, abs=1e-6)
    np.testing.assert_allclose(projection.pixels, reference.pixels, atol=1e-5)


@pytest.mark.parametrize("orientation", ["RAS", "LPS", "PIR"])
def test_frontal_projection_shows_patient_right_on_the_left_and_head_on_top(orientation):
    """A "spine" block in the middle and a marker on the patient's right, near the head: the marker must
    land left of the spine and in the upper half of the frontal image, whatever the storage order."""
    array = np.full((60, 50, 50), -1000, dtype=np.int16)  # RAS storage: i -> R, j -> A, k -> S
    array[:, 20:30, 22:28] = 1000  # spine, centred
    array[45:55, 20:30, 44:48] = 1000  # marker: high k (superior), high i (patient's right)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 2.0))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    oriented = sitk.DICOMOrient(image, orientation)
    geometry = VolumeGeometry.from_sitk_image(oriented)
    projection = project(sitk.GetArrayViewFromImage(oriented), geometry, "frontal", MipGrid(2.0, 2.0, 50, (-100.0, 1000.0)))
    marker_rows = np.nonzero(projection.pixels[:, :15].max(axis=1) > 0.9)[0]
    marker_cols = np.nonzero(projection.pixels[:40].max(axis=0) > 0.9)[0]
    spine_cols = np.nonzero(projection.pixels[45:].max(axis=0) > 0.9)[0]
    assert marker_rows.size and marker_rows.max() < projection.n_rows / 2
    assert marker_cols.min() < spine_cols.min()


def test_oblique_directions_within_a_few_degrees(totalseg_images):
    ct, _ = totalseg_images
    tilted = rotated_direction(ct, 4.0, axis="x")
    geometry = VolumeGeometry.from_sitk_image(tilted)
    assert geometry.slice_axis == 2
    assert geometry.slice_axis_obliquity_deg == pytest.approx(4.0, abs=1e-6)
    centre = (np.asarray(geometry.shape_ijk) - 1) / 2.0
    for k in (0.0, 37.5, 111.0):
        point = centre.copy()
        point[2] = k
        z_exact = geometry.ijk_to_ras_points(point)[0, 2]
        assert geometry.slice_to_z_ras_mm(k) == pytest.approx(z_exact, abs=1e-9)
        assert geometry.z_ras_mm_to_slice(z_exact) == pytest.approx(k, abs=1e-9)
    projection = project(sitk.GetArrayViewFromImage(tilted), geometry, "frontal", GRID)
    assert projection.pixels.shape[1] == GRID.width_px


def test_a_volume_with_no_axial_axis_is_refused(totalseg_images):
    ct, _ = totalseg_images
    with pytest.raises(GeometryError, match="no voxel axis runs head to foot"):
        VolumeGeometry.from_sitk_image(rotated_direction(ct, 45.0, axis="y"))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 0.0), (1.0, 0.0, 2.0)])
def test_zero_spacing_is_refused(spacing):
    matrix = np.diag([*spacing, 1.0])
    with pytest.raises(GeometryError, match="spacing must be positive"):
        VolumeGeometry(matrix, (10, 10, 10))


def test_negative_spacing_in_the_matrix_is_a_flip_not_an_error():
    """A negative diagonal entry flips the axis: the spacing is its length, and the sign its direction."""
    geometry = VolumeGeometry(np.diag([1.0, 1.0, -2.5, 1.0]), (10, 10, 40))
    assert geometry.slice_thickness_mm == pytest.approx(2.5)
    assert geometry.slice_index_increases_towards == "inferior"


_SIGNED_PERMUTATIONS = [
    (perm, signs) for perm in itertools.permutations(range(3)) for signs in itertools.product((1, -1), repeat=3)
]


@settings(max_examples=200, deadline=None)
@given(
    choice=st.sampled_from(_SIGNED_PERMUTATIONS),
    spacing=st.tuples(*[st.floats(0.3, 6.0)] * 3),
    origin=st.tuples(*[st.floats(-500, 500)] * 3),
    shape=st.tuples(*[st.integers(2, 600)] * 3),
    tilt_deg=st.floats(-10, 10),
    slice_index=st.floats(-10, 700),
)
def test_slice_and_z_are_exact_inverses(choice, spacing, origin, shape, tilt_deg, slice_index):
    perm, signs = choice
    direction = np.zeros((3, 3))
    for column, (row, sign) in enumerate(zip(perm, signs)):
        direction[row, column] = sign
    angle = np.radians(tilt_deg)
    tilt = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    matrix = ijk_to_ras_from_lps(origin, spacing, tilt @ direction)
    geometry = VolumeGeometry(matrix, shape)
    z = geometry.slice_to_z_ras_mm(slice_index)
    assert geometry.z_ras_mm_to_slice(z) == pytest.approx(slice_index, abs=1e-6)
    # The slice axis is where the S row of the direction has its largest entry.
    assert geometry.slice_axis == int(np.argmax(np.abs(geometry.direction[2])))
    # Round trip to LPS and back.
    origin_lps, spacing_mm, direction_lps = lps_from_ijk_to_ras(matrix)
    np.testing.assert_allclose(ijk_to_ras_from_lps(origin_lps, spacing_mm, direction_lps), matrix, atol=1e-9)
    # The three axes are distinct.
    assert {geometry.slice_axis, geometry.lr_axis, geometry.ap_axis} == {0, 1, 2}
