"""Volumes that are not a patient: what L3Spotter must never call ``found``.

Users feed the engine QA phantoms, test objects, empty scans and broken files. Each kind below makes a
small int16 HU volume (LPS identity, like the phantoms) from a seed:

====================  ==============================================================================
kind                  what
====================  ==============================================================================
rod                   one straight bone-density rod (300-1500 HU, 4-20 mm radius) in a water cylinder,
                      possibly tilted up to 15 degrees
rods                  2-5 parallel rods of different densities (a bone-density calibration phantom)
water_cylinder        a water or soft-tissue cylinder, sometimes with a thin plastic wall
noise                 Gaussian noise around a random mean (-1000 to 500 HU)
constant              one value everywhere
blobs                 3-12 bone-density ellipsoids scattered in a water cylinder
disk_stack            a column of bone disks evenly spaced by 25-45 mm (a spine's rhythm, no ribs or
                      pelvis)
sphere_lattice        a regular lattice of small bright spheres (a geometry QA phantom)
table_only            air and a patient table
metal_rods            two metal rods (3000+ HU) in water, with streaks left out
====================  ==============================================================================

``TRAINING_KINDS`` may serve as negatives when a model is trained; the battery
(``benchmarks/non_anatomical_battery.py``) uses every kind with other seeds, and kinds that training never
sees (``HELD_OUT_KINDS``).
"""

from __future__ import annotations

import numpy as np

from ..geometry import ijk_to_ras_from_lps

TRAINING_KINDS = ("rod", "rods", "water_cylinder", "noise", "constant", "blobs")
HELD_OUT_KINDS = ("disk_stack", "sphere_lattice", "table_only", "metal_rods")
KINDS = TRAINING_KINDS + HELD_OUT_KINDS


