"""Checks on NIfTI files that SimpleITK does not make: it reads a truncated ``.nii.gz`` without error
(the missing voxels become zeros) and turns a zero voxel spacing into 1 mm with only a console warning."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

from .errors import InputError

NIFTI1_HEADER_BYTES = 348


def read_nifti1_header(path: Path, path_text: str | None = None) -> dict | None:
    """``vox_offset`` and ``pixdim`` from a NIfTI-1 header (plain or gzipped), or None if not NIfTI-1."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            header = stream.read(NIFTI1_HEADER_BYTES)
    except (OSError, EOFError):
        raise InputError(f"{path_text or path}: the file is corrupt or truncated (its header cannot be read)") from None
    if len(header) < NIFTI1_HEADER_BYTES:
        return None
    for endian in ("<", ">"):
        (sizeof_hdr,) = struct.unpack(endian + "i", header[:4])
        if sizeof_hdr == NIFTI1_HEADER_BYTES:
            n_dims = struct.unpack(endian + "h", header[40:42])[0]
            pixdim = struct.unpack(endian + "8f", header[76:108])
            (vox_offset,) = struct.unpack(endian + "f", header[108:112])
            return {"n_dims": n_dims, "pixdim": pixdim, "vox_offset": int(vox_offset)}
    return None


def check_nifti_file(path: Path, voxel_bytes: int, path_text: str) -> None:
    """Refuse non-positive voxel spacing and truncated gzip data, naming the problem."""
    header = read_nifti1_header(path, path_text)
    if header is None:
        return  # NIfTI-2 or unusual: SimpleITK's own checks apply
    for axis, spacing in zip("ijk", header["pixdim"][1 : 1 + min(3, header["n_dims"])]):
        if not spacing > 0:
            raise InputError(
                f"{path_text}: the voxel spacing along {axis} is {spacing:g} mm in the NIfTI header (pixdim); "
                "it must be positive (zero cannot place the voxels, and tools disagree on what negative means)"
            )
    if path.name.lower().endswith(".gz"):
        _check_gzip_complete(path, header["vox_offset"] + voxel_bytes, path_text)


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
