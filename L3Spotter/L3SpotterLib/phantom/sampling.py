"""Draw every parameter of one phantom from documented distributions, honouring overrides.

Each group of parameters has its own random stream (``numpy`` SeedSequence children of the case seed),
so forcing one parameter with an override does not change the draws of the others.

Distributions (rates are approximate published prevalences in adult CT populations, rounded):

=========================  ===================================================================
parameter                  distribution
=========================  ===================================================================
sex                        female / male, 50 % each
age_years                  normal(60, 15), clipped to 18-95
size_scale                 normal(1.0, 0.05); x0.94 for women (skeleton and thorax size)
habitus                    thin 15 %, normal 35 %, overweight 30 %, obese 20 %
subcutaneous_fat_mm        thin 4-10, normal 10-22, overweight 20-35, obese 35-70 (anterior belly)
visceral_fat_mm            extra abdominal girth from fat: thin 0-10 ... obese 50-110
patient_rotation_deg       axial roll normal(0, 3), clipped +-8
patient_tilt_deg           head-up/down pitch normal(0, 3), clipped +-8; lateral lean normal(0, 2)
lumbar_count               4: 3 %, 5: 91 %, 6: 6 %
rib_pairs                  11: 5 %, 12: 92 %, 13: 3 %   (= number of thoracic vertebrae)
l1_rudimentary_rib         4 %   (a short rib on L1, which stays L1)
sacralized_l5              6 %   (the last lumbar fused to the sacrum by broad transverse processes)
scoliosis_deg              0 with 88 %, else uniform 5-25 (lateral curve, apex T8-L2)
lumbar_lordosis_deg        normal(45, 10); thoracic_kyphosis_deg normal(38, 9)
cervical_lordosis_deg      normal(20, 10); sacral_slope_deg normal(38, 7)
low_bone_density           10 % under 50 y, 30 % at 50-70 y, 50 % over 70 y
degenerative_discs         Poisson(max(0, (age - 35) / 20)) lumbar/low thoracic levels
hip_prosthesis             none 96 %, left 1.5 %, right 1.5 %, both 1 %
spinal_screws              2 % (pedicle screws and rods over 2-4 lumbar levels)
aortic_calcification       0-1, grows with age (share of the aorta's wall with plaques)
arms                       up 60 % (usual for abdomen), down 40 %; whole-body scans: down 70 %
contrast_phase             none 30 %, arterial 20 %, venous 50 %
oral_contrast              30 %
fov                        chest_abdomen_pelvis 30 %, abdomen_pelvis 25 %, abdomen 10 %,
                           whole_body 8 %, l3_near_edge 12 %, l3_outside 15 %
slice_thickness_mm         0.625 10 %, 1.0 15 %, 1.25 10 %, 1.5 5 %, 2.0 10 %, 2.5 15 %,
                           3.0 15 %, 5.0 20 %
pixel_spacing_mm           reconstruction FOV / 512, FOV = body width x U(1.05, 1.35), 0.5-1.0 mm
noise_sd_hu                lognormal around 12 HU at 2.5 mm slices, x sqrt(2.5 / thickness),
                           x1.4 for obese; clipped 3-60
blur_sigma_mm              in-plane U(0.3, 0.8)
hu_cap                     none 30 %, 3071 60 %, 1023 10 %
padding_value              none 60 %, -2048 20 %, -3024 20 % (outside the scan circle)
intensity_randomization    0 unless overridden (0..1, see intensities.py)
=========================  ===================================================================

Bone shapes vary between patients as much as their sizes; the model must not learn one pelvis or one
rib cage. Shape draws (group "shape"; lengths in mm are multiplied by size_scale where built):

=========================  ===================================================================
crest_half_width_mm        iliac crest half-width (outer): normal(143 women, 138 men; sd 9), 115-170
crest_height_mm            crest top above the L4-L5 disc: normal(8, 13), clipped -22..+36
                           (the intercristal line lies at L4-L5 or the L4 body in most adults,
                           but from the L5 body up to the L3-L4 disc: wide, so that counting from
                           the crest alone cannot place L3)
hip_drop_factor            S1-to-hip distance (100 mm mean) x normal(1, 0.05), 0.88-1.12
hip_half_spacing_mm        women normal(90, 5), men normal(85, 5)
wing_flare                 how far the wings turn out: normal(1, 0.07), 0.85-1.15
asis_drop_mm               ASIS below the crest top: uniform(38, 56)
fossa_depth_mm             hollow of the iliac fossa: uniform(5, 16)
rib_slope_offset_deg       added to every rib's frontal-view slope (10-38 deg by level):
                           normal(0, 5), clipped +-12; each rib adds normal(0, 2.5-3)
rib_bend                   how late the posterior rib curves down (power of the descent):
                           uniform(1.2, 2.0)
last_rib_reach             angle round the cage reached by the last rib, in half-turns:
                           uniform(0.2, 0.5) (3 to 15 cm long)
second_last_rib_reach      the same for the other floating rib: uniform(0.42, 0.7)
body_width_factor          vertebral body width and depth: normal(1, 0.06), 0.85-1.18
body_height_factor         thoracic and lumbar body heights: normal(1, 0.05), 0.88-1.12
disc_height_factor         thoracic and lumbar disc heights: normal(1, 0.12), 0.7-1.3
tp_length_factor           lumbar transverse processes: normal(1, 0.12), 0.75-1.3 (L3 stays longest)
l4_tp_rise_deg             upward tilt of L4's transverse processes: uniform(0, 15)
l5_tp_rise_deg             upward tilt of L5's: uniform(8, 30)
=========================  ===================================================================
"""

