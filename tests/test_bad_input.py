"""Bad input gets a clear error naming the problem, never a traceback, and nothing is lost."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import SimpleITK as sitk

from L3SpotterLib.atomic_files import atomic_write_text
from L3SpotterLib.detector import L3Detector
from L3SpotterLib.errors import InputError
from L3SpotterLib.volume_io import load_ct


def ct_like(shape=(60, 40, 40), spacing=(2.0, 2.0, 3.0)) -> sitk.Image:
    array = np.full(shape, -1000, dtype=np.int16)
    array[:, 10:30, 10:30] = 40
    array[:, 18:22, 18:22] = 700
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


def write(image: sitk.Image, path) -> str:
    sitk.WriteImage(image, str(path))
    return str(path)


@pytest.fixture(scope="module")
def detector(random_cnn4_model):
    return L3Detector(random_cnn4_model, device="cpu")


def detect_error(detector, path) -> str:
    result = detector.detect_path(path)
    assert result.status == "error", result.summary()
    assert result.message.startswith(str(path))
    return result.message


def test_a_4d_image(detector, tmp_path):
    series = sitk.JoinSeries([ct_like(), ct_like(), ct_like()])
    assert "a 4-D image" in detect_error(detector, write(series, tmp_path / "dynamic.nii.gz"))


def test_a_3d_image_stored_with_a_singleton_4th_axis_is_read(detector, tmp_path):
    volume = load_ct(write(sitk.JoinSeries([ct_like()]), tmp_path / "one_frame.nii.gz"))
    assert volume.voxels.shape == (60, 40, 40)


def test_an_rgb_image(detector, tmp_path):
    rgb = sitk.Compose([sitk.Cast(ct_like(), sitk.sitkUInt8)] * 3)
    assert "3 values per voxel (an RGB or vector image)" in detect_error(detector, write(rgb, tmp_path / "rgb.mha"))


def test_a_2d_image(detector, tmp_path):
    flat = sitk.GetImageFromArray(np.zeros((64, 64), dtype=np.int16))
    assert "a 2-D image (64x64)" in detect_error(detector, write(flat, tmp_path / "flat.nrrd"))


def test_a_single_slice_volume(detector, tmp_path):
    assert "a 2-D image (40x40x1)" in detect_error(detector, write(ct_like(shape=(1, 40, 40)), tmp_path / "one_slice.nii.gz"))


def test_fewer_slices_than_a_vertebra(detector, tmp_path):
    message = detect_error(detector, write(ct_like(shape=(10, 40, 40)), tmp_path / "short.nii.gz"))
    assert "covers only 27 mm along the body axis; at least 60 mm are needed" in message


@pytest.mark.parametrize(
    "name, values, expected",
    [
        ("mr", lambda a: (a + 1000).astype(np.int16), "no air: the lowest value is 0"),
        ("unit_range", lambda a: ((a + 1000) / 2000.0).astype(np.float32), "no air"),
        ("constant", lambda a: np.full_like(a, 40), "every voxel has the same value (40)"),
        ("no_bone", lambda a: np.minimum(a, 100), "no bone: the highest value is 100"),
        ("label_map", lambda a: (a > 0).astype(np.uint8) * 3, "looks like a label map or mask"),
    ],
)
def test_intensities_that_cannot_be_ct(detector, tmp_path, name, values, expected):
    array = sitk.GetArrayFromImage(ct_like())
    image = sitk.GetImageFromArray(values(array))
    image.SetSpacing((2.0, 2.0, 3.0))
    assert expected in detect_error(detector, write(image, tmp_path / f"{name}.nii.gz"))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinite_voxels(detector, tmp_path, bad):
    array = sitk.GetArrayFromImage(ct_like()).astype(np.float32)
    array[30, 20, 20] = bad  # one voxel: the strided sample would miss it, the MIP does not
    # (MHA keeps NaN; ITK's NIfTI reader turns non-finite values into 0.)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 3.0))
    assert "NaN or infinite values" in detect_error(detector, write(image, tmp_path / "nan.mha"))


@pytest.mark.parametrize("spacing, shown", [(0.0, "0"), (-3.0, "-3")])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_zero_or_negative_spacing_in_a_nifti_header(tmp_path, spacing, shown, suffix):
    plain = tmp_path / "ct.nii"
    write(ct_like(), plain)
    header = bytearray(plain.read_bytes())
    header[88:92] = struct.pack("<f", spacing)  # pixdim[3]: the spacing along k
    target = tmp_path / f"bad{suffix}"
    if suffix == ".nii.gz":
        import gzip

        target.write_bytes(gzip.compress(bytes(header)))
    else:
        target.write_bytes(bytes(header))
    with pytest.raises(InputError, match=f"the voxel spacing along k is {shown} mm in the NIfTI header"):
        load_ct(target)


def test_a_volume_too_large_for_memory_fails_before_reading(tmp_path):
    plain = tmp_path / "ct.nii"
    write(ct_like(), plain)
    header = bytearray(plain.read_bytes())
    header[42:48] = struct.pack("<3h", 30000, 30000, 30000)  # claims 30000^3 int16 voxels: 50 TB
    huge = tmp_path / "huge.nii"
    huge.write_bytes(bytes(header))
    with pytest.raises(InputError, match=r"the volume needs \d+\.\d GiB of memory but only \d+\.\d GiB is available"):
        load_ct(huge)


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "results.csv"
    target.write_text("old\n")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["results.csv"]


def test_atomic_write_gives_the_permissions_of_any_new_file(tmp_path):
    """The temporary file is private to its owner; the finished file must not stay so."""
    import os
    import stat

    plain, atomic = tmp_path / "plain.txt", tmp_path / "atomic.txt"
    plain.write_text("x")
    atomic_write_text(atomic, "x")
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert os.access(atomic, os.R_OK)


# ---------------------------------------------------------------- valid files that must be read


def scaled_nifti_bytes(totalseg_case, tmp_path) -> bytes:
    """The issue's repro: the scan stored as HU + 1024 with scl_inter = -1024 (as dcm2niix writes CTs stored
    as unsigned integers), uncompressed."""
    shifted = tmp_path / "shifted.nii"
    sitk.WriteImage(sitk.Cast(sitk.ReadImage(str(totalseg_case / "ct.nii.gz")) + 1024, sitk.sitkInt16), str(shifted))
    data = bytearray(shifted.read_bytes())
    assert struct.unpack("<f", data[112:116])[0] == 1.0  # scl_slope as SimpleITK writes it
    data[116:120] = struct.pack("<f", -1024.0)  # scl_inter
    return bytes(data)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_scaled_nifti_is_read_in_hounsfield_units(totalseg_case, tmp_path, suffix):
    import gzip

    data = scaled_nifti_bytes(totalseg_case, tmp_path)
    path = tmp_path / f"scaled{suffix}"
    path.write_bytes(gzip.compress(data) if suffix == ".nii.gz" else data)
    volume = load_ct(path)
    original = load_ct(totalseg_case / "ct.nii.gz")
    np.testing.assert_array_equal(volume.voxels, original.voxels)
    np.testing.assert_allclose(volume.geometry.ijk_to_ras, original.geometry.ijk_to_ras)


def test_a_truncated_scaled_nifti_is_still_named(totalseg_case, tmp_path):
    import gzip

    compressed = gzip.compress(scaled_nifti_bytes(totalseg_case, tmp_path))
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_ct(path)


def test_a_truncated_plain_nifti_is_named(tmp_path):
    plain = tmp_path / "ct.nii"
    write(ct_like(), plain)
    cut = tmp_path / "cut.nii"
    cut.write_bytes(plain.read_bytes()[:-1000])
    with pytest.raises(InputError, match=r"the file is truncated \(\d+ bytes where its NIfTI header announces \d+\)"):
        load_ct(cut)


# ---------------------------------------------------------------- spacing: the same rule in every format


def with_header_line(path, old: bytes, new: bytes):
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))


@pytest.mark.parametrize("spacing_text, shown", [(b"-3", "-3"), (b"0", "0")])
def test_zero_or_negative_spacing_in_an_mha_header_is_refused(tmp_path, spacing_text, shown):
    path = tmp_path / "ct.mha"
    write(ct_like(), path)
    with_header_line(path, b"ElementSpacing = 2 2 3\n", b"ElementSpacing = 2 2 " + spacing_text + b"\n")
    with pytest.raises(InputError, match=f"the voxel spacing along k is {shown} mm in the file's header; it must be positive"):
        load_ct(path)


def test_negative_spacing_in_an_mhd_header_is_refused(tmp_path):
    path = tmp_path / "ct.mhd"
    write(ct_like(), path)
    with_header_line(path, b"ElementSpacing = 2 2 3\n", b"ElementSpacing = 2 -2 3\n")
    with pytest.raises(InputError, match="the voxel spacing along j is -2 mm in the file's header"):
        load_ct(path)


# ---------------------------------------------------------------- damaged NRRD headers


def test_an_nrrd_header_running_into_binary_data_is_refused_not_a_crash(tmp_path):
    """The blank line that ends an NRRD header, overwritten by a byte of voxel data (found by the loader
    fuzz test): ITK's NRRD reader crashes the process on it (segmentation fault), so it is checked first.
    Run in a subprocess, so that a crash fails this test instead of ending the suite."""
    import subprocess
    import sys

    path = tmp_path / "ct.nrrd"
    write(ct_like(), path)
    data = path.read_bytes()
    end = data.index(b"\n\n") + 1
    path.write_bytes(data[:end] + b"\x93" + data[end + 1 :])
    code = (
        "import sys\n"
        "from L3SpotterLib.errors import InputError\n"
        "from L3SpotterLib.volume_io import load_ct\n"
        "try:\n"
        "    load_ct(sys.argv[1])\n"
        "except InputError as error:\n"
        "    print(error)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"the loader crashed (exit code {run.returncode})"
    assert run.stdout.strip() == f"{path}: the NRRD header is damaged (byte 0x93 at offset {end} is not text; the header ends at a blank line)"


def test_a_nifti_gz_beside_a_nii_of_the_same_name_is_read_itself(tmp_path):
    """ITK's NIfTI reader, asked for scan.nii.gz, reads scan.nii when both exist (found by the loader fuzz
    test's oracle, whose files shared a folder): each must give its own voxels."""
    plain = ct_like()
    other = sitk.GetImageFromArray(sitk.GetArrayFromImage(plain) + 7)
    other.CopyInformation(plain)
    write(plain, tmp_path / "scan.nii")
    sitk.WriteImage(other, str(tmp_path / "scan.nii.gz"), useCompression=True)
    compressed, uncompressed = load_ct(tmp_path / "scan.nii.gz"), load_ct(tmp_path / "scan.nii")  # kept: voxels are views
    np.testing.assert_array_equal(compressed.voxels, sitk.GetArrayFromImage(other))
    np.testing.assert_array_equal(uncompressed.voxels, sitk.GetArrayFromImage(plain))
