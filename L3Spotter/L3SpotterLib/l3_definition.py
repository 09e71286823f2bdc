"""The project's one definition of "the L3 slice". Every tool that turns labels into a target uses this.

Definition: the L3 level is the z (RAS S, mm) of the centroid of the L3 vertebra's label voxels, and the
L3 slice is that centroid's slice index (along the volume's slice axis, see :mod:`geometry`) rounded to
the nearest integer. "L3" is the third lumbar vertebra counted from the thoracolumbar junction (from the
top), so a sixth lumbar vertebra or a sacralised L5 does not move it.

The centroid lies at the vertebral body's mid-height to within about a millimetre: the posterior
elements hang slightly lower than the body, and the label's mean over all its voxels averages that out.
This is the rule ``../shared/data/*/case.json`` uses (``l3_slice`` = rounded centroid slice).

When the L3 label touches the first or last slice, its true extent is unknown: the L3 slice is then
undefined (``None``), as in ``case.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import VolumeGeometry


@dataclass(frozen=True)
class LabelLevel:
    """Where one labelled structure lies along the slice axis."""

    centroid_ras_mm: tuple[float, float, float]
    centroid_slice: float
    slice_range: tuple[int, int]
    touches_scan_edge: bool

    @property
    def z_ras_mm(self) -> float:
        return self.centroid_ras_mm[2]


def label_level(labels: np.ndarray, geometry: VolumeGeometry, label_id: int) -> LabelLevel | None:
    """Centroid and slice extent of ``label_id`` in a ``[k, j, i]`` label array, or None if absent."""
    kji = np.nonzero(labels == label_id)
    if kji[0].size == 0:
        return None
    ijk = np.stack([kji[2], kji[1], kji[0]], axis=1).astype(float)
    centroid_ijk = ijk.mean(axis=0)
    centroid_ras = geometry.ijk_to_ras_points(centroid_ijk)[0]
    slice_axis = geometry.slice_axis
    slices = ijk[:, slice_axis]
    first, last = int(slices.min()), int(slices.max())
    touches = first == 0 or last == geometry.n_slices - 1
    return LabelLevel(
        centroid_ras_mm=tuple(float(v) for v in centroid_ras),
        centroid_slice=float(centroid_ijk[slice_axis]),
        slice_range=(first, last),
        touches_scan_edge=touches,
    )


def l3_slice_from_level(level: LabelLevel | None) -> int | None:
    """The L3 slice per the definition above: the rounded centroid slice, None if cut by the scan edge."""
    if level is None or level.touches_scan_edge:
        return None
    return int(np.floor(level.centroid_slice + 0.5))