from __future__ import annotations

import numpy as np

# The standard draw (training and the in-distribution test set) uses the first six kinds only.
STANDARD_FOV_KINDS = ("chest_abdomen_pelvis", "abdomen_pelvis", "abdomen", "whole_body", "l3_near_edge", "l3_outside")
FOV_PROBABILITIES = (0.30, 0.25, 0.10, 0.08, 0.12, 0.15)
# Fields of view that real archives hold besides those (see field_of_view.py); drawn with fov_profile="archive".
ARCHIVE_FOV_KINDS = ("head", "head_neck", "head_to_upper_chest", "neck_chest", "chest", "pelvis_legs", "legs", "lumbar_spine")
FOV_KINDS = STANDARD_FOV_KINDS + ARCHIVE_FOV_KINDS
# Kinds that always hold the whole of L3, and kinds that hold none of it.
L3_WHOLE_FOV_KINDS = ("chest_abdomen_pelvis", "abdomen_pelvis", "abdomen", "whole_body", "lumbar_spine")
L3_ABSENT_FOV_KINDS = ("head", "head_neck", "head_to_upper_chest", "neck_chest", "chest", "pelvis_legs", "legs")
# fov_profile="archive": every kind, the last eight at rates a mixed hospital archive might hold.
ARCHIVE_FOV_PROBABILITIES = (0.14, 0.12, 0.06, 0.08, 0.08, 0.08, 0.06, 0.06, 0.06, 0.06, 0.06, 0.05, 0.04, 0.05)
FOV_PROFILES = ("standard", "archive")
RECONSTRUCTIONS = ("standard", "narrow_spine")
PROTOCOLS = ("standard", "pet_ct")
DISTRIBUTIONS = ("standard", "shifted", "randomized")
SLICE_THICKNESSES_MM = (0.625, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)
SLICE_THICKNESS_PROBABILITIES = (0.10, 0.15, 0.10, 0.05, 0.10, 0.15, 0.15, 0.20)
HABITUS_KINDS = ("thin", "normal", "overweight", "obese")
CONTRAST_PHASES = ("none", "arterial", "venous")

