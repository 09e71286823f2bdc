"""The primitives of one vertebra, shaped for what a MIP shows of it.

In a frontal MIP a real lumbar vertebra is not a solid block: its body is a faint cancellous box with
a thin shell and brighter endplates; the pedicles, seen end-on, are bright rings (the "eyes"); the
laminae and articular processes make a butterfly between them; the spinous process is a bright
teardrop in the midline; the transverse processes are flat bars that taper outwards. So every part
gets its own cortex thickness (``Primitive.thick`` multiplies the vertebra's base cortex of
``BASE_CORTEX_MM``): a 0.6 mm shell on the body, 0.9-1.6 mm on the endplates and posterior elements.

Local frame of a vertebra (see spine.py): origin at the body centre, z along the spine, y anterior.
"""

from __future__ import annotations

import numpy as np

from .primitives import Capsule, Ellipsoid, FlatTube, RoundedBox, SuperEllipticCylinder, frame_matrix, unit

BASE_CORTEX_MM = 0.6
# Cortex of each part, as a multiple of the base.
BODY_SHELL_FACTOR = 1.0
ENDPLATE_FACTOR = 2.6
PEDICLE_FACTOR = 2.6
POSTERIOR_FACTOR = 1.7
TRANSVERSE_FACTOR = 1.6
SPINOUS_FACTOR = 1.5


def vertebra_parts(v, last_lumbar: str, variants: dict, spurs: bool, rng) -> list:
    """The primitives of vertebra ``v`` (a spine.Vertebra), in anatomy coordinates."""
    d = v.dims
    F = v.frame
    h, w, depth = d["h"], d["w"], d["d"]
    parts = []

    def capsule(p0, p1, r0, r1=None):
        a, b = v.to_anatomy([p0, p1])
        return Capsule(a, b, r0, r1)

    def flat_tube(p0, p1, half_h0, half_h1, half_thickness, up_local=(0.0, 0.0, 1.0)):
        a, b = v.to_anatomy([p0, p1])
        return FlatTube(a, b, half_h0, half_h1, half_thickness, F[:3, :3] @ np.asarray(up_local, dtype=float))

    def box(centre, x_axis_local, z_axis_local, half):
        centre_a = v.to_anatomy([centre])[0]
        x_a = F[:3, :3] @ unit(x_axis_local)
        z_a = F[:3, :3] @ unit(z_axis_local)
        y_a = np.cross(z_a, x_a)
        return RoundedBox(frame_matrix(centre_a, z_a, y_a), half, rounding_mm=1.5)

    if v.name == "C1":
        # Atlas: a ring of anterior arch, lateral masses and posterior arch round the dens.
        parts.append(capsule([-9.0, depth * 0.45, 0.0], [9.0, depth * 0.45, 0.0], 4.0).thick(POSTERIOR_FACTOR))
        for s in (-1.0, 1.0):
            parts.append(Ellipsoid(F @ frame_matrix([s * 17.0, 2.0, 0.0], [0, 0, 1]), (7.0, 9.0, 7.0)).thick(POSTERIOR_FACTOR))
            parts.append(capsule([s * 17.0, -4.0, 0.0], [s * 5.0, -28.0, 0.0], 3.5, 3.0).thick(POSTERIOR_FACTOR))
            parts.append(capsule([s * 20.0, 0.0, 0.0], [s * 37.0, -2.0, 0.0], 4.5, 3.5).thick(POSTERIOR_FACTOR))
        parts.append(capsule([-5.0, -28.0, 0.0], [5.0, -28.0, 0.0], 3.5).thick(POSTERIOR_FACTOR))
        return parts

    # ---- body: a waisted rounded box with a thin shell, and denser endplates
    exponent = 2.6 if v.region == "L" else 2.3
    parts.append(SuperEllipticCylinder(F, w * 0.5, depth * 0.5, depth * 0.42, h * 0.5, exponent=exponent, waist=0.06).thick(BODY_SHELL_FACTOR))
    for z_sign in (-1.0, 1.0):
        plate = F @ frame_matrix([0.0, 0.0, z_sign * (h * 0.5 - 0.9)], [0, 0, 1])
        parts.append(SuperEllipticCylinder(plate, w * 0.49, depth * 0.49, depth * 0.41, 0.9, exponent=exponent).thick(ENDPLATE_FACTOR))
    if v.name == "C2":
        parts.append(capsule([0.0, 0.0, h * 0.4], [0.0, 0.0, h * 0.5 + 14.0], 5.5, 4.5).thick(POSTERIOR_FACTOR))  # dens

    # posterior wall of the body sits at y = -0.42 depth (flattened back)
    y_wall = -depth * 0.42
    x_ped = d["cw"] * 0.5 + d["pw"] * 0.5
    y_ped_end = y_wall - d["cd"]
    z_ped = h * 0.15 if v.region != "C" else 0.0
    for s in (-1.0, 1.0):
        # pedicle: a short thick-walled tube from the body's back to the lamina, seen end-on from
        # the front (a bright ring)
        ped_centre = [s * x_ped, y_wall - d["cd"] * 0.5 + 1.0, z_ped]
        parts.append(Ellipsoid(F @ frame_matrix(ped_centre, [0, 0, 1]), (d["pw"] * 0.5, d["cd"] * 0.5 + 3.0, d["ph"] * 0.5)).thick(PEDICLE_FACTOR))
        # lamina: a plate from the pedicle end to the midline roof of the canal. Lumbar laminae hang
        # low, leaving the interlaminar window (dark in a frontal MIP) above them, between the
        # pedicles, at the level of the disc and the top of the body.
        lamina_drop = h * (0.22 if v.region == "L" else 0.05)
        roof = np.array([0.0, y_ped_end - d["cd"] * 0.45, z_ped - lamina_drop])
        start = np.array([s * x_ped, y_ped_end, z_ped - lamina_drop])
        mid = 0.5 * (roof + start)
        along = roof - start
        half_len = 0.5 * np.linalg.norm(along) + 1.5
        parts.append(box(mid, along, [0, 0.3, 1], (half_len, d["lam_t"] * 0.45, d["lam_h"] * 0.5)).thick(POSTERIOR_FACTOR))
        # articular processes: up and down from the pedicle-lamina junction (the facet joints)
        facet_r = 3.0 if v.region == "C" else (3.5 if v.region == "T" else 4.5)
        facet = np.array([s * x_ped * 1.05, y_ped_end - 2.0, z_ped])
        parts.append(capsule(facet, facet + [s * 1.5, -1.0, h * 0.5 + 3.0], facet_r, facet_r * 0.85).thick(POSTERIOR_FACTOR))
        parts.append(capsule(facet, facet + [-s * 1.0, -3.0, -h * 0.5 - 2.0], facet_r, facet_r * 0.8).thick(POSTERIOR_FACTOR))
        parts.extend(_transverse_process(v, s, x_ped, y_ped_end, z_ped, last_lumbar, variants, capsule, flat_tube))
    # ---- spinous process
    roof = np.array([0.0, y_ped_end - d["cd"] * 0.45, z_ped - h * (0.22 if v.region == "L" else 0.05)])
    angle = np.radians(d["sp_angle"])
    tip = roof + d["sp"] * np.array([0.0, -np.cos(angle), -np.sin(angle)])
    if v.region == "L":
        # a vertical plate, thin side to side, a little taller at its free end (a teardrop seen from
        # the front)
        parts.append(flat_tube(roof, tip, d["sp_h"] * 0.38, d["sp_h"] * 0.5, 3.0, (0.0, 0.0, 1.0)).thick(SPINOUS_FACTOR))
    else:
        parts.append(capsule(roof, tip, 3.5 if v.region == "T" else 3.0, 2.5).thick(POSTERIOR_FACTOR))
    if spurs and v.region != "C":
        for s in (-1.0, 0.0, 1.0):
            for z_sign in (-1.0, 1.0):
                if rng.random() < 0.6:
                    x = s * w * 0.42
                    y = depth * (0.35 if s == 0.0 else 0.15)
                    spur = Ellipsoid(F @ frame_matrix([x, y, z_sign * h * 0.5], [0, 0, 1]), (6.0, 5.0, rng.uniform(2.5, 5.0)))
                    parts.append(spur.thick(ENDPLATE_FACTOR))
    return parts


