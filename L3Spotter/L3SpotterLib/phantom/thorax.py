"""The bony thorax: ribs (``ribs.py``) with costal cartilage, sternum, clavicles and scapulae.

Ribs 1-7 reach the sternum through cartilage; the next ones join the cartilage above; the last two are
short and floating. With 11 pairs the floating ribs are 10 and 11; with 13 pairs, 12 and 13 (T13
carries the 13th rib). Coordinates are in the anatomy frame (see spine.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .canvas import Structure
from .primitives import Capsule, Ellipsoid, RoundedBox, catmull_rom, frame_matrix, tube_along
from .ribs import rib_paths, rib_structures
from .scapula import scapula_structure
from .spine import Spine



@dataclass
class RibRing:
    """The rib cage's cross-section at one rib: an ellipse in the horizontal plane (anatomy frame)."""

    z_mm: float
    x_centre_mm: float
    y_centre_mm: float
    half_width_mm: float
    half_depth_mm: float


@dataclass
class Thorax:
    rings: list[RibRing]
    structures: list[Structure] = field(default_factory=list)
    sternum_top: np.ndarray | None = None
    sternum_bottom: np.ndarray | None = None
    shoulder_joints: dict = field(default_factory=dict)  # side (+1 right, -1 left) -> humeral head centre
    lowest_rib_tip_z_mm: float = 0.0
    details: dict = field(default_factory=dict)


