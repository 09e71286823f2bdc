"""Checks on NIfTI files that SimpleITK does not make: it reads a truncated ``.nii.gz`` without error
(the missing voxels become zeros) and turns a zero voxel spacing into 1 mm with only a console warning.

The header is read by nibabel. The size of the voxel data comes from the type stored on disk: a scaled
file (``scl_slope``/``scl_inter``, as dcm2niix writes CTs stored as unsigned integers) holds int16 or
uint16 voxels that SimpleITK hands over as floats.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import InputError


def stored_nifti_header(path: Path, path_text: str):
    """The NIfTI-1 or NIfTI-2 header of a file (plain or gzipped) exactly as stored, or None when nibabel
    does not take the file for NIfTI (SimpleITK's own checks then apply)."""
    import nibabel
    from nibabel.filebasedimages import ImageFileError
    from nibabel.imageglobals import LoggingOutputSuppressor
    from nibabel.openers import ImageOpener
    from nibabel.spatialimages import HeaderDataError

    try:
        with LoggingOutputSuppressor():  # nibabel logs the header fixes it makes; the checks below speak instead
            image = nibabel.load(str(path))  # finds the NIfTI version and byte order; reads no voxels
        if not isinstance(image, (nibabel.Nifti1Image, nibabel.Nifti2Image)):
            return None
        with ImageOpener(str(path)) as stream:
            # load() fixes a zero or negative pixdim; the stored values are what must be judged.
            return type(image.header).from_fileobj(stream, check=False)
    except (OSError, EOFError, zlib.error):
        raise InputError(f"{path_text}: the file is corrupt or truncated (its header cannot be read)") from None
    except HeaderDataError as error:
        raise InputError(f"{path_text}: the NIfTI header is invalid ({error})") from None
    except (ImageFileError, ValueError, struct.error):
        return None


def check_nifti_file(path: Path, path_text: str) -> None:
    """Refuse non-positive voxel spacing and truncated voxel data, naming the problem."""
    from nibabel.spatialimages import HeaderDataError

    header = stored_nifti_header(path, path_text)
    if header is None:
        return
    n_dims = int(header["dim"][0])
    for axis, spacing in zip("ijk", header["pixdim"][1 : 1 + min(3, n_dims)]):
        if not spacing > 0:
            raise InputError(
                f"{path_text}: the voxel spacing along {axis} is {spacing:g} mm in the NIfTI header (pixdim); "
                "it must be positive (zero cannot place the voxels, and tools disagree on what negative means)"
            )
    try:
        expected_bytes = stored_data_end_bytes(header)
    except (HeaderDataError, ValueError) as error:
        raise InputError(f"{path_text}: the NIfTI header is invalid ({error})") from None
    if path.name.lower().endswith(".gz"):
        _check_gzip_complete(path, expected_bytes, path_text)
    elif path.stat().st_size < expected_bytes:
        raise InputError(
            f"{path_text}: the file is truncated ({path.stat().st_size} bytes where its NIfTI header announces {expected_bytes})"
        )


def stored_data_end_bytes(header) -> int:
    """Where the voxel data end: the stored offset plus the voxels in the type stored on disk."""
    voxel_count = int(np.prod(header.get_data_shape(), dtype=np.float64))
    return int(header.get_data_offset()) + voxel_count * header.get_data_dtype().itemsize


def _check_gzip_complete(path: Path, expected_bytes: int, path_text: str) -> None:
    """The gzip trailer's last four bytes hold the uncompressed length (mod 2**32). In a truncated file
    those bytes are compressed data, so they almost never equal the header plus the voxel bytes."""
    with open(path, "rb") as stream:
        stream.seek(0, os.SEEK_END)
        if stream.tell() < 18:
            raise InputError(f"{path_text}: the gzip file is truncated")
        stream.seek(-4, os.SEEK_END)
        (stored_length,) = struct.unpack("<I", stream.read(4))
    if stored_length != expected_bytes % 2**32:
        raise InputError(
            f"{path_text}: the file is truncated or corrupt (the gzip data do not hold the "
            f"{expected_bytes} bytes its NIfTI header announces)"
        )
