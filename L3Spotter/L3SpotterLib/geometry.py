"""Voxel geometry: which voxel axis runs head to foot, and the exact slice index <-> z (RAS mm) map.

Conventions used throughout L3Spotter:

* A volume array is indexed ``[k, j, i]`` exactly as ``SimpleITK.GetArrayFromImage`` and
  ``slicer.util.arrayFromVolume`` return it. Array axis ``2 - a`` holds IJK axis ``a``.
* ``ijk_to_ras`` is the 4x4 matrix from continuous voxel index ``(i, j, k, 1)`` to RAS millimetres
  (the matrix Slicer's ``GetIJKToRASMatrix`` returns; files store LPS, which :func:`ijk_to_ras_from_lps`
  converts).
* The *slice axis* is the IJK axis whose direction is most nearly superior-inferior. A *slice index* is
  the 0-based index along it, and ``slice_index_increases_towards`` says which way it grows.
* The z of a slice is the S coordinate of the slice's in-plane centre voxel, so the same anatomy stored
  in another orientation (a permutation or flip of the same grid) maps to the same z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

# Largest angle (degrees) between the slice axis and the S axis that we still treat as an axial scan.
# Gantry-tilted or oblique scans within a few degrees are normal; beyond this the MIP along a voxel
# axis no longer matches the anatomy the model was trained on.
MAX_OBLIQUE_DEG = 20.0


class GeometryError(InputError, ValueError):
    """The volume's geometry cannot be used (bad spacing, degenerate or too oblique directions): an input
    error wherever it is raised, so no caller translates it."""


def ijk_to_ras_from_lps(origin_lps, spacing_mm, direction_lps) -> np.ndarray:
    """Build the IJK->RAS matrix from ITK-style (LPS) origin, spacing and 3x3 direction."""
    spacing_mm = np.asarray(spacing_mm, dtype=float)
    direction = np.asarray(direction_lps, dtype=float).reshape(3, 3)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = direction * spacing_mm[np.newaxis, :]
    ijk_to_lps[:3, 3] = np.asarray(origin_lps, dtype=float)
    return LPS_TO_RAS @ ijk_to_lps


def lps_from_ijk_to_ras(ijk_to_ras):
    """Inverse of :func:`ijk_to_ras_from_lps`: return (origin_lps, spacing_mm, direction_lps 3x3)."""
    ijk_to_lps = LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=float)
    columns = ijk_to_lps[:3, :3]
    spacing_mm = np.linalg.norm(columns, axis=0)
    direction = columns / spacing_mm[np.newaxis, :]
    return ijk_to_lps[:3, 3].copy(), spacing_mm, direction


@dataclass(frozen=True)
class VolumeGeometry:
    """Where each voxel of a ``[k, j, i]`` array lies in RAS millimetres."""

    ijk_to_ras: np.ndarray
    shape_ijk: tuple[int, int, int]

    def __post_init__(self):
        matrix = np.asarray(self.ijk_to_ras, dtype=float)
        if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
            raise GeometryError(f"the IJK->RAS matrix must be a finite 4x4 matrix, got shape {matrix.shape}")
        object.__setattr__(self, "ijk_to_ras", matrix)
        object.__setattr__(self, "shape_ijk", tuple(int(n) for n in self.shape_ijk))
        spacing = self.spacing_mm
        if np.any(spacing <= 1e-6):
            raise GeometryError(f"voxel spacing must be positive, got {np.round(spacing, 6).tolist()} mm")
        if abs(np.linalg.det(self.direction)) < 0.5:
            raise GeometryError("the direction matrix is degenerate: the voxel axes are not independent")
        angle = self.slice_axis_obliquity_deg
        if angle > MAX_OBLIQUE_DEG:
            raise GeometryError(
                f"no voxel axis runs head to foot: the nearest is {angle:.0f} degrees off "
                f"(at most {MAX_OBLIQUE_DEG:.0f} supported); is this an axial CT?"
            )

    @classmethod
    def from_sitk_image(cls, image) -> "VolumeGeometry":
        return cls(ijk_to_ras_from_lps(image.GetOrigin(), image.GetSpacing(), image.GetDirection()), image.GetSize())

    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel size along i, j, k in mm."""
        return np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)

    @property
    def direction(self) -> np.ndarray:
        """3x3 unit direction vectors (columns: i, j, k) in RAS."""
        return self.ijk_to_ras[:3, :3] / self.spacing_mm[np.newaxis, :]

    def _most_aligned_axis(self, ras_row: int, exclude=()) -> int:
        weights = np.abs(self.direction[ras_row]).copy()
        for axis in exclude:
            weights[axis] = -1.0
        return int(np.argmax(weights))

    @property
    def slice_axis(self) -> int:
        """The IJK axis (0=i, 1=j, 2=k) most nearly superior-inferior."""
        return self._most_aligned_axis(2)

    @property
    def lr_axis(self) -> int:
        """The IJK axis most nearly left-right (never the slice axis)."""
        return self._most_aligned_axis(0, exclude=(self.slice_axis,))

    @property
    def ap_axis(self) -> int:
        """The IJK axis most nearly anterior-posterior (the remaining one)."""
        return 3 - self.slice_axis - self.lr_axis

    def axis_sign(self, ijk_axis: int, ras_row: int) -> int:
        """+1 if the index along ``ijk_axis`` grows towards R/A/S (``ras_row`` 0/1/2), else -1."""
        return 1 if self.direction[ras_row, ijk_axis] > 0 else -1

    @property
    def slice_index_increases_towards(self) -> str:
        return "superior" if self.axis_sign(self.slice_axis, 2) > 0 else "inferior"

    @property
    def slice_axis_obliquity_deg(self) -> float:
        s_component = abs(self.direction[2, self.slice_axis])
        return float(np.degrees(np.arccos(min(1.0, s_component))))

    @property
    def n_slices(self) -> int:
        return self.shape_ijk[self.slice_axis]

    @property
    def slice_thickness_mm(self) -> float:
        """Distance in z between neighbouring slices (the slice axis's S component, in mm)."""
        return abs(float(self.ijk_to_ras[2, self.slice_axis]))

    @property
    def in_plane_field_mm(self) -> float:
        """The narrower of the scan's left-right and front-back extents (voxel count x spacing), in mm."""
        spacing = self.spacing_mm
        return float(min(self.shape_ijk[axis] * spacing[axis] for axis in (self.lr_axis, self.ap_axis)))

    def _centre_ijk(self) -> np.ndarray:
        return (np.asarray(self.shape_ijk, dtype=float) - 1.0) / 2.0

    def slice_to_z_ras_mm(self, slice_index):
        """z (RAS S, mm) of the in-plane centre of ``slice_index`` (scalar or array, may be fractional)."""
        centre = self._centre_ijk()
        centre[self.slice_axis] = 0.0
        z_first = float(self.ijk_to_ras[2, :3] @ centre + self.ijk_to_ras[2, 3])
        return z_first + np.asarray(slice_index, dtype=float) * self.ijk_to_ras[2, self.slice_axis]

    def z_ras_mm_to_slice(self, z_ras_mm):
        """Fractional slice index at z (RAS S, mm); the exact inverse of :meth:`slice_to_z_ras_mm`."""
        z_first = self.slice_to_z_ras_mm(0.0)
        return (np.asarray(z_ras_mm, dtype=float) - z_first) / self.ijk_to_ras[2, self.slice_axis]

    @property
    def z_range_ras_mm(self) -> tuple[float, float]:
        """(lowest, highest) z of the slice centres."""
        ends = self.slice_to_z_ras_mm([0.0, self.n_slices - 1.0])
        return float(np.min(ends)), float(np.max(ends))

    def ijk_to_ras_points(self, ijk) -> np.ndarray:
        ijk = np.atleast_2d(np.asarray(ijk, dtype=float))
        return ijk @ self.ijk_to_ras[:3, :3].T + self.ijk_to_ras[:3, 3]

    def describe_slice_axis(self) -> dict:
        """The JSON block that tells a reader how to interpret a slice index (as in case.json)."""
        return {"ijk_axis": self.slice_axis, "index_increases_towards": self.slice_index_increases_towards}
