"""The ribs: flat curved tubes that slope down from the spine and round the chest wall.

Each rib starts at its own thoracic vertebra (head on the body, tubercle at the transverse process)
and sweeps round an ellipse, the rib cage's cross-section at that level. Its height along the way
follows what a frontal radiograph or MIP shows:

* the posterior part leaves the spine nearly level and curves down as it goes out (slope in the
  frontal view: about 10-15 degrees for the upper ribs, 25-35 for the lower ones);
* at the side of the chest the rib turns forwards, so in a frontal view it runs steeply down;
* the anterior part comes back towards the midline while still descending (20-40 degrees), and its
  cartilage then climbs to the sternum or to the cartilage above.

The last two ribs (11 and 12 in a 12-rib spine) float: short, thin, pointing down and out, ending in
the flank around L1-L3; the last one varies most in length (3-15 cm). Ribs are about 10-12 mm tall
and 5-6 mm thick, flat against the chest wall (the first rib lies flat, facing up). Slopes, lengths
and curvature are drawn per patient and jittered per rib (``shape`` in sampling.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .canvas import Structure
from .primitives import FlatTube, catmull_rom, unit
from .spine import Vertebra

# Rib-cage half-width and half-depth at each rib level, as fractions of the widest (12-rib table).
RING_WIDTH = (0.42, 0.58, 0.70, 0.80, 0.88, 0.94, 0.98, 1.0, 1.0, 0.98, 0.95, 0.92)
RING_DEPTH = (0.45, 0.60, 0.72, 0.82, 0.90, 0.95, 0.98, 1.0, 1.0, 0.97, 0.93, 0.88)
# Mean frontal-view slopes (degrees, downwards) by position down the cage (0 = first rib, 1 = last):
# posterior part (from the spine out) and anterior part (from the side in towards the sternum).
POSTERIOR_SLOPE_TABLE = ([0.0, 0.1, 0.45, 0.8, 1.0], [30.0, 12.0, 18.0, 28.0, 38.0])
ANTERIOR_SLOPE_TABLE = ([0.0, 0.2, 0.6, 1.0], [15.0, 25.0, 32.0, 35.0])
# Half-height and half-thickness of a rib's shaft (mm) by position down the cage.
HALF_HEIGHT_TABLE = ([0.0, 0.1, 0.5, 0.85, 1.0], [7.0, 5.0, 6.0, 5.2, 4.2])
# Steepest frontal-view slope of a rib leaving the spine (the floating ribs of a steep draw).
MAX_POSTERIOR_SLOPE_DEG = 50.0
# Largest fall (mm) of a floating rib from its tubercle to its tip.
MAX_FLOATING_DROP_MM = 95.0
HALF_THICKNESS_MM = 2.8
CORTEX_MM = 1.0
# The anterior part of a rib (from this fraction of its length on) is less dense.
ANTERIOR_FROM = 0.55
ANTERIOR_CORTEX_MM = 0.6
ANTERIOR_DENSITY = 0.7


@dataclass
class RibPath:
    index: int  # 1-based, head to foot
    side: float  # +1 right, -1 left
    points: np.ndarray  # head, neck, shaft: N x 3, anatomy frame
    lateral_z_mm: float  # height where the rib is widest (the cage's level for body.py)
    ring_centre: tuple[float, float]  # (x, y) of the cage ellipse
    ring_half_axes: tuple[float, float]  # (half-width, half-depth)


def rib_paths(thoracic: list[Vertebra], cage_half_width: float, cage_half_depth: float, shape: dict, floating: set, size: float, rng) -> list[RibPath]:
    """The centre line of every rib, both sides."""
    n_ribs = len(thoracic)
    table = np.linspace(0.0, 1.0, len(RING_WIDTH))
    paths = []
    for index, vertebra in enumerate(thoracic, start=1):
        f = (index - 1) / (n_ribs - 1)
        ax = cage_half_width * float(np.interp(f, table, RING_WIDTH))
        ay = cage_half_depth * float(np.interp(f, table, RING_DEPTH))
        d = vertebra.dims
        x_ped = d["cw"] * 0.5 + d["pw"] * 0.5
        y_ped_end = -d["d"] * 0.42 - d["cd"]
        z_ped = d["h"] * 0.15
        slope_post = float(np.interp(f, *POSTERIOR_SLOPE_TABLE)) + shape["rib_slope_offset_deg"] + rng.normal(0.0, 2.5)
        slope_ant = float(np.interp(f, *ANTERIOR_SLOPE_TABLE)) + shape["rib_slope_offset_deg"] + rng.normal(0.0, 3.0)
        if index in floating:
            slope_post += 8.0  # the floating ribs point further down
        slope_post = min(slope_post, MAX_POSTERIOR_SLOPE_DEG)
        bend = shape["rib_bend"] * rng.uniform(0.9, 1.1)
        if index == n_ribs:
            phi_end = np.pi * shape["last_rib_reach"]
        elif index in floating:
            phi_end = np.pi * shape["second_last_rib_reach"]
        elif index == 1:
            phi_end = np.pi * 0.9
        elif index <= 7:
            phi_end = np.pi * 0.86
        else:
            phi_end = np.pi * 0.80 * rng.uniform(0.96, 1.03)
        for side in (-1.0, 1.0):
            # left and right ribs of a pair are not mirror images: a little slope and width of their own
            side_slope = min(slope_post + rng.normal(0.0, 1.5), MAX_POSTERIOR_SLOPE_DEG)
            ax_side = ax * rng.uniform(0.97, 1.03)
            head = vertebra.to_anatomy([[side * (d["w"] * 0.5 + 1.0), -d["d"] * 0.2, d["h"] * 0.35]])[0]
            tubercle = vertebra.to_anatomy([[side * (x_ped + d["tp"] * 0.9), y_ped_end + 5.0 - d["tp_back"] * 0.9, z_ped + 2.0]])[0]
            x_c = vertebra.centre[0]
            y_c = tubercle[1] - 8.0 + ay
            phi_start = float(np.arcsin(min(0.95, (abs(tubercle[0] - x_c) + 12.0) / ax_side)))
            phis = np.linspace(phi_start, phi_end, 10)
            x = x_c + side * ax_side * np.sin(phis)
            y = y_c - ay * np.cos(phis)
            # frontal-view descent: posterior part convex (level near the spine, curving down), then
            # a steady descent of the anterior part towards the midline
            lateral_run = max(ax_side - abs(tubercle[0] - x_c), 1.0)
            drop_post = np.tan(np.radians(max(side_slope, 0.0))) * lateral_run
            q = np.clip((phis - phi_start) / (0.5 * np.pi - phi_start), 0.0, None)
            if index in floating:
                # a long floating rib is not also a steep one: its tip stays above about L3
                drop_post = min(drop_post, MAX_FLOATING_DROP_MM * size / max(min(q[-1], 1.0) ** bend, 0.2))
            z = tubercle[2] - drop_post * np.minimum(q, 1.0) ** bend
            forward = np.clip(phis - 0.5 * np.pi, 0.0, None)
            if forward.any():
                inward_run = ax_side * (1.0 - np.sin(0.5 * np.pi + forward))
                # the turn round the side descends too: the posterior descent goes on, slowing
                rate = drop_post * bend / max(0.5 * np.pi - phi_start, 0.3)  # mm per radian at the side
                z = z - np.tan(np.radians(np.clip(slope_ant, 5.0, 60.0))) * inward_run - 0.25 * rate * forward
            ring_points = np.stack([x, y, z], axis=1)
            points = catmull_rom(np.vstack([head, tubercle, ring_points]), samples_per_segment=3)
            widest = float(np.interp(0.5 * np.pi, phis, z)) if phi_end > 0.5 * np.pi else float(z[-1])
            paths.append(RibPath(index, side, points, widest, (float(x_c), float(y_c)), (ax_side, ay)))
    return paths


def rib_structures(paths: list[RibPath], n_ribs: int, floating: set, size: float, hu: dict, rng) -> list[Structure]:
    """One Structure per rib: a chain of flat tubes with a 1 mm cortex, thinner towards its end."""
    layers = [(CORTEX_MM, hu["cortical"]), (None, hu["cancellous"] * 0.9)]
    anterior_layers = [(ANTERIOR_CORTEX_MM, hu["cortical"] * ANTERIOR_DENSITY), (None, hu["cancellous"] * 0.8)]
    structures = []
    for path in paths:
        f = (path.index - 1) / (n_ribs - 1)
        half_height = float(np.interp(f, *HALF_HEIGHT_TABLE)) * size * rng.uniform(0.88, 1.12)
        half_thickness = HALF_THICKNESS_MM * size
        if path.index in floating:
            half_height *= 0.8
            half_thickness *= 0.9
        points = path.points
        n = len(points)
        along = np.linspace(0.0, 1.0, n)
        # the neck (head to tubercle, the first three points) is round; the shaft flat, tapering a
        # little at its anterior end; floating ribs taper to a point
        heights = np.where(along < 3.0 / n, 0.75 * half_height, half_height * (1.0 - 0.25 * along))
        if path.index in floating:
            heights = heights * (1.0 - 0.5 * along**2)
        x_c, y_c = path.ring_centre
        posterior, anterior = [], []
        for a in range(n - 1):
            p0, p1 = points[a], points[a + 1]
            mid = 0.5 * (p0 + p1)
            radial = unit(np.array([mid[0] - x_c, mid[1] - y_c, 0.0]))
            # the flat faces lie against the chest wall (the first rib lies flat, its faces up)
            up = radial if path.index == 1 else np.array([0.0, 0.0, 1.0])
            thickness = half_thickness * (1.0 if along[a] > 3.0 / n else 1.4)
            tube = FlatTube(p0, p1, heights[a], heights[a + 1], thickness, up)
            (posterior if along[a] < ANTERIOR_FROM else anterior).append(tube)
        name = f"rib_{path.index}_{'right' if path.side > 0 else 'left'}"
        structures.append(Structure(name, posterior, layers, texture=0.25))
        if anterior:
            # the anterior part is less dense, with a thinner cortex: real MIPs show it fainter
            # than the posterior ribs, so the cage does not read as a regular lattice
            structures.append(Structure(name + "_anterior", anterior, anterior_layers, texture=0.2))
    return structures
