"""What the scanner and the archive do to the ideal HU volume: blur, noise, metal streaks, the scan
circle with its padding value, and the stored value range.

* Blur: Gaussian point spread, sigma ``blur_sigma_mm`` in-plane, a fraction of a slice along z.
* Sharp kernels (``sharpen_amount`` > 0, the shifted family only): edge enhancement in-plane, which
  rings at bone edges as bone kernels do.
* Noise: Gaussian, slightly correlated in-plane (CT noise has a grain, not white pixels), with the
  drawn standard deviation. A MIP takes the maximum of hundreds of noisy voxels, which lifts soft
  tissue by about three noise sigmas: this is visible in real MIPs and must be reproduced.
* Metal: radial bright/dark streaks in the slices that contain metal.
* Outside the reconstruction circle, real archives store -1024, -2048 or -3024.
* Values are capped at 1023 or 3071 where the archive did so, and stored as int16.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .canvas import Canvas


def apply_acquisition(canvas: Canvas, acquisition: dict) -> np.ndarray:
    """Return the final int16 HU array [k, j, i]; ``canvas.hu`` is modified in place."""
    hu = canvas.hu
    spacing_i, spacing_j, spacing_k = canvas.spacing_mm
    _add_metal_streaks(canvas, acquisition)
    sigma_inplane = acquisition["blur_sigma_mm"]
    sigmas = (acquisition["blur_z_fraction"], sigma_inplane / spacing_j, sigma_inplane / spacing_i)
    for axis, sigma in enumerate(sigmas):
        if sigma >= 0.25:
            ndimage.gaussian_filter1d(hu, sigma, axis=axis, output=hu, truncate=2.5)
    _sharpen_in_plane(hu, acquisition.get("sharpen_amount", 0.0), (spacing_j, spacing_i))
    _add_noise(hu, acquisition, (spacing_j, spacing_i))
    circle_outside = _outside_scan_circle(canvas, acquisition["scan_circle_fraction"])
    low = -1024.0 if acquisition["clip_below_minus_1024"] else -1300.0
    cap = acquisition["hu_cap"] if acquisition["hu_cap"] is not None else 30000.0
    np.clip(hu, low, cap, out=hu)
    out = np.empty(hu.shape, dtype=np.int16)
    np.rint(hu, out=hu)
    out[...] = hu
    padding = acquisition["padding_value"]
    out[:, circle_outside] = -1024 if padding is None else padding
    return out


def _sharpen_in_plane(hu: np.ndarray, amount: float, spacing_ji_mm, radius_mm: float = 1.2) -> None:
    """Unsharp mask slice by slice: ``hu + amount * (hu - blurred)``."""
    if amount <= 0:
        return
    sigmas = (0.0, radius_mm / spacing_ji_mm[0], radius_mm / spacing_ji_mm[1])
    step = max(1, 4_000_000 // max(1, hu.shape[1] * hu.shape[2]))
    for start in range(0, hu.shape[0], step):
        block = hu[start : start + step]
        blurred = ndimage.gaussian_filter(block, sigmas, truncate=2.5)
        block += np.float32(amount) * (block - blurred)


def _add_noise(hu: np.ndarray, acquisition: dict, spacing_ji_mm) -> None:
    sd = float(acquisition["noise_sd_hu"])
    if sd <= 0:
        return
    rng = np.random.default_rng(acquisition["noise_seed"])
    grain = acquisition["noise_grain_mm"]
    sigma_j, sigma_i = grain / spacing_ji_mm[0], grain / spacing_ji_mm[1]
    # Smoothing white noise with a Gaussian of sigma s (voxels, per axis) divides its sd by about
    # sqrt(2 * sqrt(pi) * s) per axis; rescale so that the final sd is the drawn one.
    gain = 1.0
    for s in (sigma_j, sigma_i):
        if s >= 0.3:
            gain *= np.sqrt(2.0 * np.sqrt(np.pi) * s)
    step = max(1, 4_000_000 // max(1, hu.shape[1] * hu.shape[2]))
    for start in range(0, hu.shape[0], step):
        block = rng.standard_normal((min(step, hu.shape[0] - start),) + hu.shape[1:], dtype=np.float32)
        if sigma_j >= 0.3:
            ndimage.gaussian_filter1d(block, sigma_j, axis=1, output=block, truncate=2.5)
        if sigma_i >= 0.3:
            ndimage.gaussian_filter1d(block, sigma_i, axis=2, output=block, truncate=2.5)
        block *= np.float32(sd * gain)
        hu[start : start + block.shape[0]] += block


def _outside_scan_circle(canvas: Canvas, fraction: float) -> np.ndarray:
    """2-D mask [j, i] of the pixels outside the reconstruction circle."""
    _, nj, ni = canvas.shape_kji
    sj, si = canvas.spacing_mm[1], canvas.spacing_mm[0]
    j = (np.arange(nj) - (nj - 1) / 2.0) * sj
    i = (np.arange(ni) - (ni - 1) / 2.0) * si
    radius = 0.5 * min(nj * sj, ni * si) * fraction
    return (j[:, None] ** 2 + i[None, :] ** 2) > radius**2


def _add_metal_streaks(canvas: Canvas, acquisition: dict) -> None:
    """Streaks radiating from each piece of metal (pixels above 2500 HU) in the slices that hold it.

    The pattern of a group of up to 8 slices is computed once, round the metal pieces of the group's
    middle slice, and scaled per slice by how much metal that slice holds.
    """
    if not canvas.metal_mask_boxes:
        return
    rng = np.random.default_rng(acquisition["streak_seed"])
    k_lo = min(b[0] for b in canvas.metal_mask_boxes)
    k_hi = max(b[1] for b in canvas.metal_mask_boxes)
    _, nj, ni = canvas.shape_kji
    sj, si = canvas.spacing_mm[1], canvas.spacing_mm[0]
    jj = (np.arange(nj, dtype=np.float32) * np.float32(sj))[:, None]
    ii = (np.arange(ni, dtype=np.float32) * np.float32(si))[None, :]
    angles = rng.uniform(0.0, np.pi, 10)
    amplitudes = rng.uniform(-1.0, 1.0, 10) * rng.uniform(80.0, 300.0)
    metal_area_mm2 = [(canvas.hu[k] > 2500.0).sum() * sj * si for k in range(k_lo, k_hi)]
    group = 8
    for start in range(k_lo, k_hi, group):
        stop = min(k_hi, start + group)
        areas = metal_area_mm2[start - k_lo : stop - k_lo]
        if max(areas) == 0:
            continue
        middle = start + int(np.argmax(areas))
        pieces, count = ndimage.label(canvas.hu[middle] > 2500.0)
        pattern = np.zeros((nj, ni), dtype=np.float32)
        for cj, ci in ndimage.center_of_mass(np.ones_like(pieces), pieces, range(1, count + 1)):
            dy, dx = jj - np.float32(cj * sj), ii - np.float32(ci * si)
            r = np.sqrt(dx * dx + dy * dy) + np.float32(10.0)
            theta = np.arctan2(dy, dx)
            fade = np.minimum(np.float32(1.0), np.float32(60.0) / r)
            for angle, amplitude in zip(angles, amplitudes):
                across = np.abs(np.sin(theta - np.float32(angle))) * r  # distance from the band's line
                pattern += np.float32(amplitude) * np.exp(np.float32(-0.125) * across * across) * fade
        for k, area in zip(range(start, stop), areas):
            if area > 0:
                canvas.hu[k] += pattern * np.float32(min(1.0, area / 400.0))
