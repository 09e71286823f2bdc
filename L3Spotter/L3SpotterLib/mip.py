"""Maximum intensity projections (MIPs) of a CT volume on a fixed millimetre grid.

A projection image has rows running from head to foot (row 0 is the most superior) and a fixed number of
columns centred on the skeleton:

* ``frontal``: the max along the anterior-posterior axis; columns run from the patient's right to left,
  as on a radiograph seen from the front.
* ``lateral``: the max along the left-right axis; columns run from anterior to posterior.

The max is taken in the volume's own dtype along the voxel axis nearest to the projection direction, so a
500 MB int16 volume needs no float copy: only the 2-D result is converted and resampled. Pixels hold the HU
window mapped to [0, 1] (float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .geometry import VolumeGeometry
from .input_checks import check_finite_projection

VIEWS = ("frontal", "lateral")

# HU above which a MIP pixel counts as bone (or contrast) when centring the columns on the skeleton.
_BONE_HU = 250.0


@dataclass(frozen=True)
class MipGrid:
    """The millimetre grid and HU window a model expects its projections on (from the model card)."""

    row_mm: float
    col_mm: float
    width_px: int
    hu_window: tuple[float, float]


@dataclass
class Projection:
    """A MIP on a :class:`MipGrid`: ``pixels[row, col]`` in [0, 1], row 0 at ``z_top_ras_mm``."""

    pixels: np.ndarray
    view: str
    row_mm: float
    z_top_ras_mm: float

    @property
    def n_rows(self) -> int:
        return self.pixels.shape[0]

    def row_to_z_ras_mm(self, row):
        return self.z_top_ras_mm - np.asarray(row, dtype=float) * self.row_mm

    def z_ras_mm_to_row(self, z_ras_mm):
        return (self.z_top_ras_mm - np.asarray(z_ras_mm, dtype=float)) / self.row_mm


def raw_projection(voxels: np.ndarray, geometry: VolumeGeometry, view: str) -> np.ndarray:
    """The max along the view's voxel axis, in the volume's dtype, oriented ``[slice, column]``.

    Rows follow the slice axis from superior to inferior; columns run right-to-left (frontal) or
    anterior-to-posterior (lateral).
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")
    projected_axis = geometry.ap_axis if view == "frontal" else geometry.lr_axis
    column_axis = geometry.lr_axis if view == "frontal" else geometry.ap_axis
    # Array axis 2 - a holds IJK axis a.
    projection = np.max(voxels, axis=2 - projected_axis)
    remaining_ijk_axes = [axis for axis in (2, 1, 0) if axis != projected_axis]  # in array order
    if remaining_ijk_axes.index(geometry.slice_axis) != 0:
        projection = projection.T
    if geometry.axis_sign(geometry.slice_axis, 2) > 0:
        projection = projection[::-1, :]  # slice index grows towards the head: flip so row 0 is superior
    # Frontal columns go R -> L (RAS x decreasing); lateral columns go A -> P (RAS y decreasing).
    column_ras_row = 0 if view == "frontal" else 1
    if geometry.axis_sign(column_axis, column_ras_row) > 0:
        projection = projection[:, ::-1]
    return projection


def project(voxels: np.ndarray, geometry: VolumeGeometry, view: str, grid: MipGrid) -> Projection:
    """MIP of ``voxels`` along ``view``, windowed and resampled onto ``grid``."""
    raw = raw_projection(voxels, geometry, view)
    check_finite_projection(raw)
    hu_low, hu_high = grid.hu_window
    windowed = np.clip(raw, hu_low, hu_high).astype(np.float32)

    column_axis = geometry.lr_axis if view == "frontal" else geometry.ap_axis
    source_row_mm = geometry.slice_thickness_mm
    source_col_mm = float(geometry.spacing_mm[column_axis])
    z_low, z_high = geometry.z_range_ras_mm
    n_rows = int(np.floor((z_high - z_low) / grid.row_mm + 1e-6)) + 1

    bone_columns = windowed >= min(_BONE_HU, hu_high)
    centre_col = _skeleton_centre_column(bone_columns)
    rows_src = np.arange(n_rows) * (grid.row_mm / source_row_mm)
    cols_src = centre_col + (np.arange(grid.width_px) - (grid.width_px - 1) / 2.0) * (grid.col_mm / source_col_mm)

    smoothed = _antialias(windowed, (grid.row_mm / source_row_mm, grid.col_mm / source_col_mm))
    resampled = _bilinear(smoothed, rows_src, cols_src, fill=hu_low)
    pixels = (resampled - hu_low) / (hu_high - hu_low)
    return Projection(pixels=pixels.astype(np.float32), view=view, row_mm=grid.row_mm, z_top_ras_mm=z_high)


def project_views(voxels: np.ndarray, geometry: VolumeGeometry, views, grid: MipGrid) -> list[Projection]:
    """One :func:`project` per view, in the order given (the order of a model card's ``views``)."""
    return [project(voxels, geometry, view, grid) for view in views]


def _skeleton_centre_column(bone: np.ndarray) -> float:
    """Median column of bone pixels (robust to one-sided arms or a table edge); image centre if none."""
    counts = bone.sum(axis=0).astype(np.float64)
    if counts.sum() < 1:
        return (bone.shape[1] - 1) / 2.0
    cumulative = np.cumsum(counts)
    return float(np.searchsorted(cumulative, cumulative[-1] / 2.0))


def _antialias(image: np.ndarray, downsample_factors) -> np.ndarray:
    sigmas = [0.4 * f if f > 1.0 else 0.0 for f in downsample_factors]
    if max(sigmas) == 0.0:
        return image
    return ndimage.gaussian_filter(image, sigma=sigmas, mode="nearest")


def _bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: float) -> np.ndarray:
    """Sample ``image`` on the separable grid ``rows x cols`` (linear), ``fill`` outside it."""
    # Separable linear interpolation: two 1-D passes, far cheaper than map_coordinates on a full grid.
    along_rows = _interp_axis(image, rows, axis=0, fill=fill)
    return _interp_axis(along_rows, cols, axis=1, fill=fill)


def _interp_axis(image: np.ndarray, positions: np.ndarray, axis: int, fill: float) -> np.ndarray:
    n = image.shape[axis]
    inside = (positions >= -0.5) & (positions <= n - 0.5)
    clamped = np.clip(positions, 0, n - 1)
    low = np.floor(clamped).astype(int)
    high = np.minimum(low + 1, n - 1)
    weight = (clamped - low).astype(np.float32)
    take_low = np.take(image, low, axis=axis)
    take_high = np.take(image, high, axis=axis)
    shape = [1, 1]
    shape[axis] = -1
    weight = weight.reshape(shape)
    result = take_low * (1 - weight) + take_high * weight
    outside = ~inside.reshape(shape)
    return np.where(outside, np.float32(fill), result).astype(np.float32)
