"""Assemble one phantom: draw parameters, build the anatomy, place the patient, pick the scan range,
paint, then apply the scanner and archive effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import VolumeGeometry
from .acquisition import apply_acquisition
from .body import build_body_profile, paint_body
from .canvas import Canvas
from .case_record import build_case_record
from .field_of_view import scan_grid, scan_z_range_ras
from .intensities import draw_tissue_hu
from .limbs import build_limbs
from .organs import build_organs
from .pelvis import build_pelvis
from .primitives import transform_points
from .sampling import draw_parameters
from .shifted import shift_tissue_hu
from .spine import build_spine
from .table import build_table
from .thorax import build_thorax

# 2.2: archive fields of view, narrow reconstructions, the PET/CT protocol, the shifted family, and every
# vertebra's centre in the record. Standard phantoms keep their volumes.
GENERATOR_VERSION = "2.2.0"


@dataclass
class Phantom:
    """One synthetic CT.

    ``ct``: int16 HU, indexed [k, j, i] like SimpleITK; ``labels``: uint8 VerSe vertebra labels, same
    shape; ``ijk_to_ras``: 4x4 voxel index -> RAS mm; ``case``: the case.json dict; ``variants``: every
    drawn parameter (also ``case['variants']``).
    """

    ct: np.ndarray
    labels: np.ndarray
    ijk_to_ras: np.ndarray
    case: dict
    variants: dict

    @property
    def geometry(self) -> VolumeGeometry:
        return VolumeGeometry(self.ijk_to_ras, self.ct.shape[::-1])

    def l3_truth(self) -> tuple[float, bool]:
        """(L3's true z in RAS mm, whether L3 lies wholly in the scan)."""
        in_view = self.case.get("l3_slice") is not None
        if self.case.get("l3_z_ras_mm") is not None:
            return float(self.case["l3_z_ras_mm"]), in_view
        # L3 outside the scan has no label voxels; the generator still knows where its body lies.
        landmarks = self.variants["patient_placement"]["landmarks_z_ras_mm"]
        return 0.5 * (landmarks["l3_top"] + landmarks["l3_bottom"]), in_view


def _rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    a, b = [(1, 2), (2, 0), (0, 1)][axis]
    r = np.eye(3)
    r[a, a], r[a, b], r[b, a], r[b, b] = c, -s, s, c
    return r


def generate_phantom(seed: int, voxel_mm: float | None = None, **overrides) -> Phantom:
    params, streams = draw_parameters(seed, voxel_mm, overrides)
    build_rng = streams["build"]
    variants = params["variants"]
    hu = draw_tissue_hu(streams["intensities"], params["anatomy"]["contrast_phase"], params["intensity_randomization"], variants["low_bone_density"])
    if "tissue_hu_shift" in params:
        hu = shift_tissue_hu(hu, params["tissue_hu_shift"])

    spine = build_spine(params, hu, build_rng)
    thorax = build_thorax(params, spine, hu, build_rng)
    pelvis = build_pelvis(params, spine, hu, build_rng)
    profile = build_body_profile(params, spine, thorax, pelvis)
    limbs = build_limbs(params, spine, thorax, profile, hu, build_rng)
    organs, organ_landmarks = build_organs(params, spine, thorax, pelvis, profile, hu, build_rng)

    # ---- place the patient: roll, pitch and lean about the L3 level, offsets on the table
    patient = params["patient"]
    l3 = spine.by_name("L3")
    rotation = _rotation(2, patient["patient_rotation_deg"]) @ _rotation(0, patient["patient_tilt_deg"]) @ _rotation(1, patient["patient_lean_deg"])
    waist = profile.at(l3.centre[2])
    pivot = np.array([waist["x_centre"], 0.5 * (waist["y_front"] + waist["y_back"]), l3.centre[2]])
    z_of_l3_ras = float(build_rng.uniform(-600.0, 400.0))
    target = np.array([patient["table_offset_x_mm"], patient["table_height_offset_mm"], z_of_l3_ras])
    anatomy_to_ras = np.eye(4)
    anatomy_to_ras[:3, :3] = rotation
    anatomy_to_ras[:3, 3] = target - rotation @ pivot

    def z_ras(point):
        return float(transform_points(anatomy_to_ras, [point])[0][2])

    spine_y = l3.centre[1]
    hip_z = float(np.mean([h[2] for h in pelvis.hip_centres.values()]))
    knee_z = float(np.mean([k[2] for k in pelvis.knee_centres.values()]))
    landmarks_ras = {
        "l3_top": z_ras(l3.to_anatomy([[0.0, 0.0, l3.dims["h"] * 0.5]])[0]),
        "l3_bottom": z_ras(l3.to_anatomy([[0.0, 0.0, -l3.dims["h"] * 0.5]])[0]),
        "lung_apex": z_ras([0.0, spine_y, organ_landmarks["lung_apex_z_mm"]]),
        "diaphragm_dome": z_ras([0.0, spine_y, organ_landmarks["diaphragm_right_dome_z_mm"]]),
        "iliac_crest": z_ras([0.0, spine_y, pelvis.crest_top_z_mm]),
        "ischial_tuberosity": z_ras([0.0, spine_y, pelvis.ischial_tuberosity_z_mm]),
        "vertex": z_ras([0.0, spine_y, limbs.vertex_z_mm]),
        "mid_thigh": z_ras([0.0, spine_y, 0.5 * (hip_z + knee_z)]),
        "hip": z_ras([0.0, spine_y, hip_z]),
        "knee": z_ras([0.0, spine_y, knee_z]),
    }
    # Every vertebra's body centre, the five sacral segments included, whether or not the scan holds it:
    # the vertebral level of any row can then be known (training.levels).
    vertebra_centres_ras = {v.name: transform_points(anatomy_to_ras, [v.centre])[0] for v in spine.vertebrae}
    for index, frame in enumerate(spine.sacrum_frames):
        vertebra_centres_ras[f"S{index + 1}"] = transform_points(anatomy_to_ras, [frame[:3, 3]])[0]
    landmarks_ras["vertebrae"] = {name: float(centre[2]) for name, centre in vertebra_centres_ras.items()}
    z_range = scan_z_range_ras(params["fov"], landmarks_ras)
    widest = max(profile.at(z)["half_width"] for z in np.linspace(pelvis.ischial_tuberosity_z_mm, profile.z_top_mm - 40.0, 40))
    recon_centre_ras = None
    if params["recon"]["kind"] == "narrow_spine":
        # Centred between the L3 body and its canal, as a technologist centres a lumbar-spine reconstruction.
        l3_centre = vertebra_centres_ras["L3"]
        recon_centre_ras = np.array([l3_centre[0], l3_centre[1] - 15.0]) + np.asarray(params["recon"]["centre_offset_mm"])
    grid = scan_grid(z_range, params["acquisition"], 2.0 * widest + 20.0, params["recon"], recon_centre_ras)
    if recon_centre_ras is not None:
        params["acquisition"]["scan_circle_fraction"] = 1.5  # a narrow field lies wholly inside the scanner's circle

    # ---- the table under the lowest point of the patient's back
    back_points = []
    for z in np.linspace(pelvis.ischial_tuberosity_z_mm, profile.z_top_mm - 60.0, 30):
        p = profile.at(z)
        for dx in (-0.4, 0.0, 0.4):
            # the back is flattened 12 % of the half-depth above the ellipse's lowest point (see body.py)
            flat_back = p["y_back"] + 0.12 * 0.5 * (p["y_front"] - p["y_back"])
            back_points.append([p["x_centre"] + dx * p["half_width"], flat_back, z])
    table_top_y = float(transform_points(anatomy_to_ras, back_points)[:, 1].min())
    shape_kji = tuple(grid["shape_ijk"][::-1])
    canvas = Canvas(shape_kji, grid["ijk_to_ras"], anatomy_to_ras, hu["air"])
    canvas.set_texture_seed(int(build_rng.integers(0, 2**31 - 1)))
    table, table_details = build_table(table_top_y, hu, build_rng, canvas.edge_mm)

    # ---- paint: air, body, soft tissue, bones, metal, table
    paint_body(canvas, profile, hu)
    layers = [
        limbs.soft_structures,
        organs,
        spine.soft_structures,
        thorax.structures,
        pelvis.structures,
        limbs.bone_structures,
        spine.bone_structures,
        spine.metal_structures,
        pelvis.metal_structures,
        table,
    ]
    for group in layers:
        for structure in group:
            canvas.paint(structure)
    ct = apply_acquisition(canvas, params["acquisition"])

    variants_record = {
        **params,
        "tissue_hu": hu,
        "spine_detail": spine.details,
        "thorax_detail": thorax.details,
        "pelvis_detail": pelvis.details,
        "limbs_detail": limbs.details,
        "organ_landmarks_anatomy_z_mm": organ_landmarks,
        "table": table_details,
        "patient_placement": {
            "l3_z_ras_mm_target": round(z_of_l3_ras, 1),
            "scan_z_range_ras_mm": [round(z_range[0], 2), round(z_range[1], 2)],
            "landmarks_z_ras_mm": {k: round(v, 1) for k, v in landmarks_ras.items() if k != "vertebrae"},
            "vertebra_centres_ras_mm": {name: [round(float(v), 2) for v in centre] for name, centre in vertebra_centres_ras.items()},
        },
    }
    variants_record = _json_ready(variants_record)
    geometry = VolumeGeometry(grid["ijk_to_ras"], grid["shape_ijk"])
    note = (
        f"synthetic {params['fov']['kind'].replace('_', ' ')} CT, {variants_record['spine']['rib_pairs']} rib pairs, "
        f"{variants_record['spine']['lumbar_count']} lumbar vertebrae, contrast {params['anatomy']['contrast_phase']}, "
        f"arms {params['anatomy']['arms']}"
    )
    case = build_case_record(f"phantom_{seed}", canvas.labels, geometry, seed, GENERATOR_VERSION, variants_record, note)
    return Phantom(ct=ct, labels=canvas.labels, ijk_to_ras=grid["ijk_to_ras"], case=case, variants=variants_record)


def _json_ready(value):
    """Plain Python types only (numpy scalars and arrays converted, tuples to lists)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 4)
    return value