# Every override accepted by generate_phantom, with a one-line description (see __init__).
OVERRIDES: dict[str, str] = {
    "fov": f"field of view, one of {FOV_KINDS}",
    "l3_in_view": "True: L3 wholly inside the scan; False: L3 outside or cut by the scan edge",
    "lumbar_count": "4, 5 or 6 lumbar vertebrae",
    "rib_pairs": "11, 12 or 13 rib pairs (= thoracic vertebrae; the 13th is labelled T13)",
    "l1_rudimentary_rib": "bool: a short rib on L1 (still labelled L1)",
    "sacralized_l5": "bool: the last lumbar vertebra fused to the sacrum",
    "scoliosis_deg": "lateral curve magnitude in degrees (0 = straight)",
    "low_bone_density": "bool: osteoporotic cancellous bone and thin cortex",
    "degenerative_discs": "number of degenerated discs (narrow, sometimes with gas and spurs)",
    "hip_prosthesis": "'none', 'left', 'right' or 'both'",
    "spinal_screws": "bool: pedicle screws and rods in the lumbar spine",
    "arms": "'up' (above the head) or 'down' (beside the body)",
    "contrast_phase": f"one of {CONTRAST_PHASES}",
    "oral_contrast": "bool: positive oral contrast in the bowel",
    "habitus": f"one of {HABITUS_KINDS}",
    "sex": "'female' or 'male'",
    "age_years": "age in years (bone density, calcifications, degeneration)",
    "patient_rotation_deg": "axial roll of the patient on the table, degrees",
    "patient_tilt_deg": "head-up/down pitch of the patient, degrees",
    "slice_thickness_mm": "slice thickness = slice spacing, mm (ignored when voxel_mm is given)",
    "pixel_spacing_mm": "in-plane pixel size, mm (ignored when voxel_mm is given)",
    "in_plane_fov_mm": "reconstruction field of view (square), mm",
    "noise_sd_hu": "standard deviation of the image noise, HU",
    "blur_sigma_mm": "in-plane Gaussian blur of the scanner's point spread, mm",
    "hu_cap": "None, 1023 or 3071: highest value stored",
    "padding_value": "None, -2048 or -3024: value outside the scan circle",
    "intensity_randomization": "0..1: how far tissue HU wander from realistic towards random",
    "fov_profile": f"one of {FOV_PROFILES}: 'archive' draws the field of view among all {len(FOV_KINDS)} kinds",
    "recon": f"one of {RECONSTRUCTIONS}: 'narrow_spine' reconstructs 100-200 mm in-plane, centred on the spine",
    "protocol": f"one of {PROTOCOLS}: 'pet_ct' is the low-dose CT of a PET/CT (thick slices, noise, arms up)",
    "distribution": f"one of {DISTRIBUTIONS}: 'shifted' is the held-out domain-shift family (shifted.py), "
                    "'randomized' the wide training family (randomized.py)",
    "coarse_pixel_mm": "in-plane pixels of this size over the drawn reconstruction field (fast benches)",
}


def _choice(rng, options, probabilities):
    return options[int(rng.choice(len(options), p=np.asarray(probabilities) / np.sum(probabilities)))]


class _Streams:
    """One independent random stream per parameter group."""

    # New groups go at the end: a SeedSequence's n-th child does not depend on how many are spawned.
    GROUPS = ("patient", "spine", "variants", "anatomy", "fov", "acquisition", "intensities", "build", "shape", "archive", "shift")

    def __init__(self, seed: int):
        children = np.random.SeedSequence(int(seed)).spawn(len(self.GROUPS))
        self._streams = {g: np.random.default_rng(s) for g, s in zip(self.GROUPS, children)}

    def __getitem__(self, group: str) -> np.random.Generator:
        return self._streams[group]


def draw_parameters(seed: int, voxel_mm: float | None, overrides: dict) -> tuple[dict, dict]:
    """Return ``(params, streams)``: the nested, JSON-ready parameter dict and the per-group streams.

    ``streams['build']`` is left for the anatomy builders (per-vertebra jitter, bowel loops, ...).
    """
    unknown = set(overrides) - set(OVERRIDES)
    if unknown:
        raise TypeError(f"unknown phantom override(s) {sorted(unknown)}; accepted: {sorted(OVERRIDES)}")
    o = dict(overrides)
    streams = _Streams(seed)
    params = {
        "patient": _draw_patient(streams["patient"], o),
        "spine": {},
        "variants": {},
    }
    params["spine"] = _draw_spine(streams["spine"], o)
    params["variants"] = _draw_variants(streams["variants"], o, params["patient"])
    params["anatomy"] = _draw_anatomy(streams["anatomy"], o, params["patient"])
    params["fov"] = _draw_fov(streams["fov"], o)
    params["shape"] = _draw_shape(streams["shape"], params["patient"])
    params["acquisition"] = _draw_acquisition(streams["acquisition"], o, voxel_mm, params)
    params["intensity_randomization"] = float(o.get("intensity_randomization", 0.0))
    if not 0.0 <= params["intensity_randomization"] <= 1.0:
        raise ValueError("intensity_randomization must lie in 0..1")
    # Everything below draws from streams of its own, after the standard draws: a standard phantom is the
    # same volume it always was.
    _draw_archive_options(streams["archive"], o, params)
    if params["distribution"] == "shifted":
        from .shifted import shift_parameters

        shift_parameters(streams["shift"], o, params)
    elif params["distribution"] == "randomized":
        from .randomized import randomize_parameters

        randomize_parameters(streams["shift"], o, params)
    return params, streams


