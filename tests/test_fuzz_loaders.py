"""Fuzzing the loaders: any byte-level damage to a file gives a volume or an InputError, never a crash.

Bounded (a few hundred examples) so that it runs in CI; hypothesis keeps the failing examples it finds
in its database, and each crash found becomes a regression test below.
"""

from __future__ import annotations

import gzip
import struct
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from L3SpotterLib.errors import InputError
from L3SpotterLib.volume_io import load_ct


SHAPE = (12, 10, 8)  # [k, j, i]
VOXEL_BYTES = int(np.prod(SHAPE)) * 2  # int16, stored last in every uncompressed file written here
SCALED_INTERCEPT = -1024.0  # of the scaled NIfTI seed: HU = stored + intercept


def small_volume_bytes(suffix: str, tmp_path) -> bytes:
    array = np.full(SHAPE, -1000, dtype=np.int16)
    array[:, 3:7, 2:6] = 500
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.5, 1.5, 3.0))
    path = tmp_path / f"seed{suffix}"
    sitk.WriteImage(image, str(path), useCompression=suffix.endswith(".gz"))
    return path.read_bytes()


def scaled_nifti_bytes(tmp_path) -> bytes:
    """A NIfTI storing HU + 1024 with scl_inter = -1024, as dcm2niix writes CTs stored unsigned; gzipped."""
    plain = bytearray(gzip.decompress(small_volume_bytes(".nii.gz", tmp_path)))
    stored = np.frombuffer(bytes(plain[-VOXEL_BYTES:]), dtype="<i2") + 1024
    plain[-VOXEL_BYTES:] = stored.astype("<i2").tobytes()
    plain[112:120] = struct.pack("<2f", 1.0, SCALED_INTERCEPT)  # scl_slope, scl_inter
    return gzip.compress(bytes(plain))


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_originals")
    seeds = {suffix: small_volume_bytes(suffix, folder) for suffix in (".nii", ".nii.gz", ".nrrd", ".mha")}
    seeds["scaled.nii.gz"] = scaled_nifti_bytes(folder)
    return seeds


def load_or_input_error(path):
    try:
        volume = load_ct(path)
    except InputError:
        return None
    assert volume.voxels.ndim == 3
    return volume


def expected_voxels(uncompressed: bytes, suffix: str) -> np.ndarray:
    stored = np.frombuffer(uncompressed[-VOXEL_BYTES:], dtype="<i2").reshape(SHAPE)
    return stored + SCALED_INTERCEPT if suffix.startswith("scaled") else stored


def check_valid_file_loads(path, uncompressed: bytes, suffix: str) -> None:
    """The oracle for a file whose damage touched only voxel values: it is still valid, so it must load,
    with exactly those values. A refusal fails the test."""
    try:
        volume = load_ct(path)
    except InputError as error:
        raise AssertionError(f"a valid file was refused: {error}") from None
    np.testing.assert_array_equal(volume.voxels, expected_voxels(uncompressed, suffix))


mutations = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8)
SUFFIXES = [".nii", ".nii.gz", ".nrrd", ".mha", "scaled.nii.gz"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from(SUFFIXES), changes=mutations, cut=st.integers(0, 10_000))
@example(suffix="scaled.nii.gz", changes=[(-1, 7)], cut=1)  # one voxel changed in a scaled file: valid
@example(suffix=".nrrd", changes=[(-VOXEL_BYTES - 1, 0x93)], cut=1)  # the NRRD header's closing blank line
def test_damaged_files_never_crash_the_loader(originals, tmp_path, suffix, changes, cut):
    """Any damage gives a volume or an InputError; damage to voxel values only must give the volume."""
    compressed = suffix.endswith(".gz")
    data = bytearray(gzip.decompress(originals[suffix]) if compressed else originals[suffix])
    voxels_start = len(data) - VOXEL_BYTES
    changed = []
    for position, value in changes:
        index = position % len(data)
        data[index] = value
        changed.append(index)
    truncated = cut % 3 == 0
    data = bytes(data[: max(1, len(data) - cut)]) if truncated else bytes(data)
    path = tmp_path / f"fuzzed{suffix}"
    path.write_bytes(gzip.compress(data) if compressed else data)
    if not truncated and min(changed) >= voxels_start:
        check_valid_file_loads(path, data, suffix)
    else:
        load_or_input_error(path)


def test_the_oracle_fails_a_loader_that_refuses_a_valid_file(originals, tmp_path, monkeypatch):
    path = tmp_path / "valid.nii.gz"
    path.write_bytes(originals[".nii.gz"])

    def refuse(path):
        raise InputError(f"{path}: refused")

    monkeypatch.setattr(sys.modules[__name__], "load_ct", refuse)
    with pytest.raises(AssertionError, match="a valid file was refused"):
        check_valid_file_loads(path, gzip.decompress(originals[".nii.gz"]), ".nii.gz")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=2000), suffix=st.sampled_from([".nii", ".nii.gz", ".nrrd", ".mha", ".mhd"]))
def test_random_bytes_never_crash_the_loader(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    load_or_input_error(path)


@pytest.fixture(scope="module")
def fuzz_detector(random_cnn4_model):
    from L3SpotterLib.detector import L3Detector

    return L3Detector(random_cnn4_model, device="cpu")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    matrix=st.lists(st.floats(-50, 50, allow_nan=False), min_size=12, max_size=12),
    shape=st.tuples(st.integers(1, 40), st.integers(1, 30), st.integers(1, 30)),
)
def test_any_geometry_gives_a_result_or_a_named_error(fuzz_detector, matrix, shape):
    """Random (often degenerate) IJK->RAS matrices and shapes: status error, with exactly the reason an
    independent check of the geometry, extent and intensities gives, when and only when one of them fails;
    otherwise a result whose status agrees with where it puts L3."""
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :] = np.asarray(matrix).reshape(3, 4)
    voxels = np.full(shape, -1000, dtype=np.int16)
    voxels[..., : max(1, shape[2] // 2)] = 600
    expected_problem = first_problem_of(voxels, ijk_to_ras)
    result = fuzz_detector.detect_array(voxels, ijk_to_ras, source="fuzz")
    if expected_problem is not None:
        assert (result.status, result.message) == ("error", f"fuzz: {expected_problem}")
    else:
        assert result.status in ("found", "uncertain", "not_in_view"), result.summary()
        assert result.trace is not None
        assert (result.status == "not_in_view") == (result.l3_position in ("above_scan", "below_scan"))


def first_problem_of(voxels: np.ndarray, ijk_to_ras: np.ndarray) -> str | None:
    """What makes the input unusable, checked in the order the engine documents: geometry, extent, values."""
    from L3SpotterLib.input_checks import MIN_Z_EXTENT_MM, check_ct_intensities
    from L3SpotterLib.geometry import GeometryError, VolumeGeometry

    try:
        geometry = VolumeGeometry(ijk_to_ras, tuple(reversed(voxels.shape)))
    except GeometryError as error:
        return str(error)
    low_z, high_z = geometry.z_range_ras_mm
    if high_z - low_z < MIN_Z_EXTENT_MM:
        return f"the scan covers only {high_z - low_z:.0f} mm along the body axis; at least {MIN_Z_EXTENT_MM:.0f} mm are needed"
    try:
        check_ct_intensities(voxels)
    except InputError as error:
        return str(error)
    return None
