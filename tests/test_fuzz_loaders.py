"""Fuzzing the loaders: any byte-level damage to a file gives a volume or an InputError, never a crash.

Bounded (a few hundred examples) so that it runs in CI; hypothesis keeps the failing examples it finds
in its database, and each crash found becomes a regression test below.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from L3SpotterLib.errors import InputError
from L3SpotterLib.volume_io import load_ct


def small_volume_bytes(suffix: str, tmp_path) -> bytes:
    array = np.full((12, 10, 8), -1000, dtype=np.int16)
    array[:, 3:7, 2:6] = 500
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.5, 1.5, 3.0))
    path = tmp_path / f"seed{suffix}"
    sitk.WriteImage(image, str(path))
    return path.read_bytes()


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_originals")
    return {suffix: small_volume_bytes(suffix, folder) for suffix in (".nii", ".nii.gz", ".nrrd", ".mha")}


def load_or_input_error(path):
    try:
        volume = load_ct(path)
    except InputError:
        return None
    assert volume.voxels.ndim == 3
    return volume


mutations = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".nii", ".nii.gz", ".nrrd", ".mha"]), changes=mutations, cut=st.integers(0, 10_000))
def test_damaged_files_never_crash_the_loader(originals, tmp_path, suffix, changes, cut):
    data = bytearray(originals[suffix] if suffix != ".nii.gz" else gzip.decompress(originals[suffix]))
    for position, value in changes:
        data[position % len(data)] = value
    data = bytes(data[: max(1, len(data) - cut)]) if cut % 3 == 0 else bytes(data)
    if suffix == ".nii.gz":
        data = gzip.compress(data)
    path = tmp_path / f"fuzzed{suffix}"
    path.write_bytes(data)
    load_or_input_error(path)


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
    """Random (often degenerate) IJK->RAS matrices and shapes: a result, or status error with a message."""
    ijk_to_ras = np.eye(4)
    ijk_to_ras[:3, :] = np.asarray(matrix).reshape(3, 4)
    voxels = np.full(shape, -1000, dtype=np.int16)
    voxels[..., : max(1, shape[2] // 2)] = 600
    result = fuzz_detector.detect_array(voxels, ijk_to_ras, source="fuzz")
    assert result.status in ("found", "uncertain", "not_in_view", "error")
    if result.status == "error":
        assert result.message.startswith("fuzz: ") and len(result.message) > len("fuzz: ")