def non_anatomical_volume(kind: str, seed: int, pixel_mm: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """``(ct [k, j, i] int16 HU, ijk_to_ras)`` of one object of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown non-anatomical kind {kind!r}; expected one of {KINDS}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), KINDS.index(kind), 0x4E4F4E]))  # "NON"
    n_inplane = int(rng.integers(160, 256))
    slice_mm = float(rng.choice((1.0, 2.0, 2.5, 3.0, 5.0)))
    length_mm = float(rng.uniform(200.0, 700.0))
    n_slices = int(length_mm / slice_mm) + 1
    z_mm = (np.arange(n_slices) * slice_mm)[:, None, None]
    y_mm = ((np.arange(n_inplane) - (n_inplane - 1) / 2) * pixel_mm)[None, :, None]
    x_mm = ((np.arange(n_inplane) - (n_inplane - 1) / 2) * pixel_mm)[None, None, :]
    ct = np.full((n_slices, n_inplane, n_inplane), -1000.0, dtype=np.float32)
    half_width = (n_inplane - 1) / 2 * pixel_mm
    _PAINTERS[kind](ct, rng, x_mm, y_mm, z_mm, half_width, length_mm)
    ct += rng.normal(0.0, rng.uniform(0.0, 25.0), size=ct.shape).astype(np.float32)
    np.clip(ct, -1024, 3071, out=ct)
    ijk_to_ras = ijk_to_ras_from_lps((-half_width, -half_width, float(rng.uniform(-800.0, 200.0))), (pixel_mm, pixel_mm, slice_mm), np.eye(3))
    return np.rint(ct).astype(np.int16), ijk_to_ras


def _water_cylinder(ct, rng, x, y, half_width, hu=None) -> tuple[float, float]:
    """Fill a cylinder along z; returns its (centre x, radius) for the inserts."""
    radius = rng.uniform(0.45, 0.9) * half_width
    cx, cy = rng.uniform(-0.1, 0.1) * half_width, rng.uniform(-0.1, 0.1) * half_width
    inside = ((x - cx) ** 2 + (y - cy) ** 2 < radius**2)[0]
    ct[:, inside] = rng.uniform(-20.0, 60.0) if hu is None else hu
    if rng.random() < 0.4:
        wall = (((x - cx) ** 2 + (y - cy) ** 2 < radius**2) & ((x - cx) ** 2 + (y - cy) ** 2 > (radius - 3.0) ** 2))[0]
        ct[:, wall] = rng.uniform(100.0, 300.0)
    return radius, cx


def _rod(ct, rng, x, y, z, half_width, length_mm):
    radius, _ = _water_cylinder(ct, rng, x, y, half_width)
    _paint_rod(ct, rng, x, y, z, offset_limit=0.6 * radius, length_mm=length_mm)


def _paint_rod(ct, rng, x, y, z, offset_limit, length_mm, hu=None, radius=None):
    rod_radius = rng.uniform(4.0, 20.0) if radius is None else radius
    x0, y0 = rng.uniform(-offset_limit, offset_limit, 2)
    tilt = np.tan(np.radians(rng.uniform(-15.0, 15.0) if rng.random() < 0.5 else 0.0))
    value = rng.uniform(300.0, 1500.0) if hu is None else hu
    centre_x = x0 + tilt * (z - length_mm / 2)
    inside = (x - centre_x) ** 2 + (y - y0) ** 2 < rod_radius**2
    ct[inside] = value


def _rods(ct, rng, x, y, z, half_width, length_mm):
    radius, _ = _water_cylinder(ct, rng, x, y, half_width)
    for _ in range(int(rng.integers(2, 6))):
        _paint_rod(ct, rng, x, y, z, offset_limit=0.6 * radius, length_mm=length_mm, radius=rng.uniform(4.0, 12.0))


def _water(ct, rng, x, y, z, half_width, length_mm):
    _water_cylinder(ct, rng, x, y, half_width)


def _noise(ct, rng, x, y, z, half_width, length_mm):
    ct[...] = rng.normal(rng.uniform(-1000.0, 500.0), rng.uniform(5.0, 400.0), size=ct.shape)


def _constant(ct, rng, x, y, z, half_width, length_mm):
    ct[...] = rng.choice((-1024.0, -1000.0, 0.0, 40.0, 1000.0))


def _blobs(ct, rng, x, y, z, half_width, length_mm):
    radius, cx = _water_cylinder(ct, rng, x, y, half_width)
    for _ in range(int(rng.integers(3, 13))):
        centre = (rng.uniform(-0.6, 0.6) * radius + cx, rng.uniform(-0.6, 0.6) * radius, rng.uniform(0, length_mm))
        axes = rng.uniform(5.0, 40.0, 3)
        inside = ((x - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2 + ((z - centre[2]) / axes[2]) ** 2 < 1.0
        ct[inside] = rng.uniform(200.0, 1500.0)


def _disk_stack(ct, rng, x, y, z, half_width, length_mm):
    radius, cx = _water_cylinder(ct, rng, x, y, half_width)
    spacing = rng.uniform(25.0, 45.0)
    disk_height = spacing * rng.uniform(0.6, 0.8)
    disk_radius = rng.uniform(15.0, 28.0)
    y0 = rng.uniform(-0.3, 0.3) * radius
    in_disk = np.mod(z, spacing) < disk_height
    inside = ((x - cx) ** 2 + (y - y0) ** 2 < disk_radius**2) & in_disk
    ct[inside] = rng.uniform(250.0, 900.0)
    rim = inside & ((x - cx) ** 2 + (y - y0) ** 2 > (disk_radius - 2.0) ** 2)
    ct[rim] = rng.uniform(900.0, 1600.0)


def _sphere_lattice(ct, rng, x, y, z, half_width, length_mm):
    radius, cx = _water_cylinder(ct, rng, x, y, half_width)
    step = rng.uniform(20.0, 50.0)
    sphere = rng.uniform(2.0, 6.0)
    dx = np.mod(x - cx + step / 2, step) - step / 2
    dy = np.mod(y + step / 2, step) - step / 2
    dz = np.mod(z + step / 2, step) - step / 2
    inside = (dx**2 + dy**2 + dz**2 < sphere**2) & (((x - cx) ** 2 + y**2) < (0.9 * radius) ** 2)
    ct[inside] = rng.uniform(500.0, 2000.0)


def _table_only(ct, rng, x, y, z, half_width, length_mm):
    top = rng.uniform(0.2, 0.6) * half_width
    table = (y > top) & (y < top + rng.uniform(30.0, 60.0)) & (np.abs(x) < 0.8 * half_width)
    ct[np.broadcast_to(table, ct.shape)] = rng.uniform(-900.0, -700.0)
    skin = table & ((y < top + 3.0) | (y > top + 27.0))
    ct[np.broadcast_to(skin, ct.shape)] = rng.uniform(100.0, 500.0)


def _metal_rods(ct, rng, x, y, z, half_width, length_mm):
    radius, _ = _water_cylinder(ct, rng, x, y, half_width)
    for _ in range(2):
        _paint_rod(ct, rng, x, y, z, offset_limit=0.5 * radius, length_mm=length_mm, hu=rng.uniform(3000.0, 3071.0), radius=rng.uniform(2.0, 5.0))


_PAINTERS = {
    "rod": _rod,
    "rods": _rods,
    "water_cylinder": _water,
    "noise": _noise,
    "constant": _constant,
    "blobs": _blobs,
    "disk_stack": _disk_stack,
    "sphere_lattice": _sphere_lattice,
    "table_only": _table_only,
    "metal_rods": _metal_rods,
}
