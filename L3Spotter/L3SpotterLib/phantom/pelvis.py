"""The bony pelvis and the femora, placed from the sacrum by the pelvic incidence.

The hip joints lie in the direction obtained by turning the S1 endplate's downward normal forwards by
the pelvic incidence (about 52 degrees in adults), about 110 mm from the S1 endplate centre. The ilium
is a fan of thin plates from the acetabulum up to an S-shaped iliac crest whose top lies near the
L4-L5 disc, with a thick rim; the pubic and ischial rami close the obturator ring. Femora have a head,
neck (neck-shaft angle about 130 degrees), trochanters and a thick-walled shaft with fatty marrow.
Anatomy-frame coordinates (see spine.py); ``side`` is +1 for the patient's right, -1 for the left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .canvas import Structure
from .primitives import (
    Capsule,
    Ellipsoid,
    Plate,
    RoundedBox,
    SphericalCup,
    catmull_rom,
    frame_matrix,
    transform_points,
    tube_along,
    unit,
)
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
    patient, spine_p, variants = params["patient"], params["spine"], params["variants"]
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
    hip_distance = 110.0 * size * rng.uniform(0.93, 1.07)
    hip_half_spacing = (90.0 if female else 85.0) * size * rng.uniform(0.94, 1.06)
    hip_mid = s1_top + hip_direction * hip_distance
    hips = {side: hip_mid + np.array([side * hip_half_spacing, 0.0, 0.0]) for side in (-1.0, 1.0)}
    head_radius = (22.0 if female else 25.0) * size * rng.uniform(0.95, 1.05)

    l4 = spine.vertebrae[-2]
    l5 = spine.vertebrae[-1]
    crest_top_z = 0.5 * (l4.centre[2] - l4.dims["h"] * 0.5 + l5.centre[2] + l5.dims["h"] * 0.5) + rng.normal(0.0, 8.0)
    crest_half_width = (142.0 if female else 132.0) * size * rng.uniform(0.93, 1.07)
    symphysis = hip_mid + np.array([0.0, 60.0 * size, -28.0 * size])
    bone = [(1.2, hu["cortical"]), (None, hu["cancellous"] * 0.9)]
    structures = []
    sacrum_back_y = transform_points(spine.sacrum_frames[1], [[0.0, -20.0, 0.0]])[0][1]
    s2_z = spine.sacrum_frames[1][2, 3]

    for side in (-1.0, 1.0):
        hip = hips[side]
        # S-shaped crest from the posterior superior iliac spine (PSIS, at S2) up over the top (near the
        # L4-L5 disc) and round to the anterior superior spine (ASIS): (x share of the crest half-width,
        # y relative to the hip centre, z relative to the crest top)
        psis = np.array([side * 0.32 * crest_half_width, sacrum_back_y - 12.0, s2_z + 5.0])
        crest_points = [psis]
        for fx, dy, dz in ((0.45, -85.0, -15.0), (0.68, -60.0, 0.0), (0.92, -25.0, -8.0), (1.0, 5.0, -22.0), (0.85, 42.0, -45.0)):
            crest_points.append(np.array([side * fx * crest_half_width, hip[1] + dy * size, crest_top_z + dz * size]))
        crest = catmull_rom(crest_points, samples_per_segment=4)
        asis = crest_points[-1]
        structures.append(Structure("iliac_crest", tube_along(crest, np.linspace(5.0, 6.5, len(crest))), bone, texture=0.35))
        aiis = asis + np.array([-side * 8.0, -5.0, -30.0 * size])
        hub = hip + np.array([-side * 15.0, -10.0, 35.0 * size])  # body of the ilium above the acetabulum
        si_joint = np.array([side * 48.0 * size, sacrum_back_y + 8.0, s2_z - 10.0])
        # a fan of triangles sharing their edges: one continuous, folded sheet from hub to crest, and
        # the medial part of the wing down to the sacroiliac joint
        wing = [Plate([hub, crest[n], crest[min(n + 2, len(crest) - 1)]], 3.0) for n in range(4, len(crest) - 1, 2)]
        wing.append(Plate([si_joint, crest[0], crest[4]], 4.0))
        wing.append(Plate([si_joint, crest[4], hub], 3.5))
        wing.append(Plate([hub, crest[-1], aiis], 3.0))
        wing.append(Capsule(hub, si_joint, 9.0, 8.0))  # sciatic buttress
        wing.append(Capsule(hub, aiis, 7.0, 5.0))
        # pelvic brim (arcuate line) from the sacral ala to the superior pubic ramus
        brim = catmull_rom([si_joint + np.array([0.0, 20.0, 10.0]), hub + np.array([-side * 20.0, 20.0, -5.0]), symphysis + np.array([side * 20.0, 0.0, 12.0])], 4)
        wing.extend(tube_along(brim, 5.0))
        structures.append(Structure("ilium", wing, bone, texture=0.45))
        # acetabular cup round the head, open laterally, anteriorly and downwards
        opening = unit(np.array([side * 1.0, 0.45, -0.55]))
        cup = SphericalCup(hip, head_radius + 1.5, 5.0, opening, cut_mm=head_radius * 0.25)
        pubis_body = symphysis + np.array([side * 12.0, -4.0, 0.0])
        tuberosity = hip + np.array([-side * 30.0 * size, -28.0 * size, -58.0 * size])
        lower_pole = hip + np.array([-side * 10.0, -15.0, -25.0])
        structures.append(
            Structure(
                "pubis_ischium",
                [
                    cup,
                    RoundedBox(frame_matrix(pubis_body, [0.0, 0.2, 1.0]), (7.0, 8.0, 18.0), 3.0),
                    Capsule(hip + np.array([-side * 20.0, 18.0, 8.0]), pubis_body + np.array([0.0, 0.0, 10.0]), 8.0, 7.0),
                    Capsule(pubis_body + np.array([0.0, -3.0, -14.0]), tuberosity + np.array([0.0, 6.0, 4.0]), 6.0, 7.0),
                    Capsule(lower_pole, tuberosity, 12.0, 11.0),
                    Ellipsoid.at(tuberosity, (11.0, 14.0, 16.0)),
                ],
                bone,
                texture=0.4,
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
            Ellipsoid.at(hip, (head_radius, head_radius, head_radius)),
            Capsule(hip, neck_end, 15.0 * size, 16.0 * size),
            Ellipsoid.at(greater, (14.0 * size, 18.0 * size, 24.0 * size)),
            Capsule(neck_end, shaft_top, 19.0 * size, 15.0 * size),
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
        structures.append(Structure("femur_proximal", proximal, [(1.5, hu["cortical"]), (None, hu["cancellous"] * 0.8)], texture=0.4))
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
    }
    return pelvis
