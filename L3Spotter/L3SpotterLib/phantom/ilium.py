"""One iliac bone above the acetabulum: the wing, its crest, and the thick bone round its edges.

What a frontal MIP shows of a real ilium is a fan (an "ear") whose thin middle, the iliac fossa, is
barely denser than muscle, framed by a bright rim: the crest curving up and out from the sacroiliac
joint to its top near the L4-L5 disc and down to the anterior superior spine, the dense bone by the
sacroiliac joint, and the arcuate line running down to the pubis. The wing is therefore a curved thin
plate (triangles between the crest and the wing's base, thinnest in the fossa, with a thicker cortex
towards the acetabulum and the sacroiliac joint) plus tubes and blobs for the thick parts, all
painted as one union with a thin cortex whose thickness grows on the thick parts (``shell_factor``).

Landmarks are placed in the anatomy frame (mm, +x right, +y anterior, +z superior) from the hip
centre, the crest's top and half-width and the sacrum; ``side`` is +1 for the right, -1 for the left.
Typical adult values: crest top 100-140 mm above the hip centre (about 135 mm in the real abdominal
scan of shared/data), crest half-width 125-155 mm, anterior superior iliac spines 38-56 mm below the
crest top and 40-50 mm in front of the hip centre.
"""

from __future__ import annotations

import numpy as np

from .canvas import Structure
from .primitives import Capsule, Ellipsoid, FlatTube, catmull_rom, thin_surface, transform_points, tube_along, unit

# Half-thickness of the wing's plate in the middle of the fossa (mm): a sheet of 1.6 mm; it thickens
# towards the crest, the acetabulum and the sacroiliac joint.
FOSSA_HALF_MM = 0.8
# Cortex of the ilium (mm): thin on the fossa; the rims use shell_factor to thicken it.
ILIUM_CORTEX_MM = 0.45
RIM_SHELL_FACTOR = 2.2


