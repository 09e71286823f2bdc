"""The shifted phantom family: a held-out proxy for real scans (``distribution="shifted"``).

Real scans differ from the training phantoms in ways nobody has listed. This family redraws many
parameters from distributions that are deliberately *different* from the standard ones (wider, moved, or
of another kind), so that a model which only learnt the standard phantoms does measurably worse here.
It is used for measurement only: never for training, model selection, output curves or thresholds.

What changes, against the standard draw of ``sampling.py`` (every draw from the "shift" stream):

===========================  ===============================================  ==========================
parameter                    shifted family                                   standard
===========================  ===============================================  ==========================
lumbar_count                 4: 8 %, 5: 82 %, 6: 10 %                         3 / 91 / 6 %
rib_pairs                    11: 10 %, 12: 82 %, 13: 8 %                      5 / 92 / 3 %
l1_rudimentary_rib           10 %                                             4 %
sacralized_l5                12 %                                             6 %
last_rib_reach               half long (0.55-0.95: tip at L2-L3), half        0.2-0.5
                             short (0.08-0.2)
second_last_rib_reach        0.6-1.0                                          0.42-0.7
crest_height_mm              uniform(-35, 50) (intercristal line from L5      normal(8, 13) in -22..36
                             to the L3 body)
crest_half_width_mm          uniform(105, 185)                                normal(~140, 9)
rib_slope_offset_deg         uniform(-20, 20)                                 normal(0, 5) in +-12
body / disc height factors   uniform(0.82, 1.2) / uniform(0.55, 1.45)         ~1 +- 0.05 / 0.12
tp_length_factor             uniform(0.6, 1.5)                                normal(1, 0.12)
scoliosis_deg                45 %: uniform(10, 40)                            12 %: 5-25
thoracic kyphosis, lordosis  uniform(15, 80), uniform(5, 75)                  normal(38, 9), normal(45, 10)
size_scale                   uniform(0.8, 1.2)                                normal(1, 0.05)
patient roll / pitch         uniform(-15, 15) / uniform(-12, 12) deg          normal(0, 3), +-8
table offset                 uniform(-60, 60) mm sideways                     normal(0, 15)
arms                         up 75 %                                          up 60 %
bone HU                      cortical x uniform(0.6, 1.35), cancellous        realistic ranges
                             x uniform(0.5, 1.6), discs x uniform(0.6, 1.6)
soft tissue HU               every soft tissue + normal(0, 15)                realistic ranges
slice thickness              2.5, 3, 3.27, 4, 4.25, 5, 6 mm                   0.625-5 mm
noise                        lognormal around 28 HU, grain 0.9-1.8 mm         around 12 HU, 0.5-1.0 mm
kernel                       soft (blur 0.9-1.6 mm) 40 %, sharp (edge         blur 0.3-0.8 mm, no
                             enhancement 0.4-1.2) 35 %, standard 25 %         enhancement
hu_cap                       1023: 30 %, 3071: 50 %, none: 20 %               10 / 60 / 30 %
protocol                     PET/CT (low dose) 30 %                           never
===========================  ===============================================  ==========================

An explicit override still wins over the family's draw.
"""

from __future__ import annotations

import numpy as np

SHIFTED_SLICE_THICKNESSES_MM = (2.5, 3.0, 3.27, 4.0, 4.25, 5.0, 6.0)
_SOFT_TISSUES = ("fat", "skin", "muscle", "blood", "liver", "spleen", "kidney", "bowel_wall", "bowel_fluid", "brain")


def _putter(o: dict):
    """Set a drawn value unless the caller overrode that parameter."""
    def put(record: dict, key: str, value) -> None:
        if key not in o:
            record[key] = value

    return put


def apply_spine_variant_draws(draws: dict, o: dict, params: dict) -> None:
    """The drawn lumbar count, rib pairs and transitional vertebrae (shared by the shifted and randomised families)."""
    put, spine, variants = _putter(o), params["spine"], params["variants"]
    put(spine, "lumbar_count", draws["lumbar_count"])
    if "rib_pairs" not in o:
        spine["rib_pairs"] = spine["thoracic_count"] = draws["rib_pairs"]
    put(variants, "l1_rudimentary_rib", draws["l1_rudimentary_rib"])
    put(variants, "sacralized_l5", draws["sacralized_l5"])


