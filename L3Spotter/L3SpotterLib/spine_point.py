"""Where on the L3 level the vertebra is: a point for the fiducial, inside the vertebra rather than in
the middle of the field of view (which often lies in the abdomen, centimetres in front of the spine)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .geometry import VolumeGeometry

# Cortical bone lies above this; fat, soft tissue and enhanced kidneys below (contrast vessels may not).
_BONE_HU = 300.0
# Half the thickness of the slab, around the level, whose max shows the whole vertebral ring.
_SLAB_HALF_MM = 6.0
# Fewer bone pixels than this (in-plane, about 3 cm^2 at 1 mm) is no vertebra.
_MIN_VERTEBRA_MM2 = 300.0


def vertebra_point_ras(voxels: np.ndarray, geometry: VolumeGeometry, z_ras_mm: float) -> tuple[float, float, float]:
    """(R, A, S) of the centroid of the largest bone structure in a thin slab at ``z_ras_mm``, with S
    exactly ``z_ras_mm``; the in-plane centre of the volume if no bone is found.

    At lumbar levels the largest bone structure is the vertebra's ring (body, pedicles, laminae), so the
    point lies in the vertebra, near the back of its body. At thoracic levels a contrast-filled heart can
    outsize it: this is meant for L3.
    """
    axis = geometry.slice_axis
    centre_slice = float(geometry.z_ras_mm_to_slice(z_ras_mm))
    half_slices = max(1, int(round(_SLAB_HALF_MM / geometry.slice_thickness_mm)))
    first = int(np.clip(np.floor(centre_slice) - half_slices, 0, geometry.n_slices - 1))
    last = int(np.clip(np.ceil(centre_slice) + half_slices, 0, geometry.n_slices - 1))
    array_axis = 2 - axis
    slab = np.take(voxels, np.arange(first, last + 1), axis=array_axis).max(axis=array_axis)
    in_plane_axes = [a for a in (2, 1, 0) if a != axis]  # IJK axes of slab's array axes, in order
    components, count = ndimage.label(slab >= _BONE_HU)
    point_ijk = (np.asarray(geometry.shape_ijk, dtype=float) - 1.0) / 2.0
    if count:
        sizes = np.bincount(components.ravel())[1:]
        largest = int(np.argmax(sizes)) + 1
        pixel_mm2 = float(np.prod(geometry.spacing_mm[in_plane_axes]))
        if sizes[largest - 1] * pixel_mm2 >= _MIN_VERTEBRA_MM2:
            centroid = ndimage.center_of_mass(components == largest)
            for array_index, ijk_axis in enumerate(in_plane_axes):
                point_ijk[ijk_axis] = centroid[array_index]
    point_ijk[axis] = centre_slice
    r, a, _ = geometry.ijk_to_ras_points(point_ijk)[0]
    return float(r), float(a), float(z_ras_mm)
