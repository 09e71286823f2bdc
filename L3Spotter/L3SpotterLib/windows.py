"""Fixed-height windows sliding down a projection, and what the CNN learns to predict in each.

A window is ``height_px`` rows of the projection starting at row ``top`` (which may be negative or run
past the end: the projection is padded with zeros, i.e. air, so that an L3 on the first or last row still
produces a full ramp of windows).

The target of a window is where L3 lies in it, as a fraction of its height, clamped to [0, 1]:
0 when L3 is at (or above) the window's top row, 1 when at (or below) its bottom. As the window slides
down one row, the target of a window holding L3 drops by ``1 / height_px``: that ramp is what
:mod:`ramp_correlation` looks for.
"""

from __future__ import annotations

import numpy as np


def window_tops(n_rows: int, height_px: int, stride_px: int) -> np.ndarray:
    """Top rows of the windows for a projection of ``n_rows`` rows.

    The first window ends on row 0 and the last starts on the last row, so that every row is seen at every
    position inside a window.
    """
    if stride_px < 1:
        raise ValueError(f"the window stride must be at least 1 pixel, got {stride_px}")
    first = -(height_px - 1)
    last = n_rows - 1
    return np.arange(first, last + 1, stride_px, dtype=np.int64)


def window_target(l3_row, window_top, height_px: int):
    """Where L3 lies inside the window as a fraction of its height, clamped to [0, 1]."""
    return np.clip((np.asarray(l3_row, dtype=float) - np.asarray(window_top, dtype=float)) / height_px, 0.0, 1.0)


def padded_for_windows(image: np.ndarray, height_px: int) -> np.ndarray:
    """The projection with ``height_px - 1`` rows of zeros above and below (channels first or 2-D)."""
    pad = height_px - 1
    widths = [(0, 0)] * (image.ndim - 2) + [(pad, pad), (0, 0)]
    return np.pad(image, widths, mode="constant", constant_values=0.0)


def extract_windows(padded: np.ndarray, tops: np.ndarray, height_px: int) -> np.ndarray:
    """Stack the windows ``[n, ..., height_px, width]`` from a :func:`padded_for_windows` image.

    ``padded`` is ``[channels, rows, cols]`` or ``[rows, cols]``; row ``top`` of the projection is row
    ``top + height_px - 1`` of ``padded``.
    """
    offset = height_px - 1
    starts = np.asarray(tops) + offset
    rows = starts[:, None] + np.arange(height_px)[None, :]
    if padded.ndim == 2:
        return padded[rows, :]
    return np.moveaxis(padded[:, rows, :], 0, 1)
