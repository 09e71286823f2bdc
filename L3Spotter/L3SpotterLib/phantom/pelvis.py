"""The bony pelvis and the femora, placed from the sacrum by the pelvic incidence.

The hip joints lie in the direction obtained by turning the S1 endplate's downward normal forwards by
the pelvic incidence (about 52 degrees in adults), about 100 mm from the S1 endplate centre (in
supine CT the hip centres lie 85-105 mm below it). Each ilium (``ilium.py``) is a curved thin wing
with a thick rim whose crest tops out near the L4-L5 disc, 100-140 mm above the hip centres;
the arcuate line, the pubic and ischial rami close the pelvic ring and the obturator foramina. Femora
have a head, neck (neck-shaft angle about 130 degrees), trochanters and a thick-walled shaft with
fatty marrow. Anatomy-frame coordinates (see spine.py); ``side`` is +1 for the patient's right.

Bone here has a thin cortex (about 1 mm) over cancellous bone: in a MIP the pelvis must read as
outlines and rims, not as solid white shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .canvas import Structure
from .ilium import RIM_SHELL_FACTOR, arcuate_line, ilium_structure
from .primitives import Capsule, Ellipsoid, RoundedBox, SphericalCup, frame_matrix, transform_points, unit
from .sacrum import sacrum_half_width_mm
from .spine import Spine


@dataclass
class Pelvis:
    hip_centres: dict  # side -> femoral head centre
    head_radius_mm: float
    crest_top_z_mm: float
    symphysis: np.ndarray
    ischial_tuberosity_z_mm: float
    knee_centres: dict
    structures: list[Structure] = field(default_factory=list)
    metal_structures: list[Structure] = field(default_factory=list)
    details: dict = field(default_factory=dict)


def build_pelvis(params: dict, spine: Spine, hu: dict, rng: np.random.Generator) -> Pelvis:
    patient, spine_p, variants, shape = params["patient"], params["spine"], params["variants"], params["shape"]
    size = patient["size_scale"]
    female = patient["sex"] == "female"
    s1 = spine.s1_frame  # frame of the S1 segment: z up the spine, y anterior
    s1_top = transform_points(s1, [[0.0, 0.0, 14.0 * size]])[0]
    up = s1[:3, 2]
    # S1 endplate's downward normal, turned forwards (towards +y) by the pelvic incidence
    incidence = np.radians(spine_p["pelvic_incidence_deg"])
    down = -up
    forward = np.cross(np.array([1.0, 0.0, 0.0]), down)  # rotating "down" about +x moves it anterior
    hip_direction = unit(np.cos(incidence) * down + np.sin(incidence) * unit(forward) * np.sign(forward[1] or 1.0))
    hip_distance = 100.0 * size * shape["hip_drop_factor"]
    hip_half_spacing = shape["hip_half_spacing_mm"] * size
    hip_mid = s1_top + hip_direction * hip_distance
    hips = {side: hip_mid + np.array([side * hip_half_spacing, 0.0, 0.0]) for side in (-1.0, 1.0)}
    head_radius = (22.0 if female else 25.0) * size * rng.uniform(0.95, 1.05)

    l4 = spine.vertebrae[-2]
    l5 = spine.vertebrae[-1]
    disc_l4_l5_z = 0.5 * (l4.centre[2] - l4.dims["h"] * 0.5 + l5.centre[2] + l5.dims["h"] * 0.5)
    crest_top_z = disc_l4_l5_z + shape["crest_height_mm"]
    crest_half_width = shape["crest_half_width_mm"] * size
    symphysis = hip_mid + np.array([0.0, 60.0 * size, -28.0 * size])
    scale = size * spine_p["vertebra_scale"]
    sacrum_half_widths = [sacrum_half_width_mm(n, scale) for n in range(3)]
    bone = [(1.0, hu["cortical"]), (None, hu["cancellous"] * 0.85)]
    structures = []
    for side in (-1.0, 1.0):
        hip = hips[side]
        ilium, marks = ilium_structure(side, hip, head_radius, crest_top_z, crest_half_width, spine.sacrum_frames, sacrum_half_widths, size, shape, hu)
        pubic_tubercle = symphysis + np.array([side * 18.0 * size, -2.0, 8.0])
        ilium.parts.extend(arcuate_line(side, marks["si_bottom"], marks["acetabular_roof"], pubic_tubercle, size))
        structures.append(ilium)
        # acetabular cup round the head, open laterally, anteriorly and downwards
        opening = unit(np.array([side * 1.0, 0.45, -0.55]))
        cup = SphericalCup(hip, head_radius + 1.5, 3.0, opening, cut_mm=head_radius * 0.25)
        pubis_body = symphysis + np.array([side * 12.0, -4.0, 0.0])
        tuberosity = hip + np.array([-side * 30.0 * size, -28.0 * size, -58.0 * size])
        lower_pole = hip + np.array([-side * 10.0, -15.0, -25.0])
        structures.append(
            Structure(
                "pubis_ischium",
                [
                    cup.thick(1.3),
                    RoundedBox(frame_matrix(pubis_body, [0.0, 0.2, 1.0]), (6.0, 8.0, 17.0), 3.0),
                    Capsule(hip + np.array([-side * 20.0, 18.0, 8.0]), pubis_body + np.array([0.0, 0.0, 10.0]), 6.0, 5.0),
                    Capsule(pubis_body + np.array([0.0, -3.0, -14.0]), tuberosity + np.array([0.0, 6.0, 4.0]), 4.5, 5.5),
                    Capsule(lower_pole, tuberosity, 11.0, 10.0).thick(RIM_SHELL_FACTOR * 0.7),
                    Ellipsoid.at(tuberosity, (11.0, 14.0, 16.0)),
                ],
                bone,
                texture=0.3,
                texture_stretch=2.0,
            )
        )

    # ---- femora
    knees, metal = {}, []
    prosthesis_sides = {"none": (), "left": (-1.0,), "right": (1.0,), "both": (-1.0, 1.0)}[variants["hip_prosthesis"]]
    shaft_length = 420.0 * size * rng.uniform(0.94, 1.06)
    for side in (-1.0, 1.0):
        hip = hips[side]
        neck_end = hip + np.array([side * 38.0 * size, -4.0, -32.0 * size])
        greater = hip + np.array([side * 52.0 * size, -12.0, -18.0 * size])
        shaft_top = hip + np.array([side * 40.0 * size, -2.0, -55.0 * size])
        knee = shaft_top + np.array([-side * 0.13 * shaft_length, 12.0, -shaft_length])
        knees[side] = knee
        lesser = hip + np.array([side * 24.0 * size, -16.0, -62.0 * size])
        proximal = [
            Ellipsoid.at(hip, (head_radius, head_radius, head_radius)).thick(0.7),
            Capsule(hip, neck_end, 15.0 * size, 16.0 * size).thick(1.5),
            Ellipsoid.at(greater, (14.0 * size, 18.0 * size, 24.0 * size)),
            Capsule(neck_end, shaft_top, 19.0 * size, 15.0 * size).thick(2.0),
            Ellipsoid.at(lesser, (8.0, 8.0, 10.0)),
        ]
        if side in prosthesis_sides:
            stem_tip = shaft_top + (knee - shaft_top) * 0.35
            metal.append(
                Structure(
                    "hip_prosthesis",
                    [
                        Ellipsoid.at(hip, (head_radius * 0.95,) * 3),
                        SphericalCup(hip, head_radius * 0.98, 3.5, unit(np.array([side * 1.0, 0.45, -0.55])), cut_mm=0.0),
                        Capsule(hip, neck_end + np.array([side * 5.0, 0.0, -10.0]), 7.0, 8.0),
                        Capsule(neck_end + np.array([side * 5.0, 0.0, -10.0]), stem_tip, 8.0, 4.0),
                    ],
                    [(None, hu["metal"])],
                    metal=True,
                )
            )
            proximal = proximal[2:]  # the native head and neck are gone
        structures.append(Structure("femur_proximal", proximal, [(1.0, hu["cortical"]), (None, hu["cancellous"] * 0.8)], texture=0.3, texture_stretch=2.0))
        shaft = [Capsule(shaft_top, knee + np.array([0.0, 0.0, 40.0]), 14.0 * size, 13.0 * size)]
        structures.append(Structure("femur_shaft", shaft, [(5.5 * size, hu["cortical"]), (None, hu["marrow"])], texture=0.15))
        condyles = [Ellipsoid.at(knee + np.array([side * 18.0, -5.0, 0.0]), (20.0, 30.0, 25.0)), Ellipsoid.at(knee + np.array([-side * 18.0, -5.0, 0.0]), (20.0, 30.0, 25.0))]
        structures.append(Structure("femur_condyles", condyles, bone))

    pelvis = Pelvis(hips, head_radius, float(crest_top_z), symphysis, float(min(h[2] for h in hips.values()) - 58.0 * size), knees, structures, metal)
    pelvis.details = {
        "hip_half_spacing_mm": round(hip_half_spacing, 1),
        "femoral_head_radius_mm": round(head_radius, 1),
        "iliac_crest_top_z_mm": round(float(crest_top_z), 1),
        "crest_half_width_mm": round(crest_half_width, 1),
        "crest_above_hip_centre_mm": round(float(crest_top_z - hip_mid[2]), 1),
    }
    return pelvis