def _draw_patient(rng, o) -> dict:
    sex = o.get("sex", "female" if rng.random() < 0.5 else "male")
    age = float(o.get("age_years", np.clip(rng.normal(60, 15), 18, 95)))
    size_scale = float(np.clip(rng.normal(1.0, 0.05), 0.85, 1.15) * (0.94 if sex == "female" else 1.0))
    habitus = o.get("habitus", _choice(rng, HABITUS_KINDS, (0.15, 0.35, 0.30, 0.20)))
    if habitus not in HABITUS_KINDS:
        raise ValueError(f"habitus must be one of {HABITUS_KINDS}")
    fat_ranges = {"thin": (4, 10), "normal": (10, 22), "overweight": (20, 35), "obese": (35, 70)}
    visceral_ranges = {"thin": (0, 10), "normal": (5, 30), "overweight": (25, 60), "obese": (50, 110)}
    subcutaneous = float(rng.uniform(*fat_ranges[habitus]))
    visceral = float(rng.uniform(*visceral_ranges[habitus]))
    rotation = float(o.get("patient_rotation_deg", np.clip(rng.normal(0, 3), -8, 8)))
    tilt = float(o.get("patient_tilt_deg", np.clip(rng.normal(0, 3), -8, 8)))
    lean = float(np.clip(rng.normal(0, 2), -6, 6))
    return {
        "sex": sex,
        "age_years": round(age, 1),
        "size_scale": round(size_scale, 4),
        "habitus": habitus,
        "subcutaneous_fat_mm": round(subcutaneous, 1),
        "visceral_fat_mm": round(visceral, 1),
        "muscle_scale": round(float(np.clip(rng.normal(1.0 if sex == "male" else 0.85, 0.12), 0.55, 1.4)), 3),
        "patient_rotation_deg": round(rotation, 2),
        "patient_tilt_deg": round(tilt, 2),
        "patient_lean_deg": round(lean, 2),
        "table_offset_x_mm": round(float(rng.normal(0, 15)), 1),
        "table_height_offset_mm": round(float(rng.normal(0, 15)), 1),
    }


def _draw_spine(rng, o) -> dict:
    lumbar = int(o.get("lumbar_count", _choice(rng, (4, 5, 6), (0.03, 0.91, 0.06))))
    ribs = int(o.get("rib_pairs", _choice(rng, (11, 12, 13), (0.05, 0.92, 0.03))))
    if lumbar not in (4, 5, 6):
        raise ValueError("lumbar_count must be 4, 5 or 6")
    if ribs not in (11, 12, 13):
        raise ValueError("rib_pairs must be 11, 12 or 13")
    scoliosis = o.get("scoliosis_deg")
    if scoliosis is None:
        scoliosis = 0.0 if rng.random() < 0.88 else float(rng.uniform(5, 25))
    return {
        "lumbar_count": lumbar,
        "thoracic_count": ribs,
        "rib_pairs": ribs,
        "vertebra_scale": round(float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)), 4),
        "sacral_slope_deg": round(float(np.clip(rng.normal(38, 7), 20, 55)), 2),
        "pelvic_incidence_deg": round(float(np.clip(rng.normal(52, 9), 35, 75)), 2),
        "lumbar_lordosis_deg": round(float(np.clip(rng.normal(45, 10), 15, 70)), 2),
        "thoracic_kyphosis_deg": round(float(np.clip(rng.normal(38, 9), 15, 65)), 2),
        "cervical_lordosis_deg": round(float(np.clip(rng.normal(20, 10), -5, 45)), 2),
        "scoliosis_deg": round(float(scoliosis), 2),
        "scoliosis_direction": 1 if rng.random() < 0.5 else -1,
        "scoliosis_apex_fraction": round(float(rng.uniform(0.35, 0.75)), 3),
    }


