"""Where the scan starts and stops along z, and the voxel grid (spacing, shape, IJK->RAS).

Scan ranges are set from anatomical landmarks as a technologist would: a chest-abdomen-pelvis scan
runs from above the lung apices to below the ischial tuberosities, an abdomen-pelvis scan from above
the diaphragm, and so on. ``l3_near_edge`` puts one end of the scan between 10 mm inside and 30 mm
beyond L3's body; ``l3_outside`` stops a chest scan above L3 or starts a pelvis scan below it.

The archive kinds (``fov_profile="archive"``) hold no L3 at all, except the lumbar-spine CT:

=====================  ==================================================  ==========================
kind                   top                                                 bottom
=====================  ==================================================  ==========================
head                   5-15 mm above the vertex                            C2 to 30 mm below it
head_neck              5-15 mm above the vertex                            T1 to T3
head_to_upper_chest    5-15 mm above the vertex (PET/CT that starts at     T4 to T9
                       the skull)
neck_chest             C1 to C4                                            the diaphragm to 20 mm
                                                                           above L3
chest                  0-40 mm above the lung apex                         20-80 mm below the
                                                                           diaphragm, above L3
pelvis_legs            the L4 centre to 20 mm below L3                     mid-thigh to the knee
legs                   20 mm below to 20 mm above the hips                 the knee to 50 mm above
lumbar_spine           T11 to L1                                           S1 to S3
=====================  ==================================================  ==========================

With ``recon="narrow_spine"`` the in-plane field is 100-200 mm wide and centred on the spine, as for a
lumbar-spine reconstruction: soft tissue, ribs and the iliac wings are cut at its edges.

Files use one standard orientation, like DICOM-derived NIfTI: LPS direction identity, so i runs to
the patient's left, j to posterior and k (the slice index) towards superior.
"""

from __future__ import annotations

import numpy as np

from ..geometry import ijk_to_ras_from_lps

# Largest volume the generator will allocate (voxels): 512 x 512 x 1200, with room to spare.
MAX_VOXELS = 400_000_000
# Slice count above which thin slices are replaced by the next thicker standard slice.
MAX_SLICES = 1200
_STANDARD_THICKNESSES_MM = (0.625, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)


def scan_z_range_ras(fov: dict, landmarks_ras: dict) -> tuple[float, float]:
    """(lowest, highest) z (RAS mm) of the scan for the drawn field-of-view kind."""
    kind = fov["kind"]
    top_m, bottom_m = fov["top_margin_mm"], fov["bottom_margin_mm"]
    lm = landmarks_ras
    l3_top, l3_bottom = lm["l3_top"], lm["l3_bottom"]
    pelvis_bottom = lm["ischial_tuberosity"] - 10.0 - bottom_m
    requested = fov.get("l3_in_view_requested")
    if kind == "chest_abdomen_pelvis":
        top, bottom = lm["lung_apex"] + top_m, pelvis_bottom
    elif kind == "abdomen_pelvis":
        top, bottom = lm["diaphragm_dome"] + 20.0 + top_m, pelvis_bottom
    elif kind == "abdomen":
        top, bottom = lm["diaphragm_dome"] + 15.0 + top_m, lm["iliac_crest"] - 30.0 - bottom_m
    elif kind == "whole_body":
        top, bottom = lm["vertex"] + 10.0 + 0.25 * top_m, lm["mid_thigh"] - 2.0 * bottom_m
    elif kind == "l3_near_edge":
        offset = fov["near_edge_offset_mm"]
        if requested is True:
            offset = max(offset, 20.0)
        elif requested is False:
            offset = min(offset, -3.0)
        if fov["near_edge_end"] == "top":
            top, bottom = l3_top + offset, pelvis_bottom
        else:
            top, bottom = lm["diaphragm_dome"] + 20.0 + top_m, l3_bottom - offset
    elif kind == "l3_outside":
        gap = fov["outside_gap_mm"]
        if fov["outside_side"] == "above":
            top, bottom = lm["lung_apex"] + top_m, l3_top + gap
        else:
            top, bottom = l3_bottom - gap, pelvis_bottom
    elif kind in _ARCHIVE_RANGES:
        top, bottom = _ARCHIVE_RANGES[kind](lm, lm["vertebrae"], fov["archive_u"])
        # None of L3 in the scans that must not hold it (its body reaches ~20 mm beyond its label's box).
        if kind in ("head", "head_neck", "head_to_upper_chest", "neck_chest", "chest"):
            bottom = max(bottom, l3_top + 20.0)
        elif kind in ("pelvis_legs", "legs"):
            top = min(top, l3_bottom - 20.0)
    else:  # pragma: no cover - validated in sampling
        raise ValueError(kind)
    if kind in ("chest_abdomen_pelvis", "abdomen_pelvis", "abdomen", "whole_body"):
        top = max(top, l3_top + 25.0)
        bottom = min(bottom, l3_bottom - 25.0)
    if top - bottom < 40.0:
        top = bottom + 40.0
    return float(bottom), float(top)


def _between(high: float, low: float, u: float) -> float:
    return high + (low - high) * u


