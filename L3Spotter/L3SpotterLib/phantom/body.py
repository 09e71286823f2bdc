"""The body outline: skin, subcutaneous fat, the muscle wall and the trunk's interior, plus the legs.

The trunk's cross-section at each height is an ellipse (flattened at the back, where the patient lies
on the table) whose size follows the skeleton: it hugs the rib cage in the chest, the abdominal
contents (plus visceral fat) at the waist, the iliac crests and greater trochanters at the hips.
Subcutaneous fat is added outside the lean outline, thickest over the belly. The thighs are tapered
tubes round the femora, merged with the trunk into one outline so that the skin is continuous.

Painting this is the only full-volume pass of the phantom; it runs slab by slab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .canvas import Canvas
from .pelvis import Pelvis
from .primitives import Capsule, transform_points
from .spine import Spine
from .thorax import Thorax

_PROFILE_STEP_MM = 2.0


@dataclass
class BodyProfile:
    """Lean (fat-free) trunk outline and fat thickness, tabulated every 2 mm of anatomy z."""

    z0_mm: float
    x_centre: np.ndarray
    y_front_lean: np.ndarray
    y_back_lean: np.ndarray
    half_width_lean: np.ndarray
    fat_front: np.ndarray
    fat_back: np.ndarray
    fat_side: np.ndarray
    muscle_mm: np.ndarray
    legs: list  # (lean capsule, fat_mm) per side
    z_bottom_mm: float
    z_top_mm: float

    def index(self, z_mm):
        idx = ((np.asarray(z_mm, dtype=np.float32) - np.float32(self.z0_mm)) * np.float32(1.0 / _PROFILE_STEP_MM)).astype(np.int32)
        return np.clip(idx, 0, len(self.x_centre) - 1)

    def at(self, z_mm: float) -> dict:
        i = int(self.index(z_mm))
        return {
            "x_centre": float(self.x_centre[i]),
            "y_front": float(self.y_front_lean[i] + self.fat_front[i]),
            "y_back": float(self.y_back_lean[i] - self.fat_back[i]),
            "half_width": float(self.half_width_lean[i] + self.fat_side[i]),
            "half_width_lean": float(self.half_width_lean[i]),
            "y_front_lean": float(self.y_front_lean[i]),
            "y_back_lean": float(self.y_back_lean[i]),
        }


def build_body_profile(params: dict, spine: Spine, thorax: Thorax, pelvis: Pelvis) -> BodyProfile:
    patient = params["patient"]
    size = patient["size_scale"]
    subcut = patient["subcutaneous_fat_mm"]
    visceral = patient["visceral_fat_mm"]
    muscle = patient["muscle_scale"]
    stations = []  # (z, x_centre, y_front_lean, y_back_lean, half_width_lean, fat_scale, muscle_mm)

    def spinous_tip_y(v):
        d = v.dims
        y_ped_end = -d["d"] * 0.42 - d["cd"]
        roof_y = y_ped_end - d["cd"] * 0.45
        angle = np.radians(d["sp_angle"])
        return v.to_anatomy([[0.0, roof_y - d["sp"] * np.cos(angle), 0.0]])[0][1]

    thoracic = [v for v in spine.vertebrae if v.region == "T"]
    shoulder_x = max(abs(p[0]) for p in thorax.shoulder_joints.values()) + 10.0
    for v in spine.vertebrae:
        if v.region == "C" and v.name not in ("C1", "C2"):
            stations.append((v.centre[2], v.centre[0], v.centre[1] + 50.0 * size, spinous_tip_y(v) - 12.0, 48.0 * size * muscle ** 0.3, 0.4, 8.0))
        elif v.region == "L":
            stations.append(
                (v.centre[2], v.centre[0], v.centre[1] + 95.0 * size + visceral, spinous_tip_y(v) - 10.0 - 10.0 * muscle,
                 112.0 * size + 0.6 * visceral + 8.0 * muscle, 1.0, 12.0 * muscle)
            )
    for index, (v, ring) in enumerate(zip(thoracic, thorax.rings), start=1):
        half_width = ring.half_width_mm + 20.0 + 8.0 * muscle
        if index <= 4:
            half_width = max(half_width, shoulder_x + 10.0 - 14.0 * (index - 1))
        belly = visceral * np.clip((index - len(thoracic) + 4) / 4.0, 0.0, 1.0)
        stations.append(
            (ring.z_mm, ring.x_centre_mm, ring.y_centre_mm + ring.half_depth_mm + 15.0 + 8.0 * muscle + belly,
             min(spinous_tip_y(v) - 12.0, ring.y_centre_mm - ring.half_depth_mm - 25.0), half_width, 0.6 + 0.4 * belly / max(visceral, 1.0), 14.0 * muscle)
        )
    l5 = spine.vertebrae[-1]
    sacrum_back = transform_points(spine.sacrum_frames[1], [[0.0, -25.0, 0.0]])[0][1]
    hip_x = max(abs(h[0]) for h in pelvis.hip_centres.values())
    hip_z = float(np.mean([h[2] for h in pelvis.hip_centres.values()]))
    crest_hw = pelvis.details["crest_half_width_mm"]
    stations += [
        (pelvis.crest_top_z_mm - 15.0, l5.centre[0], l5.centre[1] + 90.0 * size + 0.9 * visceral, sacrum_back - 20.0 - 15 * muscle,
         crest_hw + 12.0 + 0.4 * visceral, 1.0, 12.0 * muscle),
        (hip_z, 0.0, pelvis.symphysis[1] + 30.0 + 0.3 * visceral, sacrum_back - 45.0 - 30.0 * muscle, hip_x + 62.0 * size + 10 * muscle, 1.0, 12.0),
        (hip_z - 60.0 * size, 0.0, pelvis.symphysis[1] + 15.0, sacrum_back - 40.0 - 25.0 * muscle, hip_x + 50.0 * size, 1.0, 12.0),
        (hip_z - 100.0 * size, 0.0, pelvis.symphysis[1] - 20.0, sacrum_back - 10.0, 40.0, 1.0, 6.0),
        (hip_z - 115.0 * size, 0.0, pelvis.symphysis[1] - 40.0, sacrum_back + 10.0, 5.0, 0.5, 1.0),
    ]
    stations.sort(key=lambda s: s[0])
    table = np.array(stations, dtype=float)
    z_bottom = float(table[0, 0])
    z_top = float(table[-1, 0]) + 40.0
    grid = np.arange(z_bottom - 4.0, z_top + 4.0, _PROFILE_STEP_MM)
    # smooth along z (sigma 24 mm): the skin does not follow each vertebra's steps
    columns = [ndimage.gaussian_filter1d(np.interp(grid, table[:, 0], table[:, c]), 12.0, mode="nearest") for c in range(1, table.shape[1])]
    x_centre, y_front, y_back, half_width, fat_scale, muscle_mm = columns
    # above the neck the trunk closes (the head is a separate shape)
    closing = np.clip((grid - (table[-1, 0] + 10.0)) / 30.0, 0.0, 1.0)
    half_width = half_width * (1.0 - closing) + 1.0 * closing
    fat_front = (subcut * fat_scale).astype(np.float32)
    legs = []
    leg_fat = subcut * 0.8
    for side, hip in pelvis.hip_centres.items():
        knee = pelvis.knee_centres[side]
        top = hip + np.array([side * 15.0, -15.0, 10.0])
        lean = Capsule(top, knee + np.array([0.0, 0.0, -30.0]), (68.0 * size) * (0.7 + 0.3 * muscle) + 0.3 * subcut, 45.0 * size)
        legs.append((lean, leg_fat))
    return BodyProfile(
        z0_mm=float(grid[0]),
        x_centre=x_centre.astype(np.float32),
        y_front_lean=y_front.astype(np.float32),
        y_back_lean=y_back.astype(np.float32),
        half_width_lean=half_width.astype(np.float32),
        fat_front=fat_front,
        fat_back=(fat_front * 0.55).astype(np.float32),
        fat_side=(fat_front * 0.8).astype(np.float32),
        muscle_mm=muscle_mm.astype(np.float32),
        legs=legs,
        z_bottom_mm=z_bottom,
        z_top_mm=z_top,
    )


def _ellipse_distance(x, y, x_c, y_c, a, b):
    """Approximate signed distance to the ellipse (x_c, y_c, a, b) in the plane, mm."""
    u = (x - x_c) / a
    v = (y - y_c) / b
    r = np.sqrt(u * u + v * v)
    grad = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    return (r - 1.0) * r / np.maximum(grad, 1e-6)


def paint_body(canvas: Canvas, profile: BodyProfile, hu: dict) -> None:
    """Paint skin, fat, muscle wall and interior fat for the trunk and thighs (whole volume, slabwise).

    The outline's parameters are looked up once per image row (k, j) at the row's centre rather than
    per voxel: the patient's lean makes z vary by at most ~20 mm across a row, and the profile is
    smoothed over more than that, so the outline moves by a millimetre or two at most.
    """
    k, j, i = canvas.shape_kji
    skin_mm = 2.0
    leg_boxes = [(leg, fat, canvas.bounding_box(leg)) for leg, fat in profile.legs]
    for slab in canvas.slabs((0, k, 0, j, 0, i)):
        x, y, z = canvas.frame_coordinates(slab)
        idx = profile.index(z[:, :, (slab[5] - slab[4]) // 2 : (slab[5] - slab[4]) // 2 + 1])  # [k, j, 1]
        x_c = profile.x_centre[idx]
        front = profile.y_front_lean[idx]
        back = profile.y_back_lean[idx]
        half = np.maximum(profile.half_width_lean[idx], 1.0)
        fat_f, fat_b, fat_s = profile.fat_front[idx], profile.fat_back[idx], profile.fat_side[idx]
        muscle = profile.muscle_mm[idx]
        y_c = 0.5 * (front + back)
        b_lean = np.maximum(0.5 * (front - back), 1.0)
        lean = _ellipse_distance(x, y, x_c, y_c, half, b_lean)
        np.maximum(lean, (back + 0.12 * b_lean) - y, out=lean)  # flat back on the table
        outer_front = front + fat_f
        outer_back = back - fat_b
        b_outer = 0.5 * (outer_front - outer_back)
        outer = _ellipse_distance(x, y, x_c, 0.5 * (outer_front + outer_back), half + fat_s, b_outer)
        np.maximum(outer, (outer_back + 0.12 * b_outer) - y, out=outer)
        cavity = lean + muscle  # the trunk's interior; the thighs have none
        for leg, leg_fat, box in leg_boxes:
            if box is None:
                continue
            sub = (max(box[0], slab[0]), min(box[1], slab[1]), box[2], box[3], box[4], box[5])
            if sub[1] <= sub[0]:
                continue
            view = np.s_[sub[0] - slab[0] : sub[1] - slab[0], sub[2] : sub[3], sub[4] : sub[5]]
            d_leg = leg.sdf(x[view], y[view], z[view])
            np.minimum(lean[view], d_leg, out=lean[view])
            np.minimum(outer[view], d_leg - np.float32(leg_fat), out=outer[view])
        canvas.blend(slab, canvas.occupancy(outer), hu["skin"])
        canvas.blend(slab, canvas.occupancy(outer + np.float32(skin_mm)), hu["fat"])
        canvas.blend(slab, canvas.occupancy(lean), hu["muscle"])
        canvas.blend(slab, canvas.occupancy(cavity), hu["fat"] + 20.0)
