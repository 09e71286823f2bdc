"""The scanner table and its pad, in scanner RAS (the table does not turn with the patient).

A carbon-fibre tabletop is a curved sandwich: two thin dense skins round a foam core, with a foam pad
on top. In a frontal MIP its skins add a faint uniform floor behind everything; in a lateral MIP and
in axial slices it is a curved band under the patient, as in the real scans.
"""

from __future__ import annotations

import numpy as np

from .canvas import Structure
from .primitives import Primitive


class CurvedSlab(Primitive):
    """Part of a cylindrical shell along z: radius ``radius_mm`` round the axis at (0, centre_y), between
    ``depth_mm`` and ``depth_mm + thickness_mm`` below the top surface, ``half_width_mm`` to each side."""

    def __init__(self, top_y_mm: float, radius_mm: float, depth_mm: float, thickness_mm: float, half_width_mm: float, x_centre_mm: float = 0.0):
        self.axis_y = top_y_mm + radius_mm
        self.inner = radius_mm + depth_mm
        self.thickness = thickness_mm
        self.half_width = half_width_mm
        self.x_centre = x_centre_mm
        self.to_local = np.eye(4)
        sag = radius_mm - np.sqrt(max(radius_mm**2 - half_width_mm**2, 0.0))
        self.bounds_local = (
            np.array([x_centre_mm - half_width_mm, top_y_mm - depth_mm - thickness_mm, -1e5]),
            np.array([x_centre_mm + half_width_mm, top_y_mm - depth_mm + sag + 1.0, 1e5]),
        )

    def sdf(self, x, y, z):
        dx = x - self.x_centre
        r = np.sqrt(dx * dx + (y - self.axis_y) ** 2)
        d_shell = np.abs(r - (self.inner + 0.5 * self.thickness)) - 0.5 * self.thickness
        return np.maximum(d_shell, np.abs(dx) - self.half_width)


def build_table(top_y_ras_mm: float, hu: dict, rng, edge_mm: float) -> tuple[list[Structure], dict]:
    """Structures of pad and table whose pad top lies at ``top_y_ras_mm`` (RAS y, posterior of the body).

    Skins thinner than the soft edge ``edge_mm`` are drawn thicker with proportionally lower HU (same
    attenuation per ray): a sub-voxel curved shell otherwise samples unevenly and stripes the MIP.
    """
    radius = float(rng.uniform(500.0, 1200.0))
    half_width = float(rng.uniform(200.0, 240.0))
    pad = float(rng.uniform(0.0, 20.0))
    core = float(rng.uniform(25.0, 50.0))
    skin = float(rng.uniform(1.0, 2.5))
    drawn_skin = skin
    skin = max(skin, 1.5 * edge_mm)
    skin_hu = hu["table_core"] + (hu["table_skin"] - hu["table_core"]) * drawn_skin / skin
    structures = []
    if pad > 3.0:
        structures.append(Structure("table_pad", [CurvedSlab(top_y_ras_mm, radius, 0.0, pad, half_width - 10.0)], [(None, hu["pad"])], in_scanner_frame=True))
    structures += [
        Structure("table_core", [CurvedSlab(top_y_ras_mm, radius, pad, core, half_width)], [(None, hu["table_core"])], in_scanner_frame=True),
        Structure("table_top_skin", [CurvedSlab(top_y_ras_mm, radius, pad, skin, half_width)], [(None, skin_hu)], in_scanner_frame=True),
        Structure("table_bottom_skin", [CurvedSlab(top_y_ras_mm, radius, pad + core - skin, skin, half_width)], [(None, skin_hu)], in_scanner_frame=True),
    ]
    return structures, {"pad_mm": round(pad, 1), "core_mm": round(core, 1), "skin_mm": round(drawn_skin, 2), "radius_mm": round(radius, 1)}
