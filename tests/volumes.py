"""Small CT-like test volumes with a known "L3" level, built with numpy in any storage orientation."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from L3SpotterLib.geometry import ijk_to_ras_from_lps


def marker_volume_ras(l3_z_index: int, n_slices: int = 120, size: int = 48, seed: int = 0) -> np.ndarray:
    """A ``[s, a, r]`` volume (slices superior->inferior... see below) of air with a soft-tissue body, a
    bone column that stops at ``l3_z_index`` and a bright marker there.

    Array axes: 0 = inferior->superior index (k), 1 = posterior->anterior (j), 2 = left->right (i):
    i.e. the array of a RAS-oriented image. The bone column runs from the marker up to the head, so a
    window can tell whether the marker lies above or below it.
    """
    rng = np.random.default_rng(seed)
    volume = np.full((n_slices, size, size), -1000, dtype=np.int16)
    yy, xx = np.mgrid[:size, :size]
    body = ((yy - size / 2) / (size * 0.4)) ** 2 + ((xx - size / 2) / (size * 0.45)) ** 2 <= 1
    volume[:, body] = 40
    column = ((yy - size * 0.35) ** 2 + (xx - size / 2) ** 2) <= (size * 0.06) ** 2
    volume[l3_z_index:, column] = 700
    marker = ((yy - size * 0.35) ** 2 + (xx - size / 2) ** 2) <= (size * 0.15) ** 2
    volume[max(0, l3_z_index - 1) : l3_z_index + 2, marker] = 1200
    noise = rng.normal(0, 10, size=volume.shape).astype(np.int16)
    return volume + noise


def sitk_image_ras(array: np.ndarray, spacing_mm=(4.0, 4.0, 4.0), origin_lps=(0.0, 0.0, 0.0)) -> sitk.Image:
    """A SimpleITK image of a RAS-ordered ``[k, j, i]`` array (i -> R, j -> A, k -> S)."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing_mm)
    image.SetOrigin(origin_lps)
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    return image


def ijk_to_ras_of(image: sitk.Image) -> np.ndarray:
    return ijk_to_ras_from_lps(image.GetOrigin(), image.GetSpacing(), image.GetDirection())


def rotated_direction(image: sitk.Image, angle_deg: float, axis: str = "x") -> sitk.Image:
    """The same voxels with the direction matrix rotated by ``angle_deg`` about an LPS axis (oblique)."""
    angle = np.radians(angle_deg)
    c, s = np.cos(angle), np.sin(angle)
    rotations = {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
    }
    direction = rotations[axis] @ np.asarray(image.GetDirection()).reshape(3, 3)
    rotated = sitk.Image(image)
    rotated.SetDirection(direction.ravel().tolist())
    return rotated