def apply_image_draws(draws: dict, o: dict, params: dict) -> None:
    """The drawn noise, kernel, HU cap and tissue HU shift (shared by the shifted and randomised families)."""
    put, acquisition = _putter(o), params["acquisition"]
    put(acquisition, "noise_sd_hu", draws["noise_sd_hu"])
    acquisition["noise_grain_mm"] = draws["noise_grain_mm"]
    put(acquisition, "blur_sigma_mm", draws["blur_sigma_mm"])
    acquisition["sharpen_amount"] = draws["sharpen_amount"]
    put(acquisition, "hu_cap", draws["hu_cap"])
    params["tissue_hu_shift"] = draws["tissue_hu_shift"]


def shift_parameters(rng: np.random.Generator, o: dict, params: dict) -> None:
    """Redraw ``params`` (from ``sampling.draw_parameters``) from the shifted family, in place."""
    draws = _draw_all(rng)
    spine, shape = params["spine"], params["shape"]
    patient, anatomy, acquisition = params["patient"], params["anatomy"], params["acquisition"]

    put = _putter(o)
    apply_spine_variant_draws(draws, o, params)
    put(spine, "scoliosis_deg", draws["scoliosis_deg"])
    spine["thoracic_kyphosis_deg"] = draws["thoracic_kyphosis_deg"]
    spine["lumbar_lordosis_deg"] = draws["lumbar_lordosis_deg"]
    for key in ("last_rib_reach", "second_last_rib_reach", "crest_height_mm", "crest_half_width_mm", "rib_slope_offset_deg",
                "body_height_factor", "disc_height_factor", "tp_length_factor"):
        shape[key] = draws[key]
    patient["size_scale"] = draws["size_scale"]
    put(patient, "patient_rotation_deg", draws["patient_rotation_deg"])
    put(patient, "patient_tilt_deg", draws["patient_tilt_deg"])
    patient["table_offset_x_mm"] = draws["table_offset_x_mm"]
    put(anatomy, "arms", draws["arms"])
    if acquisition["voxel_mm"] is None and "slice_thickness_mm" not in o:
        acquisition["slice_thickness_mm"] = draws["slice_thickness_mm"]
    apply_image_draws(draws, o, params)
    if "protocol" not in o and draws["pet_ct"] and params["protocol"] == "standard":
        from .sampling import _apply_pet_ct_protocol

        params["protocol"] = "pet_ct"
        _apply_pet_ct_protocol(rng, o, params)


def shift_tissue_hu(hu: dict, shift: dict) -> dict:
    """The phantom's tissue HU with the family's bone gains and soft-tissue offsets applied."""
    shifted = dict(hu)
    for name in ("cortical",):
        shifted[name] = round(hu[name] * shift["cortical_gain"], 1)
    for name in ("cancellous", "cancellous_osteoporotic"):
        shifted[name] = round(hu[name] * shift["cancellous_gain"], 1)
    shifted["disc"] = round(hu["disc"] * shift["disc_gain"], 1)
    for name in _SOFT_TISSUES:
        shifted[name] = round(hu[name] + shift["soft_offsets_hu"].get(name, 0.0), 1)
    return shifted


def draw_kernel(rng: np.random.Generator, p_soft_sharp_standard, soft_blur_mm, sharp_amount, standard_blur_mm) -> dict:
    """A reconstruction kernel: soft (blur), sharp (edge enhancement over a 0.3 mm blur) or standard."""
    kernel = rng.choice(("soft", "sharp", "standard"), p=p_soft_sharp_standard)
    soft_blur, sharp, standard_blur = rng.uniform(*soft_blur_mm), rng.uniform(*sharp_amount), rng.uniform(*standard_blur_mm)
    return {
        "blur_sigma_mm": round(float({"soft": soft_blur, "sharp": 0.3, "standard": standard_blur}[kernel]), 3),
        "sharpen_amount": round(float(sharp if kernel == "sharp" else 0.0), 3),
    }


