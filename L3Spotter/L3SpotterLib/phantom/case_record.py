"""The case.json record of a phantom, in the same form as the real cases in ``shared/data``.

Vertebra levels come from :func:`L3SpotterLib.l3_definition.label_level` on the label map, and the L3
slice from :func:`l3_slice_from_level`, exactly as for real scans: no second definition here.
"""

from __future__ import annotations

import numpy as np

from ..geometry import VolumeGeometry
from ..l3_definition import l3_slice_from_level, label_level
from ..vertebra_labels import HEAD_TO_FOOT, VERSE_IDS

LABELS_TEXT = (
    "vertebrae.nii.gz uses the VerSe convention: 1-7 C1-C7, 8-19 T1-T12, 20-24 L1-L5, 25 L6, "
    "26 sacrum, 27 coccyx, 28 T13"
)


def _crop_in_plane(labels: np.ndarray, geometry: VolumeGeometry):
    """The label array cut to the in-plane box of its labels, and the matching geometry.

    Only i and j are cut, never the slice axis k, and the origin moves with the cut, so
    :func:`label_level` gives the same centroids, slice ranges and edge flags as on the full array
    while scanning a few per cent of the voxels.
    """
    if geometry.slice_axis != 2:
        return labels, geometry
    present = labels.any(axis=0)  # [j, i]
    if not present.any():
        return labels, geometry
    rows = np.nonzero(present.any(axis=1))[0]
    cols = np.nonzero(present.any(axis=0))[0]
    j0, j1, i0, i1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    shift = np.eye(4)
    shift[:3, 3] = [i0, j0, 0]
    cropped = VolumeGeometry(geometry.ijk_to_ras @ shift, (i1 - i0, j1 - j0, geometry.shape_ijk[2]))
    return labels[:, j0:j1, i0:i1], cropped


def build_case_record(name: str, labels: np.ndarray, geometry: VolumeGeometry, seed: int, version: str, variants: dict, note: str) -> dict:
    vertebrae = {}
    full_geometry = geometry
    labels, geometry = _crop_in_plane(labels, geometry)
    present = set(np.unique(labels[labels > 0]).tolist()) if labels.size else set()
    for vertebra in HEAD_TO_FOOT:
        if VERSE_IDS[vertebra] not in present:
            continue
        level = label_level(labels, geometry, VERSE_IDS[vertebra])
        if level is None:
            continue
        vertebrae[vertebra] = {
            "centroid_ras_mm": [round(v, 2) for v in level.centroid_ras_mm],
            "centroid_slice": round(level.centroid_slice, 2),
            "slice_range": list(level.slice_range),
            "touches_scan_edge": bool(level.touches_scan_edge),
        }
    l3_level = label_level(labels, geometry, VERSE_IDS["L3"]) if VERSE_IDS["L3"] in present else None
    l3_slice = l3_slice_from_level(l3_level)
    record = {
        "case": name,
        "source": f"L3Spotter synthetic phantom generator {version}",
        "license": "Apache-2.0 (generated data)",
        "note": note,
        "slice_axis": full_geometry.describe_slice_axis(),
        "shape_ijk": [int(n) for n in full_geometry.shape_ijk],
        "spacing_mm": [round(float(s), 4) for s in full_geometry.spacing_mm],
        "labels": LABELS_TEXT,
        "label_origin": "exact: drawn by the generator (no segmentation model, no reader)",
        "vertebrae": vertebrae,
        "l3_slice": l3_slice,
    }
    if l3_slice is not None:
        record["l3_z_ras_mm"] = round(l3_level.z_ras_mm, 2)
    else:
        record["l3_note"] = "L3 is not in the scan" if l3_level is None else "L3 is not wholly inside the scan"
    record["seed"] = int(seed)
    record["generator_version"] = version
    record["variants"] = variants
    return record
