"""The scapula: a thin curved plate framed by thick borders, its spine, acromion and glenoid.

Real scapulae in a MIP are mostly their edges: the blade (infraspinous and supraspinous fossae) is
1-3 mm of bone and reads barely above soft tissue, while the thick lateral border, the spine running
up and out to the acromion, and the glenoid are bright. The blade here is a grid of thin triangles
between the medial border (superior angle to inferior angle) and the lateral border (neck to
inferior angle), bowed backwards over the rib cage.
"""

from __future__ import annotations

import numpy as np

from .canvas import Structure
from .primitives import Capsule, Ellipsoid, thin_surface

BLADE_HALF_MM = 0.8
CORTEX_MM = 0.6
BORDER_FACTOR = 2.2  # cortex of the borders, spine and glenoid, as a multiple of CORTEX_MM


def scapula_structure(side: float, superior_angle, neck, inferior_angle, spine_root, acromion, glenoid, size: float, hu: dict) -> Structure:
    superior_angle, neck, inferior_angle = (np.asarray(p, dtype=float) for p in (superior_angle, neck, inferior_angle))
    t = np.linspace(0.0, 0.94, 6)[:, None, None]
    s = np.linspace(0.0, 1.0, 4)[None, :, None]
    medial = superior_angle + t * (inferior_angle - superior_angle)
    lateral = neck + t * (inferior_angle - neck)
    grid = medial * (1.0 - s) + lateral * s
    # bowed backwards in the middle, following the convex back of the rib cage
    grid = grid + np.array([0.0, -1.0, 0.0]) * (10.0 * size * 4.0 * s * (1.0 - s) * (1.0 - t))
    blade = thin_surface(grid, BLADE_HALF_MM * size)
    thick = [
        Capsule(neck, inferior_angle, 5.0 * size, 3.5 * size),  # lateral border
        Capsule(superior_angle, inferior_angle, 2.5 * size, 3.0 * size),  # medial border
        Capsule(superior_angle, neck, 2.0 * size, 3.0 * size),  # superior border
        Capsule(spine_root, acromion, 4.5 * size, 5.0 * size),  # spine of the scapula
        Ellipsoid.at(acromion, np.array([13.0, 9.0, 5.0]) * size),
        Ellipsoid.at(glenoid, np.array([8.0, 12.0, 17.0]) * size),
        Capsule(glenoid + np.array([-side * 4.0, 10.0, 14.0]), glenoid + np.array([-side * 14.0, 35.0, 12.0]), 4.5 * size, 3.5 * size),  # coracoid
    ]
    parts = blade + [p.thick(BORDER_FACTOR) for p in thick]
    return Structure("scapula", parts, [(CORTEX_MM, hu["cortical"]), (None, hu["cancellous"] * 0.85)], texture=0.25)