def draw_tissue_hu_shift(rng: np.random.Generator, cortical_gain, cancellous_gain, disc_gain, soft_sd_hu: float | None) -> dict:
    """Gains on bone and disc HU, and offsets on soft tissues (none when ``soft_sd_hu`` is None)."""
    return {
        "cortical_gain": round(float(rng.uniform(*cortical_gain)), 3),
        "cancellous_gain": round(float(rng.uniform(*cancellous_gain)), 3),
        "disc_gain": round(float(rng.uniform(*disc_gain)), 3),
        "soft_offsets_hu": {} if soft_sd_hu is None else {name: round(float(rng.normal(0.0, soft_sd_hu)), 1) for name in _SOFT_TISSUES},
    }


def _draw_all(rng: np.random.Generator) -> dict:
    """Every draw of the family, in a fixed order (so that overrides do not move the others)."""
    lumbar = int(rng.choice((4, 5, 6), p=(0.08, 0.82, 0.10)))
    ribs = int(rng.choice((11, 12, 13), p=(0.10, 0.82, 0.08)))
    long_last_rib = rng.random() < 0.5
    last_reach = rng.uniform(0.55, 0.95) if long_last_rib else rng.uniform(0.08, 0.2)
    kernel = draw_kernel(rng, (0.40, 0.35, 0.25), soft_blur_mm=(0.9, 1.6), sharp_amount=(0.4, 1.2), standard_blur_mm=(0.4, 0.8))
    draws = {
        "lumbar_count": lumbar,
        "rib_pairs": ribs,
        "l1_rudimentary_rib": bool(rng.random() < 0.10),
        "sacralized_l5": bool(rng.random() < 0.12),
        "scoliosis_deg": round(float(rng.uniform(10.0, 40.0)) if rng.random() < 0.45 else 0.0, 2),
        "thoracic_kyphosis_deg": round(float(rng.uniform(15.0, 80.0)), 2),
        "lumbar_lordosis_deg": round(float(rng.uniform(5.0, 75.0)), 2),
        "last_rib_reach": round(float(last_reach), 3),
        "second_last_rib_reach": round(float(rng.uniform(0.6, 1.0)), 3),
        "crest_height_mm": round(float(rng.uniform(-35.0, 50.0)), 1),
        "crest_half_width_mm": round(float(rng.uniform(105.0, 185.0)), 1),
        "rib_slope_offset_deg": round(float(rng.uniform(-20.0, 20.0)), 2),
        "body_height_factor": round(float(rng.uniform(0.82, 1.2)), 3),
        "disc_height_factor": round(float(rng.uniform(0.55, 1.45)), 3),
        "tp_length_factor": round(float(rng.uniform(0.6, 1.5)), 3),
        "size_scale": round(float(rng.uniform(0.8, 1.2)), 4),
        "patient_rotation_deg": round(float(rng.uniform(-15.0, 15.0)), 2),
        "patient_tilt_deg": round(float(rng.uniform(-12.0, 12.0)), 2),
        "table_offset_x_mm": round(float(rng.uniform(-60.0, 60.0)), 1),
        "arms": "up" if rng.random() < 0.75 else "down",
        "slice_thickness_mm": float(SHIFTED_SLICE_THICKNESSES_MM[int(rng.integers(len(SHIFTED_SLICE_THICKNESSES_MM)))]),
        "noise_sd_hu": round(float(np.clip(np.exp(rng.normal(np.log(28.0), 0.4)), 8.0, 90.0)), 2),
        "noise_grain_mm": round(float(rng.uniform(0.9, 1.8)), 3),
        **kernel,
        "hu_cap": [1023, 3071, None][int(rng.choice(3, p=(0.30, 0.50, 0.20)))],
        "tissue_hu_shift": draw_tissue_hu_shift(rng, (0.6, 1.35), (0.5, 1.6), (0.6, 1.6), soft_sd_hu=15.0),
        "pet_ct": bool(rng.random() < 0.30),
    }
    return draws