def _draw_variants(rng, o, patient) -> dict:
    age = patient["age_years"]
    p_low_density = 0.1 if age < 50 else (0.3 if age < 70 else 0.5)
    low_density = bool(o.get("low_bone_density", rng.random() < p_low_density))
    degenerate = o.get("degenerative_discs")
    if degenerate is None:
        degenerate = int(min(5, rng.poisson(max(0.0, (age - 35.0) / 20.0))))
    hip = o.get("hip_prosthesis", _choice(rng, ("none", "left", "right", "both"), (0.96, 0.015, 0.015, 0.01)))
    if hip not in ("none", "left", "right", "both"):
        raise ValueError("hip_prosthesis must be 'none', 'left', 'right' or 'both'")
    return {
        "l1_rudimentary_rib": bool(o.get("l1_rudimentary_rib", rng.random() < 0.04)),
        "sacralized_l5": bool(o.get("sacralized_l5", rng.random() < 0.06)),
        "low_bone_density": low_density,
        "degenerative_discs": int(degenerate),
        "hip_prosthesis": hip,
        "spinal_screws": bool(o.get("spinal_screws", rng.random() < 0.02)),
        "aortic_calcification": round(float(np.clip((age - 40) / 50 * rng.uniform(0.3, 1.5), 0, 1)), 3),
        "cartilage_calcification": round(float(np.clip((age - 30) / 60 * rng.uniform(0.2, 1.2), 0, 1)), 3),
    }


def _draw_anatomy(rng, o, patient) -> dict:
    fov_hint = o.get("fov")
    p_down = 0.7 if fov_hint == "whole_body" else 0.4
    arms = o.get("arms", "down" if rng.random() < p_down else "up")
    if arms not in ("up", "down"):
        raise ValueError("arms must be 'up' or 'down'")
    phase = o.get("contrast_phase", _choice(rng, CONTRAST_PHASES, (0.3, 0.2, 0.5)))
    if phase not in CONTRAST_PHASES:
        raise ValueError(f"contrast_phase must be one of {CONTRAST_PHASES}")
    return {
        "arms": arms,
        "contrast_phase": phase,
        "contrast_injection_side": "right" if rng.random() < 0.7 else "left",
        "oral_contrast": bool(o.get("oral_contrast", rng.random() < 0.3)),
        "bowel_gas_fraction": round(float(rng.uniform(0.05, 0.6)), 3),
        "bladder_fill": round(float(rng.uniform(0.3, 1.3)), 3),
        "diaphragm_height_mm": round(float(rng.normal(0, 15)), 1),
        "kidney_height_mm": round(float(rng.normal(0, 12)), 1),
    }


def _draw_fov(rng, o) -> dict:
    kind = o.get("fov")
    in_view = o.get("l3_in_view")
    if kind is None:
        if in_view is None:
            kind = _choice(rng, STANDARD_FOV_KINDS, FOV_PROBABILITIES)
        elif in_view:
            kind = _choice(rng, STANDARD_FOV_KINDS[:4], FOV_PROBABILITIES[:4])
        else:
            kind = "l3_outside"
    if kind not in FOV_KINDS:
        raise ValueError(f"fov must be one of {FOV_KINDS}")
    if in_view is False and kind in L3_WHOLE_FOV_KINDS:
        raise ValueError(f"fov={kind!r} always holds L3: it cannot have l3_in_view=False")
    if in_view is True and (kind == "l3_outside" or kind in L3_ABSENT_FOV_KINDS):
        raise ValueError(f"fov={kind!r} cannot have l3_in_view=True")
    return {
        "kind": kind,
        "l3_in_view_requested": in_view,
        "top_margin_mm": round(float(rng.uniform(0, 40)), 1),
        "bottom_margin_mm": round(float(rng.uniform(0, 40)), 1),
        # l3_near_edge: which end is near L3 and how far the edge lies from L3's centre.
        "near_edge_end": "top" if rng.random() < 0.5 else "bottom",
        "near_edge_offset_mm": round(float(rng.uniform(-10, 30)), 1),
        # l3_outside: a chest scan ending above L3 or a pelvis scan starting below it.
        "outside_side": "above" if rng.random() < 0.6 else "below",
        "outside_gap_mm": round(float(rng.uniform(5, 120)), 1),
    }


