"""The spine: C1 to the coccyx, with intervertebral discs, curvature and anatomical variants.

Geometry is built in the *anatomy frame* (mm, +x right, +y anterior, +z superior) with the centre of
the S1 upper endplate at the origin. The spine is stacked upwards from S1 along a sagittal curve whose
tangent angle ``theta`` (0 = straight up, positive = leaning anterior going up) changes by the drawn
lordosis and kyphosis; an optional scoliosis adds a lateral half-sine. The whole spine is then pitched
so that the sacrum and the mid-thoracic spine are equally far from the table, as in a supine patient.

Each vertebra is a union of primitives in its own frame (origin at the body centre, z along the spine,
y anterior): body, pedicles, laminae, articular processes, transverse processes, spinous process.
Dimensions follow published adult means by level and grow down the spine; L3's transverse processes
are the longest of the lumbar ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..vertebra_labels import VERSE_IDS
from .canvas import Structure
from .sacrum import SACRAL_SEGMENTS_MM, sacrum_structures
from .vertebra import BASE_CORTEX_MM, vertebra_parts
from .primitives import (
    Capsule,
    Ellipsoid,
    SuperEllipticCylinder,
    frame_matrix,
    transform_points,
    unit,
)

# Mean adult dimensions (mm) at anchor levels; other levels are interpolated.
# h/w/d: body height, width, depth; disc: disc height below; cw/cd: canal width and pedicle length;
# pw/ph: pedicle width/height; tp, tp_r, tp_back: transverse process length, radius, backward reach;
# sp, sp_angle, sp_h: spinous process length, downward angle (deg), height; lam_t/lam_h: lamina.
_ANCHORS = {
    "C3": dict(h=13, w=17, d=15, disc=5, cw=24, cd=9, pw=5, ph=7, tp=10, tp_r=3.5, tp_back=-3, sp=16, sp_angle=15, sp_h=6, lam_t=3.5, lam_h=9),
    "C7": dict(h=14, w=23, d=16, disc=5, cw=22, cd=10, pw=6, ph=8, tp=16, tp_r=4, tp_back=0, sp=36, sp_angle=25, sp_h=7, lam_t=4, lam_h=10),
    "T1": dict(h=16, w=26, d=17, disc=4, cw=18, cd=11, pw=7, ph=9, tp=20, tp_r=4.5, tp_back=8, sp=38, sp_angle=30, sp_h=7, lam_t=4.5, lam_h=12),
    "T6": dict(h=20, w=30, d=26, disc=4.5, cw=16, cd=12, pw=6, ph=11, tp=20, tp_r=4.5, tp_back=12, sp=40, sp_angle=55, sp_h=6, lam_t=4.5, lam_h=15),
    "T12": dict(h=24, w=40, d=31, disc=7, cw=20, cd=14, pw=8, ph=14, tp=10, tp_r=4, tp_back=6, sp=30, sp_angle=25, sp_h=11, lam_t=5, lam_h=17),
    "L1": dict(h=25.5, w=42, d=32, disc=8.5, cw=22, cd=14, pw=8, ph=14, tp=20, tp_r=4, tp_back=3, sp=28, sp_angle=8, sp_h=16, lam_t=5, lam_h=17),
    "L3": dict(h=27, w=47, d=34, disc=10, cw=23, cd=14, pw=9, ph=14, tp=31, tp_r=4, tp_back=2, sp=28, sp_angle=3, sp_h=18, lam_t=5, lam_h=17),
    "L5": dict(h=27, w=52, d=34, disc=10, cw=25, cd=13, pw=13, ph=13, tp=24, tp_r=5.5, tp_back=0, sp=22, sp_angle=0, sp_h=14, lam_t=5.5, lam_h=15),
}
# Lumbar transverse-process lengths (mm) by count: L3 is always the longest.
_LUMBAR_TP_MM = {4: (21, 27, 31, 25), 5: (20, 26, 31, 27, 24), 6: (20, 25, 31, 28, 25, 23)}
_SACRAL_CURVE_DEG = 55.0  # change of direction from S1 to the sacral tip


@dataclass
class Vertebra:
    """One presacral vertebra: its name, VerSe label, frame (local -> anatomy) and dimensions (mm)."""

    name: str
    label: int
    region: str  # "C", "T" or "L"
    frame: np.ndarray
    dims: dict

    @property
    def centre(self) -> np.ndarray:
        return self.frame[:3, 3].copy()

    @property
    def axis(self) -> np.ndarray:
        return self.frame[:3, 2].copy()

    def to_anatomy(self, local_points) -> np.ndarray:
        return transform_points(self.frame, local_points)


@dataclass
class Spine:
    vertebrae: list[Vertebra]  # head to foot, presacral only
    sacrum_frames: list[np.ndarray]  # S1..S5 segment frames, head to foot
    coccyx_points: np.ndarray
    soft_structures: list[Structure] = field(default_factory=list)  # discs, spinal canal
    bone_structures: list[Structure] = field(default_factory=list)  # labelled vertebrae, sacrum, coccyx
    metal_structures: list[Structure] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # JSON-ready record of what was drawn

    def by_name(self, name: str) -> Vertebra | None:
        return next((v for v in self.vertebrae if v.name == name), None)

    @property
    def s1_frame(self) -> np.ndarray:
        return self.sacrum_frames[0]


def vertebra_names(thoracic_count: int, lumbar_count: int) -> list[str]:
    """Presacral names head to foot. 13 thoracic -> T13 after T12; 6 lumbar -> L6 after L5."""
    return [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, thoracic_count + 1)] + [
        f"L{i}" for i in range(1, lumbar_count + 1)
    ]


def _interpolate(anchor_names, fraction_points, fraction) -> dict:
    """Interpolate anchor dimension dicts at ``fraction`` along the region."""
    keys = _ANCHORS[anchor_names[0]].keys()
    return {
        k: float(np.interp(fraction, fraction_points, [_ANCHORS[a][k] for a in anchor_names])) for k in keys
    }


def _level_dimensions(region: str, index: int, count: int) -> dict:
    """Mean dimensions of the ``index``-th (0-based, from the top) vertebra of a region of ``count``."""
    fraction = index / max(count - 1, 1)
    if region == "C":
        # C1 and C2 are built specially; C2 borrows C3's posterior elements.
        return _interpolate(["C3", "C7"], [0.0, 1.0], max(0.0, (index - 2) / 4.0))
    if region == "T":
        return _interpolate(["T1", "T6", "T12"], [0.0, 5.0 / 11.0, 1.0], fraction)
    dims = _interpolate(["L1", "L3", "L5"], [0.0, 0.5, 1.0], fraction)
    dims["tp"] = float(_LUMBAR_TP_MM[count][index])
    return dims


def build_spine(params: dict, hu: dict, rng: np.random.Generator) -> Spine:
    """Build the spine from the drawn ``params`` (see sampling.py) and tissue ``hu`` values."""
    spine_p, variants, patient = params["spine"], params["variants"], params["patient"]
    n_thoracic, n_lumbar = spine_p["thoracic_count"], spine_p["lumbar_count"]
    names = vertebra_names(n_thoracic, n_lumbar)
    scale = patient["size_scale"] * spine_p["vertebra_scale"]

    # ---- dimensions per level, with 3 % per-vertebra jitter
    dims_by_name = {}
    for region, count in (("C", 7), ("T", n_thoracic), ("L", n_lumbar)):
        for index in range(count):
            dims = _level_dimensions(region, index, count)
            jitter = rng.normal(1.0, 0.03, size=len(dims))
            dims = {k: v * scale * j if k not in ("sp_angle", "tp_back") else v for (k, v), j in zip(dims.items(), jitter)}
            dims_by_name[f"{region}{index + 1}"] = dims
    # ---- patient-level shape: body proportions, disc heights, transverse processes (sampling.py)
    shape = params["shape"]
    for name, dims in dims_by_name.items():
        dims["w"] *= shape["body_width_factor"]
        dims["d"] *= shape["body_width_factor"]
        if name[0] in "TL":
            dims["h"] *= shape["body_height_factor"]
            dims["disc"] *= shape["disc_height_factor"]
        if name[0] == "L":
            dims["tp"] *= shape["tp_length_factor"]
            dims["tp_rise_deg"] = float(rng.normal(0.0, 4.0))
    # the last two lumbar transverse processes point up and out (L5's the most)
    dims_by_name[names[-1]]["tp_rise_deg"] = shape["l5_tp_rise_deg"]
    dims_by_name[names[-2]]["tp_rise_deg"] = shape["l4_tp_rise_deg"]
    if n_lumbar >= 3:  # keep L3's transverse processes the longest of the lumbar ones
        others = [dims_by_name[f"L{i}"]["tp"] for i in range(1, n_lumbar + 1) if i != 3]
        dims_by_name["L3"]["tp"] = max(dims_by_name["L3"]["tp"], 1.06 * max(others))
    dims_by_name["C1"].update(h=10.0 * scale, disc=0.0)
    dims_by_name["C2"].update(h=16.0 * scale, disc=3.0 * scale)

    # ---- degenerative discs: narrowed, some with gas, spurs on the neighbours
    lower_levels = names[-6:]  # discs below these vertebrae (T11/T12 ... L5)
    weights = np.linspace(0.5, 2.0, len(lower_levels))
    n_degenerate = min(variants["degenerative_discs"], len(lower_levels))
    degenerate = list(rng.choice(lower_levels, size=n_degenerate, replace=False, p=weights / weights.sum()))
    degenerate_detail = {}
    for name in degenerate:
        factor = float(rng.uniform(0.3, 0.7))
        dims_by_name[name]["disc"] *= factor
        degenerate_detail[name] = {"height_factor": round(factor, 3), "vacuum_gas": bool(rng.random() < 0.3)}
    if variants["sacralized_l5"]:
        dims_by_name[names[-1]]["disc"] *= 0.3

    # ---- sagittal tangent angle per vertebra (degrees), from the bottom up
    theta_s1 = spine_p["sacral_slope_deg"]
    lordosis, kyphosis, cervical = (
        spine_p["lumbar_lordosis_deg"],
        spine_p["thoracic_kyphosis_deg"],
        spine_p["cervical_lordosis_deg"],
    )
    theta = {}
    for b in range(n_lumbar):  # b = 0 is the lowest lumbar
        theta[f"L{n_lumbar - b}"] = theta_s1 - lordosis * ((b + 0.5) / n_lumbar) ** 0.6
    theta_tl = theta_s1 - lordosis
    for b in range(n_thoracic):
        theta[f"T{n_thoracic - b}"] = theta_tl + kyphosis * 0.5 * (1 - np.cos(np.pi * (b + 0.5) / n_thoracic))
    theta_ct = theta_tl + kyphosis
    for b in range(7):
        theta[f"C{7 - b}"] = theta_ct - cervical * (b + 0.5) / 7.0

    # ---- stack the vertebrae upwards from S1 in the sagittal plane (y, z)
    def direction(angle_deg):
        a = np.radians(angle_deg)
        return np.array([0.0, np.sin(a), np.cos(a)])

    position = np.zeros(3)
    previous_theta = theta_s1
    centres, arc_lengths, disc_records = {}, {}, []
    arc = 0.0
    for name in reversed(names):
        dims = dims_by_name[name]
        disc_dir = direction(0.5 * (previous_theta + theta[name]))
        disc_centre = position + disc_dir * dims["disc"] * 0.5
        disc_records.append((name, disc_centre, disc_dir, dims["disc"]))
        position = position + disc_dir * dims["disc"]
        arc += dims["disc"]
        centres[name] = position + direction(theta[name]) * dims["h"] * 0.5
        arc_lengths[name] = arc + dims["h"] * 0.5
        position = position + direction(theta[name]) * dims["h"]
        arc += dims["h"]
        previous_theta = theta[name]

    # ---- sacrum and coccyx downwards from S1
    sacral_centres, sacral_dirs = [], []
    position = np.zeros(3)
    down_angle = theta_s1  # direction going down = -(sin, cos) of this angle
    total_len = sum(s[0] for s in SACRAL_SEGMENTS_MM)
    for height, *_ in SACRAL_SEGMENTS_MM:
        height *= scale
        step_angle = _SACRAL_CURVE_DEG * height / (total_len * scale)
        mid_angle = down_angle - 0.5 * step_angle
        d = -direction(mid_angle)
        sacral_centres.append(position + d * height * 0.5)
        sacral_dirs.append(-d)  # segment z axis points up the spine
        position = position + d * height
        down_angle -= step_angle
    coccyx_points = [position.copy()]
    for _ in range(4):
        down_angle -= 12.0
        position = position - direction(down_angle) * 9.0 * scale
        coccyx_points.append(position.copy())

    # ---- scoliosis: lateral half-sine over the thoracolumbar spine
    cobb = spine_p["scoliosis_deg"]
    lateral = {}
    if cobb > 0:
        s_lo = arc_lengths[names[-2]]
        s_hi = arc_lengths[f"T{max(1, n_thoracic // 3)}"]
        span = s_hi - s_lo
        apex_shift = (spine_p["scoliosis_apex_fraction"] - 0.5) * 0.6
        amplitude = spine_p["scoliosis_direction"] * span * np.tan(np.radians(cobb) / 2.0) / np.pi
        for name in names:
            u = (arc_lengths[name] - s_lo) / span
            if 0.0 < u < 1.0:
                u_warped = np.clip(u + apex_shift * np.sin(np.pi * u), 0, 1)
                lateral[name] = (amplitude * np.sin(np.pi * u_warped), amplitude * np.pi / span * np.cos(np.pi * u_warped))

    # ---- pitch the whole spine so that S2 and T7 (or the middle thoracic) are equally posterior
    mid_thoracic = f"T{(n_thoracic + 1) // 2 + 1}"
    delta = centres[mid_thoracic] - sacral_centres[1]
    pitch = np.arctan2(delta[1], delta[2])  # how far that line leans anterior going up
    rotation = _rotation_x(pitch)  # R_x(+a) turns +z towards -y: this makes the line vertical

    vertebrae = []
    for name in names:
        offset, slope = lateral.get(name, (0.0, 0.0))
        centre = rotation @ (centres[name] + np.array([offset, 0.0, 0.0]))
        axis = rotation @ unit(direction(theta[name]) + np.array([slope, 0.0, 0.0]))
        frame = frame_matrix(centre, axis, rotation @ np.array([0.0, 1.0, 0.0]))
        vertebrae.append(Vertebra(name, VERSE_IDS[name], name[0], frame, dims_by_name[name]))
    sacrum_frames = [
        frame_matrix(rotation @ c, rotation @ unit(d), rotation @ np.array([0.0, 1.0, 0.0]))
        for c, d in zip(sacral_centres, sacral_dirs)
    ]
    coccyx_points = np.array([rotation @ p for p in coccyx_points])
    spine = Spine(vertebrae, sacrum_frames, coccyx_points)

    # ---- structures
    by_name = {v.name: v for v in vertebrae}
    bone = hu["cortical"], hu["cancellous"]
    density = 0.7 if variants["low_bone_density"] else 1.0  # osteoporosis thins the cortex
    for name, centre, disc_dir, height in disc_records:
        if height < 0.5 or name == "C1":
            continue
        below = by_name[name]
        centre = rotation @ (centre + np.array([lateral.get(name, (0.0, 0.0))[0], 0.0, 0.0]))
        frame = frame_matrix(centre, rotation @ disc_dir, rotation @ np.array([0.0, 1.0, 0.0]))
        dims = below.dims
        disc = SuperEllipticCylinder(
            frame, dims["w"] * 0.5 + 1.0, dims["d"] * 0.5 + 1.0, dims["d"] * 0.45, height * 0.5 + 1.5, exponent=2.4
        )
        spine.soft_structures.append(Structure(f"disc_{name}", [disc], [(None, hu["disc"])]))
        if degenerate_detail.get(name, {}).get("vacuum_gas"):
            gas = Ellipsoid(frame, (dims["w"] * 0.18, dims["d"] * 0.15, max(height * 0.3, 1.0)))
            spine.soft_structures.append(Structure(f"disc_gas_{name}", [gas], [(None, -700.0)]))

    canal_points = [v.to_anatomy([0.0, -v.dims["d"] * 0.5 - v.dims["cd"] * 0.55, 0.0])[0] for v in vertebrae]
    canal_points.append(transform_points(sacrum_frames[0], [[0.0, -22.0 * scale, 0.0]])[0])
    canal_radii = [max(4.0, 0.33 * v.dims["cw"]) for v in vertebrae] + [6.0]
    spine.soft_structures.append(
        Structure("spinal_canal", [Capsule(canal_points[n], canal_points[n + 1], canal_radii[n], canal_radii[n + 1]) for n in range(len(canal_points) - 1)], [(None, 25.0)])
    )

    spurs = set()
    for name in degenerate:
        spurs.add(name)
        index = names.index(name)
        if index + 1 < len(names):
            spurs.add(names[index + 1])
    for vertebra in vertebrae:
        parts = vertebra_parts(vertebra, names[-1], variants, vertebra.name in spurs, rng)
        layers = [(BASE_CORTEX_MM * density, bone[0]), (None, bone[1] * rng.uniform(0.92, 1.08))]
        spine.bone_structures.append(Structure(vertebra.name, parts, layers, label=vertebra.label, texture=0.2, texture_stretch=3.0))

    spine.bone_structures.extend(sacrum_structures(sacrum_frames, coccyx_points, scale, bone, 0.6 * density))

    if variants["spinal_screws"]:
        spine.metal_structures.extend(_spinal_screws(vertebrae, n_lumbar, rng, hu["metal"], spine))

    spine.details = {
        "vertebrae": [v.name for v in vertebrae],
        "body_height_mm": {v.name: round(v.dims["h"], 2) for v in vertebrae},
        "disc_height_mm": {v.name: round(v.dims["disc"], 2) for v in vertebrae},
        "transverse_process_mm": {v.name: round(v.dims["tp"], 2) for v in vertebrae if v.region == "L"},
        "tangent_angle_deg": {k: round(float(t), 2) for k, t in theta.items()},
        "pitch_correction_deg": round(float(np.degrees(-pitch)), 2),
        "degenerative_disc_levels": degenerate_detail,
        "osteophyte_levels": sorted(spurs),
        "screw_levels": [lvl for m in spine.metal_structures for lvl in m.meta.get("levels", [])],
    }
    return spine


def _rotation_x(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _spinal_screws(vertebrae, n_lumbar, rng, metal_hu, spine: Spine) -> list[Structure]:
    """Pedicle screws in 2-4 consecutive lumbar vertebrae, joined by a rod on each side."""
    lumbar = [v for v in vertebrae if v.region == "L"]
    count = int(rng.integers(2, min(4, n_lumbar) + 1))
    start = int(rng.integers(0, n_lumbar - count + 1))
    levels = lumbar[start : start + count]
    parts, heads = [], {-1.0: [], 1.0: []}
    for v in levels:
        d = v.dims
        x_ped = d["cw"] * 0.5 + d["pw"] * 0.5
        y_wall = -d["d"] * 0.42
        for s in (-1.0, 1.0):
            entry = [s * x_ped * 1.1, y_wall - d["cd"] - 6.0, d["h"] * 0.15]
            tip = [s * 6.0, d["d"] * 0.3, d["h"] * 0.1]
            a, b = v.to_anatomy([entry, tip])
            parts.append(Capsule(a, b, 3.2, 2.6))
            heads[s].append(v.to_anatomy([[s * x_ped * 1.15, y_wall - d["cd"] - 10.0, d["h"] * 0.15]])[0])
            parts.append(Ellipsoid.at(heads[s][-1], (6.0, 6.0, 6.0)))
    for s in (-1.0, 1.0):
        for n in range(len(heads[s]) - 1):
            parts.append(Capsule(heads[s][n], heads[s][n + 1], 3.0))
    return [Structure("spinal_screws", parts, [(None, metal_hu)], metal=True, meta={"levels": [v.name for v in levels]})]
