"""Refuse volumes whose intensities cannot be a CT in Hounsfield units, with a message saying why.

The checks run on a strided subsample (about a million voxels), so they cost milliseconds even on a
500 MB volume. NaN and infinity are caught exactly by the MIP, whose max propagates them.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

# Air is -1000 HU and every CT of the trunk holds some (outside the body, lungs, bowel gas).
_AIR_BELOW_HU = -500.0
# Bone is above this; a CT of the trunk without any is not one we can read.
_BONE_ABOVE_HU = 200.0
_SAMPLE_VOXELS = 1_000_000
_LABEL_MAP_MAX_VALUES = 64


def ct_sample(voxels: np.ndarray) -> np.ndarray:
    """A strided subsample of about a million voxels (a view, then a small copy)."""
    step = max(1, int(round((voxels.size / _SAMPLE_VOXELS) ** (1.0 / 3.0))))
    return np.asarray(voxels[::step, ::step, ::step])


def check_ct_intensities(voxels: np.ndarray) -> None:
    if voxels.dtype.kind not in "iuf":
        raise InputError(f"voxels of type {voxels.dtype} are not CT intensities")
    sample = ct_sample(voxels)
    if sample.dtype.kind == "f" and not np.all(np.isfinite(sample)):
        raise InputError("the volume contains NaN or infinite values")
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
