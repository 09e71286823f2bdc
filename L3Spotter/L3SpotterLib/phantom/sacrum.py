"""The sacrum and coccyx as bone: an inverted triangle of five fused segments with foramina.

Each sacral segment (frames from spine.py: origin at the segment's body centre, z up the spine, y
anterior) has a midline body, a lateral mass on each side (the S1 lateral masses are the broad alae
that carry the sacroiliac joints) and a transverse bar joining the two at mid-height. The gaps
between the bars of neighbouring segments are the anterior sacral foramina: two rows of holes that
converge downwards, which a frontal MIP shows as darker spots in a faint triangle. Behind the sacral
canal a thin dorsal plate with a median crest closes the bone. Sacral bone is mostly cancellous with
a thin cortex, so in a MIP it reads far fainter than the iliac rims beside it.
"""

from __future__ import annotations

import numpy as np

from ..vertebra_labels import VERSE_IDS
from .canvas import Structure
from .primitives import Ellipsoid, RoundedBox, SuperEllipticCylinder, frame_matrix

# S1..S5: height, body width, body depth, half-width over the lateral masses, foramen centre's
# distance from the midline (mm, adult means before scaling).
SACRAL_SEGMENTS_MM = (
    (28.0, 48.0, 30.0, 52.0, 23.0),
    (24.0, 38.0, 22.0, 42.0, 19.0),
    (20.0, 30.0, 17.0, 30.0, 15.0),
    (16.0, 22.0, 13.0, 19.0, 11.0),
    (12.0, 16.0, 10.0, 11.0, 0.0),
)
FORAMEN_RADIUS_MM = (5.0, 4.5, 4.0, 3.5)  # between S1/S2, S2/S3, S3/S4, S4/S5


def sacrum_half_width_mm(segment: int, scale: float) -> float:
    """Half-width over the lateral masses of segment ``segment`` (0 = S1): where the ilia attach."""
    return SACRAL_SEGMENTS_MM[segment][3] * scale


def sacrum_structures(frames: list[np.ndarray], coccyx_points: np.ndarray, scale: float, bone_hu: tuple[float, float], cortex_mm: float) -> list[Structure]:
    """The labelled sacrum and coccyx. ``bone_hu`` = (cortical, cancellous)."""
    cortical, cancellous = bone_hu
    parts = []
    for index, frame in enumerate(frames):
        height, body_w, body_d, half_width, foramen_x = (v * scale for v in SACRAL_SEGMENTS_MM[index])
        half_h = 0.5 * height + 0.6  # segments overlap a little: they are fused
        parts.append(SuperEllipticCylinder(frame, 0.5 * body_w, 0.5 * body_d, 0.45 * body_d, half_h, exponent=2.4))
        # The dorsal plate (fused laminae) behind the canal, and the median crest on it.
        dorsal_y = -0.5 * body_d - 8.0 * scale
        plate_half = max(foramen_x - 3.0 * scale, 0.3 * body_w) if foramen_x > 0 else 0.4 * body_w
        parts.append(RoundedBox(frame @ frame_matrix([0.0, dorsal_y, 0.0], [0, 0, 1]), (plate_half, 1.8, half_h * 0.9), 1.0))
        parts.append(RoundedBox(frame @ frame_matrix([0.0, dorsal_y - 4.5, 0.0], [0, 0, 1]), (2.0, 3.0, half_h * 0.6), 1.0))
        if foramen_x <= 0:
            continue
        r_hole = FORAMEN_RADIUS_MM[min(index, 3)] * scale
        mass_inner = foramen_x + r_hole
        mass_half_x = 0.5 * (half_width - mass_inner)
        mass_depth = (0.55 if index == 0 else 0.45) * body_d + 6.0 * scale
        for side in (-1.0, 1.0):
            # lateral mass: from beside the foramina out to the auricular (joint) surface
            centre = [side * (mass_inner + mass_half_x), -0.15 * body_d, 0.0]
            parts.append(SuperEllipticCylinder(frame @ frame_matrix(centre, [0, 0, 1]), mass_half_x, mass_depth, mass_depth, half_h, exponent=2.2))
            # transverse bar at mid-height between the body and the lateral mass: the foramina are
            # the gaps left above and below it
            bar_inner = 0.45 * body_w
            bar_centre = [side * 0.5 * (bar_inner + mass_inner + 2.0), 0.05 * body_d, 0.0]
            bar_half = (0.5 * (mass_inner + 2.0 - bar_inner), 0.4 * body_d, max(0.5 * height - r_hole - 1.0, 2.5))
            parts.append(RoundedBox(frame @ frame_matrix(bar_centre, [0, 0, 1]), bar_half, 1.5))
        if index == 0:
            # the alae sweep up and out from the S1 body towards the top of the sacroiliac joints
            for side in (-1.0, 1.0):
                ala = [side * (0.5 * body_w + 0.35 * (half_width - 0.5 * body_w)), 0.05 * body_d, 0.35 * height]
                parts.append(Ellipsoid(frame @ frame_matrix(ala, [side * 0.5, 0.0, 1.0]), (10.0 * scale, 0.5 * body_d, 0.45 * (half_width - 0.5 * body_w))))
    structures = [
        Structure("sacrum", parts, [(cortex_mm, cortical), (None, cancellous * 0.65)], label=VERSE_IDS["sacrum"], texture=0.2, texture_stretch=2.0)
    ]
    coccyx_parts = [
        Ellipsoid.at(0.5 * (coccyx_points[n] + coccyx_points[n + 1]), (9.0 - 1.5 * n, 6.0 - n, 5.0), coccyx_points[n] - coccyx_points[n + 1])
        for n in range(len(coccyx_points) - 1)
    ]
    structures.append(Structure("coccyx", coccyx_parts, [(cortex_mm, cortical), (None, cancellous)], label=VERSE_IDS["coccyx"], texture=0.2))
    return structures
