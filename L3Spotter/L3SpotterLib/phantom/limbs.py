"""Arms (down beside the body or raised above the head) and the head, in the anatomy frame.

Arms down: the elbow lies beside the waist (about L2) and the wrist beside the greater trochanter, a
few centimetres from the trunk's side. Arms up: the humerus runs up beside the head and the forearms
cross above it, so only the shoulders stay in a chest or abdominal scan. Each arm is soft tissue
(skin, fat, muscle) painted before its bones (humerus, radius and ulna with thick cortex).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .body import BodyProfile
from .canvas import Structure
from .primitives import Capsule, Ellipsoid, catmull_rom, tube_along
from .spine import Spine
from .thorax import Thorax


@dataclass
class Limbs:
    soft_structures: list[Structure] = field(default_factory=list)
    bone_structures: list[Structure] = field(default_factory=list)
    vertex_z_mm: float = 0.0
    arm_lateral_extent_mm: float = 0.0
    details: dict = field(default_factory=dict)


def build_limbs(params: dict, spine: Spine, thorax: Thorax, profile: BodyProfile, hu: dict, rng) -> Limbs:
    patient, anatomy = params["patient"], params["anatomy"]
    size = patient["size_scale"]
    subcut = patient["subcutaneous_fat_mm"]
    muscle = patient["muscle_scale"]
    limbs = Limbs()
    lumbar = [v for v in spine.vertebrae if v.region == "L"]
    elbow_level = lumbar[min(1, len(lumbar) - 1)].centre[2] + rng.normal(0.0, 20.0)
    humerus_len = 300.0 * size
    forearm_len = 250.0 * size
    arm_fat = 0.6 * subcut
    arm_radius = (30.0 + 10.0 * muscle) * size
    lateral_extent = 0.0
    long_bone = [(4.0, hu["cortical"]), (None, hu["marrow"])]
    joint_bone = [(1.2, hu["cortical"]), (None, hu["cancellous"] * 0.8)]
    for side, head in thorax.shoulder_joints.items():
        if anatomy["arms"] == "down":
            waist = profile.at(elbow_level)
            gap = rng.uniform(5.0, 40.0) if patient["habitus"] != "obese" else rng.uniform(-10.0, 10.0)
            elbow_x = waist["x_centre"] + side * (waist["half_width"] + gap + arm_radius + arm_fat)
            elbow = np.array([elbow_x, 0.5 * (waist["y_front"] + waist["y_back"]) - 10.0, head[2] - humerus_len])
            direction = np.array([side * rng.uniform(-0.1, 0.15), rng.uniform(-0.05, 0.2), -1.0])
            wrist = elbow + forearm_len * direction / np.linalg.norm(direction)
            hand_tip = wrist + np.array([0.0, 10.0, -80.0 * size])
        else:
            elbow = head + np.array([-side * rng.uniform(10.0, 50.0), rng.uniform(-10.0, 40.0), humerus_len])
            wrist = elbow + np.array([-side * rng.uniform(120.0, 200.0), rng.uniform(0.0, 60.0), rng.uniform(100.0, 180.0)])
            hand_tip = wrist + np.array([-side * 60.0, 20.0, 40.0])
        lateral_extent = max(lateral_extent, abs(elbow[0]) + arm_radius + arm_fat, abs(wrist[0]) + 40.0)
        upper = [Capsule(head, elbow, arm_radius + 8.0, arm_radius)]
        lower = [Capsule(elbow, wrist, arm_radius * 0.95, arm_radius * 0.6), Capsule(wrist, hand_tip, arm_radius * 0.55, arm_radius * 0.4)]
        for name, parts in (("upper_arm", upper), ("forearm", lower)):
            limbs.soft_structures.append(Structure(name, parts, [(2.0, hu["skin"]), (arm_fat, hu["fat"]), (None, hu["muscle"])]))
        shaft_top = head + (elbow - head) * 0.12
        limbs.bone_structures += [
            Structure("humeral_head", [Ellipsoid.at(head, (22.0 * size,) * 3), Ellipsoid.at(elbow, (28.0 * size, 12.0, 12.0), elbow - head)], joint_bone),
            Structure("humerus", [Capsule(shaft_top, elbow, 11.0 * size, 9.0 * size)], long_bone),
        ]
        across = np.cross(wrist - elbow, np.array([0.0, 1.0, 0.0]))
        across = across / max(np.linalg.norm(across), 1e-6) * 9.0
        limbs.bone_structures.append(
            Structure(
                "forearm_bones",
                [Capsule(elbow + across, wrist + across * 1.4, 7.0, 8.0), Capsule(elbow - across, wrist - across * 0.6, 8.0, 5.0)],
                [(2.5, hu["cortical"]), (None, hu["marrow"])],
            )
        )
        fingers = [Capsule(wrist + np.array([o, 0.0, 0.0]), hand_tip + np.array([o * 1.5, 0.0, 0.0]), 4.0, 3.0) for o in (-15.0, -5.0, 5.0, 15.0)]
        limbs.bone_structures.append(Structure("hand_bones", fingers, joint_bone))

    # ---- head: scalp, skull, brain, mandible
    c1 = spine.by_name("C1")
    centre = c1.centre + np.array([0.0, 18.0, 70.0]) * size
    radii = np.array([70.0, 88.0, 78.0]) * size
    limbs.soft_structures.append(Structure("scalp", [Ellipsoid.at(centre, radii + 5.0)], [(2.0, hu["skin"]), (None, hu["fat"])]))
    limbs.bone_structures.append(Structure("skull", [Ellipsoid.at(centre, radii)], [(6.5, hu["cortical"]), (None, hu["brain"])]))
    face = centre + np.array([0.0, 60.0, -60.0]) * size
    limbs.soft_structures.append(Structure("face", [Ellipsoid.at(face, np.array([55.0, 45.0, 50.0]) * size)], [(2.0, hu["skin"]), (None, hu["muscle"])]))
    jaw = catmull_rom(
        [c1.centre + np.array([-48.0, 10.0, 15.0]) * size, c1.centre + np.array([-40.0, 55.0, -30.0]) * size, c1.centre + np.array([0.0, 85.0, -38.0]) * size,
         c1.centre + np.array([40.0, 55.0, -30.0]) * size, c1.centre + np.array([48.0, 10.0, 15.0]) * size],
        samples_per_segment=3,
    )
    limbs.bone_structures.append(Structure("mandible", tube_along(jaw, 7.0 * size), joint_bone))
    limbs.bone_structures.append(Structure("maxilla", [Ellipsoid.at(face + np.array([0.0, 10.0, 25.0]), np.array([35.0, 25.0, 18.0]) * size)], [(3.0, hu["cortical"]), (None, -300.0)]))
    limbs.vertex_z_mm = float(centre[2] + radii[2] + 7.0)
    limbs.arm_lateral_extent_mm = float(lateral_extent)
    limbs.details = {"arms": anatomy["arms"], "elbow_z_mm": round(float(elbow_level), 1)}
    return limbs