def _transverse_process(v, s, x_ped, y_ped_end, z_ped, last_lumbar, variants, capsule, flat_tube) -> list:
    """One transverse process. Lumbar ones are flat bars tapering outwards (L3's the longest, L4's
    and L5's angled up); thoracic ones are short round struts pointing back to the rib tubercles."""
    d = v.dims
    root = np.array([s * x_ped, y_ped_end + (2.0 if v.region != "C" else 6.0), z_ped])
    if v.region != "L":
        tip = root + [s * d["tp"], -d["tp_back"], -0.05 * d["tp"]]
        return [capsule(root, tip, d["tp_r"] * 1.2, d["tp_r"]).thick(TRANSVERSE_FACTOR)]
    rise = d.get("tp_rise_deg", 0.0)
    direction = np.array([s * np.cos(np.radians(rise)), -d["tp_back"] / max(d["tp"], 1.0), np.sin(np.radians(rise))])
    tip = root + d["tp"] * direction / np.linalg.norm(direction[[0, 2]])
    half_h_root = d["tp_r"] * 1.7
    parts = []
    if variants["sacralized_l5"] and v.name == last_lumbar:
        # broad, butterfly-like processes resting on the sacral alae
        parts.append(capsule(tip, tip + [0.0, 0.0, -d["h"] * 0.9], d["tp_r"] * 2.0))
        parts.append(flat_tube(root, tip, half_h_root * 1.8, half_h_root * 1.6, d["tp_r"] * 1.4).thick(TRANSVERSE_FACTOR))
        return parts
    parts.append(flat_tube(root, tip, half_h_root, d["tp_r"] * 0.95, d["tp_r"] * 0.7).thick(TRANSVERSE_FACTOR))
    return parts
