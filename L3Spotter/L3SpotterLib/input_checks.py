"""The checks on a volume before detection: a 3-D array, a usable geometry that matches it, enough
extent along the body axis, and intensities that can be a CT in Hounsfield units. Each failure is an
:class:`~errors.InputError` whose message says why.

This is where an input check goes. The only other ones are those a file format needs before or while it
is read (``volume_io`` with ``nifti_checks``, ``nrrd_checks`` and ``dicom_stack``), and the geometry's
own (``geometry.VolumeGeometry``, whose :class:`~geometry.GeometryError` is an ``InputError``).

The intensity checks run on a strided subsample (about a million voxels), so they cost milliseconds
even on a 500 MB volume. NaN and infinity are looked for in every voxel at no extra cost, by
:func:`check_finite_projection` on each MIP (a maximum carries them through), as the MIP is taken.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .geometry import VolumeGeometry

# Air is -1000 HU and every CT of the trunk holds some (outside the body, lungs, bowel gas).
_AIR_BELOW_HU = -500.0
# Bone is above this; a CT of the trunk without any is not one we can read.
_BONE_ABOVE_HU = 200.0
_SAMPLE_VOXELS = 1_000_000
_LABEL_MAP_MAX_VALUES = 64
# Less than this along the body axis cannot hold a vertebra and its neighbours.
MIN_Z_EXTENT_MM = 60.0


def check_volume(voxels: np.ndarray, geometry_or_ijk_to_ras) -> VolumeGeometry:
    """The volume's geometry, once every check has passed; in this order: array, geometry, extent, values."""
    geometry = checked_geometry(voxels, geometry_or_ijk_to_ras)
    low_z, high_z = geometry.z_range_ras_mm
    if high_z - low_z < MIN_Z_EXTENT_MM:
        raise InputError(f"the scan covers only {high_z - low_z:.0f} mm along the body axis; at least {MIN_Z_EXTENT_MM:.0f} mm are needed")
    check_ct_intensities(voxels)
    return geometry


def checked_geometry(voxels: np.ndarray, geometry_or_ijk_to_ras) -> VolumeGeometry:
    """A ``[k, j, i]`` array's geometry, from a :class:`VolumeGeometry` or an IJK->RAS matrix."""
    if voxels.ndim != 3:
        raise InputError(f"a {voxels.ndim}-D array; L3Spotter needs a 3-D CT volume indexed [k, j, i]")
    shape_ijk = tuple(reversed(voxels.shape))
    if isinstance(geometry_or_ijk_to_ras, VolumeGeometry):
        if geometry_or_ijk_to_ras.shape_ijk != shape_ijk:
            raise InputError(f"the geometry is for {geometry_or_ijk_to_ras.shape_ijk} voxels but the array has {shape_ijk}")
        return geometry_or_ijk_to_ras
    return VolumeGeometry(np.asarray(geometry_or_ijk_to_ras, dtype=float), shape_ijk)


def ct_sample(voxels: np.ndarray) -> np.ndarray:
    """A strided subsample of about a million voxels (a view, then a small copy)."""
    step = max(1, int(round((voxels.size / _SAMPLE_VOXELS) ** (1.0 / 3.0))))
    return np.asarray(voxels[::step, ::step, ::step])


def check_ct_intensities(voxels: np.ndarray) -> None:
    if voxels.dtype.kind not in "iuf":
        raise InputError(f"voxels of type {voxels.dtype} are not CT intensities")
    sample = ct_sample(voxels)
    low, high = float(sample.min()), float(sample.max())
    if low == high:
        raise InputError(f"every voxel has the same value ({low:g}): the volume is empty or constant")
    if sample.dtype.kind in "iu" and low >= 0 and np.unique(sample).size <= _LABEL_MAP_MAX_VALUES and high < 1000:
        raise InputError(
            f"only {np.unique(sample).size} distinct values from {low:g} to {high:g}: this looks like a label map or mask, not a CT"
        )
    if low > _AIR_BELOW_HU:
        raise InputError(
            f"no air: the lowest value is {low:g}, a CT in Hounsfield units has air near -1000 "
            "(is this an MR scan or a normalised image?)"
        )
    if high < _BONE_ABOVE_HU:
        raise InputError(f"no bone: the highest value is {high:g}, bone in a CT is above {_BONE_ABOVE_HU:g} HU")


def check_finite_projection(raw_projection: np.ndarray) -> None:
    """Refuse a volume with NaN or infinite voxels, from its maximum intensity projection along any axis."""
    if raw_projection.dtype.kind == "f" and not np.all(np.isfinite(raw_projection)):
        raise InputError("the volume contains NaN or infinite values")