def ilium_structure(side: float, hip: np.ndarray, head_radius: float, crest_top_z: float, crest_half_width: float,
                    sacrum_frames: list[np.ndarray], sacrum_half_widths: list[float], size: float, shape: dict, hu: dict) -> tuple[Structure, dict]:
    """The ilium of one side as one Structure, and its landmarks (anatomy frame) for the rest of the pelvis.

    The wing is the ruled surface between two curves with matching parameters, hollowed in the middle:
    the crest (posterior superior spine -> top -> widest point -> anterior superior spine) and the
    base (posterior inferior spine -> sacroiliac joint -> sciatic notch -> acetabular roof -> anterior
    inferior spine).
    """
    s1, s2, s3 = sacrum_frames[0], sacrum_frames[1], sacrum_frames[2]
    hx, hy, hz = abs(hip[0]), hip[1], hip[2]
    chw = hx + shape["wing_flare"] * (crest_half_width - hx)  # flare > 1: wings turned further out
    top = crest_top_z
    # ---- the sacroiliac joint: along the lateral edge of the S1-S3 lateral masses
    si_top = transform_points(s1, [[side * (sacrum_half_widths[0] + 2.0), -6.0 * size, 8.0 * size]])[0]
    si_bottom = transform_points(s3, [[side * (sacrum_half_widths[2] + 3.0), -6.0 * size, 0.0]])[0]
    psis = transform_points(s2, [[side * (sacrum_half_widths[1] + 3.0), -30.0 * size, 6.0 * size]])[0]
    piis = transform_points(s2, [[side * (sacrum_half_widths[1] + 8.0), -18.0 * size, -10.0 * size]])[0]
    psis_x = abs(psis[0])
    # In a frontal view the crest is a dome: from the sacroiliac joint up and out to its top, on to
    # its widest point some 25-35 mm lower, and down to the anterior superior spine.
    drop = shape["asis_drop_mm"] * size
    crest_controls = np.array([
        psis,
        [side * (psis_x + 0.12 * (chw - psis_x)), psis[1] + 14.0 * size, top - 0.45 * (top - psis[2])],
        [side * (psis_x + 0.5 * (chw - psis_x)), hy - 28.0 * size, top],
        [side * chw, hy + 4.0 * size, top - 0.55 * drop],
        [side * 0.97 * chw, hy + 28.0 * size, top - 0.8 * drop],
        [side * 0.91 * chw, hy + 45.0 * size, top - drop],
    ])
    base_controls = np.array([
        piis,
        si_bottom + np.array([side * 8.0, 4.0, -6.0]),
        [side * (hx - 30.0 * size), hy - 40.0 * size, hz + 22.0 * size],  # greater sciatic notch
        [side * (hx - 12.0 * size), hy - 18.0 * size, hz + 0.85 * head_radius],
        [side * (hx + 2.0 * size), hy + 16.0 * size, hz + 0.85 * head_radius],
        [side * (hx + 12.0 * size), hy + 36.0 * size, hz + head_radius + 16.0 * size],  # AIIS
    ])
    crest = catmull_rom(crest_controls, samples_per_segment=3)
    base = catmull_rom(base_controls, samples_per_segment=3)
    asis, aiis = crest_controls[-1], base_controls[-1]
    # ---- the wing: crest-to-base rows, pushed out (laterally) in the middle: the fossa is hollow
    s = np.linspace(0.0, 1.0, 6)[None, :, None]
    grid = crest[:, None, :] * (1.0 - s) + base[:, None, :] * s
    along = np.gradient(crest, axis=0)
    outward = np.cross(along, base - crest) * side
    outward = outward / np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-6)
    outward *= np.sign(outward[:, :1] * side + 1e-9)  # lateral
    t = np.linspace(0.0, 1.0, len(crest))[:, None, None]
    hollow = shape["fossa_depth_mm"] * size * 4.0 * s * (1.0 - s) * np.sin(np.pi * t)
    grid = grid + hollow * outward[:, None, :]
    # thinnest in the middle of the fossa, thicker towards the crest, the acetabulum and the back
    t_mid = 0.5 * (t[1:, 0, 0] + t[:-1, 0, 0])[:, None]
    s_mid = 0.5 * (s[0, 1:, 0] + s[0, :-1, 0])[None, :]
    half = FOSSA_HALF_MM + 1.2 * np.exp(-s_mid / 0.2) + 2.5 * s_mid**3 + 2.0 * (1.0 - t_mid) ** 4
    wing = thin_surface(grid, half * size)
    # the lower wing, towards the acetabulum and the sacroiliac joint, is dense bone (its load lines
    # read bright in real MIPs): a thicker cortex there, quad by quad (two triangles each)
    cortex_factor = 1.0 + 1.5 * s_mid**2 + 1.0 * (1.0 - t_mid) ** 3
    for plate, factor in zip(wing, np.repeat(cortex_factor.ravel(), 2)):
        plate.thick(float(factor))
    # ---- the thick parts: crest rim, bone by the sacroiliac joint, the body above the acetabulum
    crest_radii = 4.0 * size * np.interp(np.linspace(0, 1, len(crest)), [0.0, 0.15, 0.55, 0.75, 1.0], [1.6, 1.0, 1.3, 1.0, 1.15])
    rim = [Capsule(crest[n], crest[n + 1], crest_radii[n], crest_radii[n + 1]).thick(RIM_SHELL_FACTOR) for n in range(len(crest) - 1)]
    acetabular_roof = np.array([side * (hx - 6.0 * size), hy - 2.0, hz + head_radius + 10.0 * size])
    # the iliac tuberosity: the thick block of bone behind and beside the sacroiliac joint, which
    # joins the wing to the sacrum in a frontal view
    tuberosity_centre = 0.5 * (si_top + si_bottom) + np.array([side * 10.0 * size, -8.0 * size, 4.0 * size])
    thick = [
        Ellipsoid.at(tuberosity_centre, np.array([13.0, 18.0, 0.5 * np.linalg.norm(si_top - si_bottom) + 10.0]) * np.array([size, size, 1.0]), si_top - si_bottom),
        Capsule(si_top + np.array([side * 3.0, -2.0, 0.0]), si_bottom + np.array([side * 3.0, -2.0, 0.0]), 7.0 * size, 6.0 * size),
        Capsule(psis, piis, 8.0 * size, 7.0 * size),
        Capsule(psis, si_top + np.array([side * 4.0, -4.0, 0.0]), 7.0 * size, 8.0 * size),
        Ellipsoid.at(acetabular_roof, np.array([21.0, 22.0, 24.0]) * size),
        # dense bone from the sacroiliac joint down to the acetabulum (the sciatic buttress)
        Capsule(si_bottom + np.array([side * 8.0, 6.0, 0.0]), acetabular_roof + np.array([-side * 4.0, -6.0, 0.0]), 9.0 * size, 12.0 * size),
        Capsule(asis, aiis, 3.5 * size, 5.0 * size),
    ]
    # the auricular surface: dense subchondral bone along the sacroiliac joint, nearly parallel to a
    # frontal ray, so a frontal MIP shows it as a bright band at the wing's medial edge
    joint_offset = np.array([side * 4.0, 0.0, 0.0])
    auricular = FlatTube(si_top + joint_offset, si_bottom + joint_offset, 12.0 * size, 10.0 * size, 1.6, np.array([0.0, 1.0, 0.0])).thick(4.0)
    parts = wing + rim + [p.thick(RIM_SHELL_FACTOR) for p in thick] + [auricular]
    layers = [(ILIUM_CORTEX_MM, hu["cortical"]), (None, hu["cancellous"] * 0.8)]
    up_the_wing = unit(crest_controls[2] - acetabular_roof)
    structure = Structure("ilium", parts, layers, texture=0.35, texture_stretch=3.0, texture_axis=tuple(up_the_wing))
    landmarks = {"asis": asis, "aiis": aiis, "si_top": si_top, "si_bottom": si_bottom, "psis": psis, "acetabular_roof": acetabular_roof,
                 "crest_top": crest_controls[2], "crest_widest": crest_controls[3]}
    return structure, landmarks


def arcuate_line(side: float, si_bottom: np.ndarray, acetabular_roof: np.ndarray, pubic_tubercle: np.ndarray, size: float) -> list:
    """The pelvic brim from the sacroiliac joint round to the pubis: the inlet's bright border."""
    path = catmull_rom([si_bottom + np.array([-side * 2.0, 14.0, 6.0]), acetabular_roof + np.array([-side * 22.0, 18.0, -14.0]), pubic_tubercle + np.array([side * 4.0, -4.0, 8.0])], 4)
    return [c.thick(RIM_SHELL_FACTOR) for c in tube_along(path, 4.0 * size)]