def _draw_archive_options(rng, o, params) -> None:
    """Field-of-view profile, reconstruction, protocol and distribution (the "archive" stream).

    Each draw happens whatever the options, so that forcing one does not change the others.
    """
    profile = o.get("fov_profile", "standard")
    recon = o.get("recon")
    protocol = o.get("protocol")
    distribution = o.get("distribution", "standard")
    for name, value, allowed in (("fov_profile", profile, FOV_PROFILES), ("recon", recon, RECONSTRUCTIONS + (None,)),
                                 ("protocol", protocol, PROTOCOLS + (None,)), ("distribution", distribution, DISTRIBUTIONS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {tuple(v for v in allowed if v is not None)}")
    archive_kind = _archive_fov_kind(rng, o)
    fov_u = [round(float(u), 4) for u in rng.uniform(0.0, 1.0, 2)]
    narrow_u, protocol_u = rng.uniform(0.0, 1.0, 2)
    narrow_width_mm = float(rng.uniform(100.0, 200.0))
    narrow_offset_mm = [round(float(v), 1) for v in rng.uniform(-12.0, 12.0, 2)]
    fov = params["fov"]
    if profile == "archive" and "fov" not in o:
        fov["kind"] = archive_kind
    fov["archive_u"] = fov_u
    if recon is None:
        # Lumbar-spine CT is reconstructed narrow as a rule; other scans only now and then.
        p_narrow = (0.85 if fov["kind"] == "lumbar_spine" else 0.04) if profile == "archive" else 0.0
        recon = "narrow_spine" if narrow_u < p_narrow else "standard"
    if protocol is None:
        protocol = "pet_ct" if profile == "archive" and protocol_u < 0.12 and fov["kind"] != "lumbar_spine" else "standard"
    params["recon"] = {"kind": recon, "width_mm": round(narrow_width_mm, 1), "centre_offset_mm": narrow_offset_mm}
    params["protocol"] = protocol
    params["distribution"] = distribution
    params["fov_profile"] = profile
    if protocol == "pet_ct":
        _apply_pet_ct_protocol(rng, o, params)
    coarse = o.get("coarse_pixel_mm")
    params["acquisition"]["coarse_pixel_mm"] = None if coarse is None else float(coarse)


def _archive_fov_kind(rng, o) -> str:
    in_view = o.get("l3_in_view")
    if in_view is None:
        return _choice(rng, FOV_KINDS, ARCHIVE_FOV_PROBABILITIES)
    allowed = L3_WHOLE_FOV_KINDS if in_view else L3_ABSENT_FOV_KINDS + ("l3_outside", "l3_near_edge")
    weights = [p for kind, p in zip(FOV_KINDS, ARCHIVE_FOV_PROBABILITIES) if kind in allowed]
    return _choice(rng, [kind for kind in FOV_KINDS if kind in allowed], weights)


# The CT of a PET/CT: low dose, thick slices, a smooth kernel, arms up, no contrast, long ranges.
PET_CT_SLICE_THICKNESSES_MM = (3.0, 3.27, 3.75, 4.0, 4.25, 5.0)


def _apply_pet_ct_protocol(rng, o, params) -> None:
    acquisition, anatomy = params["acquisition"], params["anatomy"]
    thickness = float(PET_CT_SLICE_THICKNESSES_MM[int(rng.integers(len(PET_CT_SLICE_THICKNESSES_MM)))])
    noise = float(np.clip(np.exp(rng.normal(np.log(40.0), 0.3)), 20.0, 90.0))
    blur = float(rng.uniform(0.8, 1.4))
    arms_up = rng.random() < 0.85
    whole_body = rng.random() < 0.5
    if acquisition["voxel_mm"] is None and "slice_thickness_mm" not in o:
        acquisition["slice_thickness_mm"] = thickness
    if "noise_sd_hu" not in o:
        acquisition["noise_sd_hu"] = round(noise, 2)
    if "blur_sigma_mm" not in o:
        acquisition["blur_sigma_mm"] = round(blur, 3)
    if "arms" not in o:
        anatomy["arms"] = "up" if arms_up else "down"
    if "contrast_phase" not in o:
        anatomy["contrast_phase"] = "none"
    if "oral_contrast" not in o:
        anatomy["oral_contrast"] = False
    if whole_body and "fov" not in o and params["fov"]["kind"] in L3_WHOLE_FOV_KINDS:
        params["fov"]["kind"] = "whole_body"


def _draw_shape(rng, patient) -> dict:
    female = patient["sex"] == "female"
    return {
        "crest_half_width_mm": round(float(np.clip(rng.normal(143.0 if female else 138.0, 9.0), 115.0, 170.0)), 1),
        "crest_height_mm": round(float(np.clip(rng.normal(8.0, 13.0), -22.0, 36.0)), 1),
        "hip_drop_factor": round(float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)), 3),
        "hip_half_spacing_mm": round(float(rng.normal(90.0 if female else 85.0, 5.0)), 1),
        "wing_flare": round(float(np.clip(rng.normal(1.0, 0.07), 0.85, 1.15)), 3),
        "asis_drop_mm": round(float(rng.uniform(38.0, 56.0)), 1),
        "fossa_depth_mm": round(float(rng.uniform(5.0, 16.0)), 1),
        "rib_slope_offset_deg": round(float(np.clip(rng.normal(0.0, 5.0), -12.0, 12.0)), 2),
        "rib_bend": round(float(rng.uniform(1.2, 2.0)), 3),
        "last_rib_reach": round(float(rng.uniform(0.2, 0.5)), 3),
        "second_last_rib_reach": round(float(rng.uniform(0.42, 0.7)), 3),
        "body_width_factor": round(float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.18)), 3),
        "body_height_factor": round(float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)), 3),
        "disc_height_factor": round(float(np.clip(rng.normal(1.0, 0.12), 0.7, 1.3)), 3),
        "tp_length_factor": round(float(np.clip(rng.normal(1.0, 0.12), 0.75, 1.3)), 3),
        "l4_tp_rise_deg": round(float(rng.uniform(0.0, 15.0)), 1),
        "l5_tp_rise_deg": round(float(rng.uniform(8.0, 30.0)), 1),
    }


