"""The vertebra count: a second, independent reading of where L3 is, from the whole projection at once.

:class:`~networks.LevelMapNetwork` gives every row of the projection its vertebral level (L3 = 0, see
:mod:`vertebral_levels`) and the probability that the row lies in the counted region (T11 to S1). This
module runs it and reads the map:

* **where the count puts L3**: the row where the level crosses 0 inside the counted region;
* **whether the count is sound**: inside the region the level must rise head to foot at one level per
  ``MM_PER_LEVEL_RANGE`` (a vertebra and its disc), without steps back;
* **which way the anatomy runs**: a level that falls head to foot means the file's header has head and
  feet swapped;
* **the visible vertebrae** (T11 ... S1), for the result and the QC picture.

The count runs three times, on both views and on each view alone (the other blanked, as in training):
three readings that must agree. The window ramp (:mod:`ramp_correlation`) is the first reading; the
pipeline (:mod:`pipeline`) reports ``found`` only when the readings agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .vertebral_levels import COUNTED_REGION, usual_level_name

# A vertebra plus its disc spans 22-45 mm along z in adults (T11 to L5 in the phantoms and in the
# published ranges); a reading outside this is not a spine.
MM_PER_LEVEL_RANGE = (18.0, 55.0)
# The region probability above which a row counts as inside T11-S1.
REGION_PROBABILITY = 0.5
# Rows of region the count needs before it says anything (about one vertebra and a half).
MIN_REGION_MM = 50.0
# How much of the region may run against the rest (noise at the ends of the region).
MAX_BACKWARD_FRACTION = 0.1
VIEW_VARIANTS = ("both", "frontal_only", "lateral_only")


@dataclass
class CountReading:
    """What one run of the count says; rows are projection rows (0 = most superior)."""

    levels: np.ndarray  # per row
    region_probability: np.ndarray  # per row
    region_rows: tuple[int, int] | None  # first and last row of the longest run inside the region
    l3_row: float | None  # where the level crosses 0 inside the region
    mm_per_level: float | None  # along the region
    backward_fraction: float  # share of the region where the level runs against its overall direction
    orientation: str  # "head_up", "head_down" (upside down), or "unknown"
    problems: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems

    def vertebra_rows(self) -> dict[str, float]:
        """The row of each whole level inside the region (T11 ... S1 in a usual spine)."""
        if self.region_rows is None or self.orientation != "head_up":
            return {}
        first, last = self.region_rows
        rows = np.arange(first, last + 1, dtype=float)
        levels = self.levels[first : last + 1]
        found = {}
        for level in range(int(np.ceil(COUNTED_REGION[0])), int(np.floor(COUNTED_REGION[1])) + 1):
            crossing = first_crossing(rows, levels, float(level))
            if crossing is not None:
                found[usual_level_name(level)] = crossing
        return found


def level_map(network: torch.nn.Module, stacked_views: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """``(levels, region_probability)`` per row of a ``[views, rows, width]`` projection."""
    with torch.inference_mode():
        output = network(torch.from_numpy(padded_projection(network, stacked_views)).to(device)).float().cpu().numpy()[0]
    n_rows = stacked_views.shape[1]
    levels = per_row(output[0], network.OUTPUT_STRIDE, n_rows)
    region = 1.0 / (1.0 + np.exp(-per_row(output[1], network.OUTPUT_STRIDE, n_rows)))
    return levels.astype(np.float32), region.astype(np.float32)


def padded_projection(network: torch.nn.Module, stacked_views: np.ndarray) -> np.ndarray:
    """``[1, views, rows, width]``: the projection padded with air to a multiple of the network's input rows."""
    multiple = network.INPUT_MULTIPLE
    n_rows = stacked_views.shape[1]
    padded = np.zeros((1, stacked_views.shape[0], int(np.ceil(n_rows / multiple) * multiple), stacked_views.shape[2]), dtype=np.float32)
    padded[0, :, :n_rows] = stacked_views
    return padded


def per_row(values: np.ndarray, stride: int, n_rows: int) -> np.ndarray:
    """One value per row ``0 .. n_rows - 1`` from one per ``stride`` rows, interpolated linearly."""
    # Output step i describes rows stride i .. stride i + stride - 1, centred on stride i + (stride - 1) / 2.
    centres = np.arange(len(values)) * stride + (stride - 1) / 2.0
    return np.interp(np.arange(n_rows, dtype=float), centres, values)


def blank_view(stacked_views: np.ndarray, keep: str, views: list[str]) -> np.ndarray:
    """The projection with every view but ``keep`` blanked (as the count was trained to read it)."""
    blanked = np.zeros_like(stacked_views)
    blanked[views.index(keep)] = stacked_views[views.index(keep)]
    return blanked


def read_count(levels: np.ndarray, region_probability: np.ndarray, row_mm: float) -> CountReading:
    """Interpret one level map (see the module docstring)."""
    inside = region_probability >= REGION_PROBABILITY
    run = _longest_run(inside)
    if run is None or (run[1] - run[0] + 1) * row_mm < MIN_REGION_MM:
        return CountReading(levels, region_probability, None, None, None, 0.0, "unknown", ["the count sees no lumbar spine"])
    first, last = run
    rows = np.arange(first, last + 1, dtype=float)
    region_levels = levels[first : last + 1].astype(float)
    slope = float(np.polyfit(rows, region_levels, 1)[0])  # levels per row
    orientation = "head_up" if slope > 0 else "head_down"
    steps = np.diff(region_levels)
    backward = float(np.mean(np.sign(steps) == -np.sign(slope))) if len(steps) else 0.0
    mm_per_level = row_mm / abs(slope) if slope != 0 else None
    problems = []
    if orientation == "head_down":
        problems.append("the anatomy runs feet to head along the file's superior axis (head and feet swapped in its header?)")
    if mm_per_level is None or not MM_PER_LEVEL_RANGE[0] <= mm_per_level <= MM_PER_LEVEL_RANGE[1]:
        shown = "inf" if mm_per_level is None else f"{mm_per_level:.0f}"
        problems.append(f"the count finds {shown} mm per vertebra, outside {MM_PER_LEVEL_RANGE[0]:.0f}-{MM_PER_LEVEL_RANGE[1]:.0f} mm")
    if backward > MAX_BACKWARD_FRACTION:
        problems.append(f"the count runs backwards over {backward:.0%} of the spine")
    ordered_rows, ordered_levels = (rows, region_levels) if slope > 0 else (rows[::-1], region_levels[::-1])
    l3_row = first_crossing(ordered_rows, ordered_levels, 0.0)
    return CountReading(levels, region_probability, run, l3_row, mm_per_level, backward, orientation, problems)


def _longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    best, start = None, None
    for index, value in enumerate(np.append(mask, False)):
        if value and start is None:
            start = index
        elif not value and start is not None:
            if best is None or index - start > best[1] - best[0] + 1:
                best = (start, index - 1)
            start = None
    return best


def first_crossing(rows: np.ndarray, levels: np.ndarray, value: float) -> float | None:
    """The first row where ``levels`` (listed in ``rows`` order) reach ``value`` going up, interpolated."""
    above = levels >= value
    if not above.any() or above.all():
        return None
    index = int(np.argmax(above))
    if index == 0:
        return None
    low_level, high_level = levels[index - 1], levels[index]
    fraction = (value - low_level) / max(high_level - low_level, 1e-9)
    return float(rows[index - 1] + fraction * (rows[index] - rows[index - 1]))