def _rotation_about_y(angle_rad: float) -> np.ndarray:
    """Rotation in the x-z (coronal) plane: positive angles turn -z towards +x."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def build_thorax(params: dict, spine: Spine, hu: dict, rng: np.random.Generator) -> Thorax:
    patient, variants = params["patient"], params["variants"]
    size = patient["size_scale"]
    n_ribs = params["spine"]["rib_pairs"]
    half_width = 135.0 * size * float(np.clip(rng.normal(1.0, 0.05), 0.85, 1.15))
    half_depth = 95.0 * size * float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.2))
    thoracic = [v for v in spine.vertebrae if v.region == "T"]
    assert len(thoracic) == n_ribs

    floating = {n_ribs - 1, n_ribs}
    paths = rib_paths(thoracic, half_width, half_depth, params["shape"], floating, size, rng)
    structures = rib_structures(paths, n_ribs, floating, size, hu, rng)
    rib_ends = {(p.index, p.side): p.points[-1] for p in paths}
    bone_layers = [(1.0, hu["cortical"]), (None, hu["cancellous"] * 0.9)]
    rings = []
    for index in range(1, n_ribs + 1):
        right = next(p for p in paths if p.index == index and p.side > 0)
        (x_c, y_c), (ax, ay) = right.ring_centre, right.ring_half_axes
        rings.append(RibRing(right.lateral_z_mm, x_c, y_c, ax, ay))

    # ---- sternum along the front of the cage, from rib 1's end to rib 7's
    n_true = min(7, n_ribs - 2)
    top_end = 0.5 * (rib_ends[(1, -1.0)] + rib_ends[(1, 1.0)])
    bottom_end = 0.5 * (rib_ends[(n_true, -1.0)] + rib_ends[(n_true, 1.0)])
    sternum_top = np.array([top_end[0], top_end[1] + 8.0, top_end[2] + 12.0])
    sternum_bottom = np.array([bottom_end[0], bottom_end[1] + 12.0, bottom_end[2] + 10.0])
    axis = sternum_top - sternum_bottom
    length = float(np.linalg.norm(axis))

    def sternum_point(t):  # t = 0 at the top, 1 at the bottom
        return sternum_top + (sternum_bottom - sternum_top) * t

    manubrium_len = min(50.0 * size, 0.35 * length)
    m_centre = sternum_point(0.5 * manubrium_len / length)

    sternum_parts = [
        RoundedBox(frame_matrix(m_centre, axis), (24.0 * size, 5.0, manubrium_len * 0.5), 2.0),
        RoundedBox(frame_matrix(sternum_point(0.5 + 0.5 * manubrium_len / length), axis), (13.0 * size, 4.5, (length - manubrium_len) * 0.5), 2.0),
        Capsule(sternum_bottom, sternum_bottom + np.array([0.0, 6.0, -35.0 * size]), 5.0, 2.5),
    ]
    structures.append(Structure("sternum", sternum_parts, [(1.0, hu["cortical"]), (None, hu["cancellous"] * 0.85)]))

    # ---- costal cartilage: true ribs to the sternum, false ribs to the cartilage above
    cartilage_layers = [(None, hu["costal_cartilage"])]
    cartilage_mid = {}
    for index in range(1, n_ribs + 1):
        if index in floating:
            continue
        for side in (-1.0, 1.0):
            start = rib_ends[(index, side)]
            if index <= n_true:
                t = (index - 1) / max(n_true - 1, 1)
                target = sternum_point(0.05 + 0.9 * t) + np.array([side * (20.0 if index == 1 else 13.0) * size, 0.0, 0.0])
            else:
                target = cartilage_mid.get((index - 1, side), start)
            bend = 0.5 * (start + target) + np.array([0.0, 8.0, -6.0])
            path = catmull_rom([start, bend, target], samples_per_segment=3)
            cartilage_mid[(index, side)] = path[len(path) // 2]
            structures.append(Structure(f"cartilage_{index}_{side:+.0f}", tube_along(path, 4.5), cartilage_layers))
            calcified = variants["cartilage_calcification"]
            for point in path[1:-1]:
                if rng.random() < calcified * 0.5:
                    structures.append(Structure("cartilage_calcification", [Ellipsoid.at(point, (2.5, 2.5, 2.5))], [(None, hu["calcification"])]))

    # ---- rudimentary rib on L1 (a lumbar rib: the vertebra stays L1)
    if variants["l1_rudimentary_rib"]:
        l1 = spine.by_name("L1")
        d = l1.dims
        x_ped = d["cw"] * 0.5 + d["pw"] * 0.5
        y_ped_end = -d["d"] * 0.42 - d["cd"]
        for side in (-1.0, 1.0):
            if rng.random() < 0.3 and side < 0:
                continue  # often one-sided
            root = l1.to_anatomy([[side * (x_ped + d["tp"] * 0.9), y_ped_end + 2.0, d["h"] * 0.15]])[0]
            length = rng.uniform(25.0, 50.0)
            tip = root + np.array([side * length * 0.85, 5.0, -length * 0.5])
            structures.append(Structure("l1_rudimentary_rib", [Capsule(root, tip, 4.0, 3.0)], bone_layers))

    # ---- clavicles and scapulae
    shoulder_x = half_width * 1.22
    first = thoracic[0]
    third = thoracic[min(2, n_ribs - 1)]
    seventh = thoracic[min(6, n_ribs - 1)]
    ring1 = rings[0]
    shoulders = {}
    bone_thick = [(1.2, hu["cortical"]), (None, hu["cancellous"] * 0.9)]
    for side in (-1.0, 1.0):
        medial = sternum_top + np.array([side * 22.0 * size, -4.0, 4.0])
        acromion = np.array([ring1.x_centre_mm + side * shoulder_x, ring1.y_centre_mm - 20.0, sternum_top[2] + 18.0])
        clavicle = catmull_rom(
            [medial, medial + (acromion - medial) * 0.35 + np.array([0.0, 10.0, 6.0]), medial + (acromion - medial) * 0.75 + np.array([0.0, -8.0, 0.0]), acromion],
            samples_per_segment=4,
        )
        structures.append(Structure("clavicle", tube_along(clavicle, np.linspace(7.5, 6.0, len(clavicle)) * size), bone_thick))
        y_back = lambda v: v.to_anatomy([[0.0, -v.dims["d"] * 0.42 - v.dims["cd"] - 10.0, 0.0]])[0][1]  # noqa: E731
        glenoid = np.array([ring1.x_centre_mm + side * (shoulder_x - 18.0), ring1.y_centre_mm - 5.0, first.centre[2] - 25.0])
        superior_angle = np.array([side * 55.0 * size, y_back(first) - 25.0, first.centre[2] + 5.0])
        inferior_angle = np.array([side * 85.0 * size, y_back(seventh) - 22.0, seventh.centre[2] - 5.0])
        spine_root = np.array([side * 58.0 * size, y_back(third) - 28.0, third.centre[2] + 8.0])
        humeral_offset = np.array([side * 24.0 * size, 0.0, 0.0])
        if params["anatomy"]["arms"] == "up":
            # raising the arm turns the scapula upwards about the acromion: the glenoid tips up and
            # the inferior angle swings out to the side of the chest
            turn = _rotation_about_y(side * np.radians(rng.uniform(25.0, 45.0)))
            glenoid, superior_angle, inferior_angle, spine_root = (acromion + turn @ (p - acromion) for p in (glenoid, superior_angle, inferior_angle, spine_root))
            humeral_offset = turn @ humeral_offset
        shoulders[side] = glenoid + humeral_offset
        neck = glenoid + np.array([-side * 14.0, -14.0, -8.0])
        structures.append(scapula_structure(side, superior_angle, neck, inferior_angle, spine_root, acromion, glenoid, size, hu))

    tips = [rib_ends[(n_ribs, s)][2] for s in (-1.0, 1.0)]
    thorax = Thorax(rings, structures, sternum_top, sternum_bottom, shoulders, float(min(tips)))
    thorax.details = {
        "rib_pairs": n_ribs,
        "floating_ribs": sorted(floating),
        "cage_half_width_mm": round(half_width, 1),
        "cage_half_depth_mm": round(half_depth, 1),
    }
    return thorax
