"""Vertebral levels: how far along the spine a row of a projection lies, counted in vertebrae from L3.

The level of a vertebra is its place in the spine's head-to-foot sequence minus the place of L3: L3 is 0,
L2 -1, L1 -2, the last thoracic (T12 in a usual spine) -3, L4 +1, L5 +2, the first sacral segment +3. With
six lumbar vertebrae L6 is +3 and S1 +4; with four, S1 is +2. Between two vertebral centres the level
grows linearly with the distance along z; beyond the listed centres it is clamped to
[``LEVEL_MIN``, ``LEVEL_MAX``] (the head and the chest above T7, the pelvis and legs below S2).

This is what the vertebra count (:mod:`vertebra_count`) regresses for every row, and how the QC picture
names the vertebrae it labels.
"""

from __future__ import annotations

import numpy as np

LEVEL_MIN = -8.0
LEVEL_MAX = 5.0
# The region the count must see to place L3 by itself: T11 (-4) to S1 (+3), half a level either side.
COUNTED_REGION = (-4.5, 3.5)

# Names of the levels in a usual spine (12 thoracic, 5 lumbar vertebrae), for labels.
USUAL_LEVEL_NAMES: dict[int, str] = {
    -8: "T7", -7: "T8", -6: "T9", -5: "T10", -4: "T11", -3: "T12",
    -2: "L1", -1: "L2", 0: "L3", 1: "L4", 2: "L5", 3: "S1", 4: "S2", 5: "S3",
}


def usual_level_name(level: int) -> str:
    return USUAL_LEVEL_NAMES.get(int(level), f"{int(level):+d}")


def sequence_levels(names_head_to_foot: list[str]) -> dict[str, float]:
    """Each vertebra's level from its place in a head-to-foot sequence that holds L3."""
    if "L3" not in names_head_to_foot:
        raise ValueError("the vertebra sequence has no L3")
    origin = names_head_to_foot.index("L3")
    return {name: float(index - origin) for index, name in enumerate(names_head_to_foot)}


def row_levels(level_rows: list[tuple[float, float]], n_rows: int) -> np.ndarray:
    """The level of every row ``0 .. n_rows-1`` from (row, level) pairs of vertebral centres.

    Rows grow towards the feet, so levels grow with rows. Outside the centres given, the level keeps the
    slope of the nearest pair of centres (then the clamp applies).
    """
    pairs = sorted(level_rows)
    rows = np.array([row for row, _ in pairs], dtype=float)
    levels = np.array([level for _, level in pairs], dtype=float)
    if len(rows) < 2:
        raise ValueError("at least two vertebral centres are needed")
    query = np.arange(n_rows, dtype=float)
    inside = np.interp(query, rows, levels)
    above_slope = (levels[1] - levels[0]) / max(rows[1] - rows[0], 1e-6)
    below_slope = (levels[-1] - levels[-2]) / max(rows[-1] - rows[-2], 1e-6)
    result = np.where(query < rows[0], levels[0] + (query - rows[0]) * above_slope, inside)
    result = np.where(query > rows[-1], levels[-1] + (query - rows[-1]) * below_slope, result)
    return np.clip(result, LEVEL_MIN, LEVEL_MAX).astype(np.float32)