def _vertex_top(lm, u) -> float:
    return lm["vertex"] + 5.0 + 10.0 * u


_ARCHIVE_RANGES = {
    "head": lambda lm, v, u: (_vertex_top(lm, u[0]), v["C2"] - 30.0 * u[1]),
    "head_neck": lambda lm, v, u: (_vertex_top(lm, u[0]), _between(v["T1"], v["T3"], u[1])),
    "head_to_upper_chest": lambda lm, v, u: (_vertex_top(lm, u[0]), _between(v["T4"], v["T9"], u[1])),
    "neck_chest": lambda lm, v, u: (_between(v["C1"], v["C4"], u[0]), _between(lm["diaphragm_dome"], lm["l3_top"] + 20.0, u[1])),
    "chest": lambda lm, v, u: (lm["lung_apex"] + 40.0 * u[0], lm["diaphragm_dome"] - 20.0 - 60.0 * u[1]),
    "pelvis_legs": lambda lm, v, u: (_between(v["L4"], lm["l3_bottom"] - 20.0, u[0]), _between(lm["mid_thigh"], lm["knee"], u[1])),
    "legs": lambda lm, v, u: (lm["hip"] - 20.0 + 40.0 * u[0], lm["knee"] + 50.0 * u[1]),
    "lumbar_spine": lambda lm, v, u: (_between(v["T11"] if "T11" in v else v["L1"], v["L1"], u[0]), _between(v["S1"], v["S3"], u[1])),
}


def scan_grid(z_range_ras, acquisition: dict, body_width_mm: float, recon: dict | None = None, recon_centre_ras=None) -> dict:
    """Spacing, shape and IJK->RAS of the scan. Updates ``acquisition`` with what was used.

    ``recon`` of kind ``narrow_spine`` reconstructs ``recon["width_mm"]`` in-plane around
    ``recon_centre_ras`` (RAS x, y) instead of the whole body around the scanner's axis.
    """
    narrow = recon is not None and recon["kind"] == "narrow_spine"
    z_low, z_high = z_range_ras
    thickness = acquisition["slice_thickness_mm"]
    if acquisition["voxel_mm"] is None:
        # Too many slices: the next standard thickness that fits. A drawn thickness that fits is kept, also
        # one outside the standard list (PET/CT's 3.27 or 4.25 mm).
        if int(np.floor((z_high - z_low) / thickness)) + 1 > MAX_SLICES:
            for candidate in _STANDARD_THICKNESSES_MM:
                if candidate >= thickness and int(np.floor((z_high - z_low) / candidate)) + 1 <= MAX_SLICES:
                    thickness = candidate
                    break
        acquisition["slice_thickness_mm"] = thickness
    fov_mm = acquisition["in_plane_fov_mm"]
    if narrow:
        fov_mm = float(recon["width_mm"])
    elif fov_mm is None:
        fov_mm = float(np.clip(body_width_mm * acquisition["fov_over_body_width"], 300.0, 500.0))
    if acquisition.get("coarse_pixel_mm") and acquisition["voxel_mm"] is None:
        pixel = float(acquisition["coarse_pixel_mm"])
        n_inplane = int(np.ceil(fov_mm / pixel))
    elif acquisition["voxel_mm"] is not None:
        pixel = acquisition["voxel_mm"]
        n_inplane = int(np.ceil(fov_mm / pixel))
    elif acquisition["in_plane_fov_mm"] is not None or narrow:
        # a forced field of view (tests, small volumes): as many pixels as it takes
        pixel = acquisition["pixel_spacing_mm"] or float(np.clip(fov_mm / 512.0, 0.5, 1.0))
        n_inplane = int(np.ceil(fov_mm / pixel))
    else:
        # scanners reconstruct 512 x 512 pixels; the pixel size follows the field of view
        pixel = acquisition["pixel_spacing_mm"] or float(np.clip(fov_mm / 512.0, 0.5, 1.0))
        n_inplane = 512
    acquisition["pixel_spacing_mm"] = round(float(pixel), 6)
    acquisition["in_plane_fov_mm"] = round(float(pixel * n_inplane), 3)
    n_slices = int(np.floor((z_high - z_low) / thickness + 1e-6)) + 1
    if n_inplane * n_inplane * n_slices > MAX_VOXELS:
        raise ValueError(
            f"a {n_inplane} x {n_inplane} x {n_slices} volume is too large; use a larger voxel_mm or a smaller field of view"
        )
    half = (n_inplane - 1) / 2.0 * pixel
    centre_lps = (0.0, 0.0) if recon_centre_ras is None else (-float(recon_centre_ras[0]), -float(recon_centre_ras[1]))
    origin_lps = (centre_lps[0] - half, centre_lps[1] - half, z_low)
    spacing = (pixel, pixel, thickness)
    ijk_to_ras = ijk_to_ras_from_lps(origin_lps, spacing, np.eye(3))
    return {
        "shape_ijk": (n_inplane, n_inplane, n_slices),
        "spacing_mm": spacing,
        "origin_lps": origin_lps,
        "ijk_to_ras": ijk_to_ras,
    }