def _draw_acquisition(rng, o, voxel_mm, params) -> dict:
    thickness = o.get("slice_thickness_mm", _choice(rng, SLICE_THICKNESSES_MM, SLICE_THICKNESS_PROBABILITIES))
    fov_factor = float(rng.uniform(1.05, 1.35))
    pixel = o.get("pixel_spacing_mm")
    habitus = params["patient"]["habitus"]
    noise_base = float(np.exp(rng.normal(np.log(12.0), 0.35)))
    grain = float(rng.uniform(0.5, 1.0))
    blur = float(o.get("blur_sigma_mm", rng.uniform(0.3, 0.8)))
    hu_cap = o.get("hu_cap", _choice(rng, (None, 3071, 1023), (0.3, 0.6, 0.1)))
    padding = o.get("padding_value", _choice(rng, (None, -2048, -3024), (0.6, 0.2, 0.2)))
    if hu_cap not in (None, 1023, 3071):
        raise ValueError("hu_cap must be None, 1023 or 3071")
    if padding not in (None, -2048, -3024):
        raise ValueError("padding_value must be None, -2048 or -3024")
    if voxel_mm is not None:
        thickness = float(voxel_mm)
        pixel = float(voxel_mm)
    noise = o.get("noise_sd_hu")
    if noise is None:
        noise = noise_base * np.sqrt(2.5 / float(thickness)) * (1.4 if habitus == "obese" else 1.0)
        noise = float(np.clip(noise, 3, 60))
    return {
        "voxel_mm": None if voxel_mm is None else float(voxel_mm),
        "slice_thickness_mm": float(thickness),
        "pixel_spacing_mm": None if pixel is None else float(pixel),  # None: set from the body width
        "in_plane_fov_mm": None if o.get("in_plane_fov_mm") is None else float(o["in_plane_fov_mm"]),
        "fov_over_body_width": round(fov_factor, 3),
        "noise_sd_hu": round(float(noise), 2),
        "noise_grain_mm": round(grain, 3),
        "blur_sigma_mm": round(blur, 3),
        "blur_z_fraction": round(float(rng.uniform(0.2, 0.45)), 3),
        "hu_cap": hu_cap,
        "clip_below_minus_1024": bool(rng.random() < 0.8),
        "padding_value": padding,
        "scan_circle_fraction": round(float(rng.uniform(0.97, 1.0)), 3),
        "streak_seed": int(rng.integers(0, 2**31 - 1)),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
    }
