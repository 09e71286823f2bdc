"""Tissue attenuation (HU) of one phantom: realistic draws, optionally pushed towards random ones.

Each tissue has a realistic range (what real CT shows; sources: standard radiology tables) and a wide
range for domain randomisation. With ``intensity_randomization = r`` a tissue gets
``realistic + r * (wide - realistic)``, where both are uniform draws from their ranges: ``r = 0`` is
plain realism, ``r = 1`` is SynthSeg-style random contrast in which only anatomy stays stable.

Cortical and cancellous values are for the *material*; the soft-edged rasteriser and the blur average
thin cortex with its neighbours, so voxels show the lower values of real scans.
"""

from __future__ import annotations

import numpy as np

# name: (realistic_low, realistic_high, wide_low, wide_high) in HU
TISSUE_HU: dict[str, tuple[float, float, float, float]] = {
    "air": (-1010, -990, -1024, -900),
    "lung": (-880, -800, -950, -600),
    "fat": (-115, -85, -160, -20),
    "skin": (20, 60, -40, 120),
    "muscle": (35, 60, -10, 120),
    "blood": (35, 50, 0, 100),
    "liver": (50, 65, 10, 120),
    "spleen": (40, 55, 10, 110),
    "kidney": (25, 40, 0, 90),
    "bowel_wall": (30, 50, 0, 110),
    "bowel_fluid": (0, 25, -40, 80),
    "stool": (-120, 20, -300, 100),
    "urine": (0, 15, -20, 60),
    "brain": (28, 40, 0, 90),
    "disc": (70, 100, 30, 200),
    "costal_cartilage": (90, 160, 40, 300),
    "cancellous": (160, 280, 60, 450),
    "cancellous_osteoporotic": (50, 120, 0, 250),
    "cortical": (1300, 1900, 600, 2400),
    "marrow": (-60, 30, -120, 120),
    "calcification": (400, 900, 200, 1500),
    "metal": (3200, 8000, 3000, 12000),
    "oral_contrast": (180, 600, 100, 1000),
    "table_skin": (100, 500, -200, 900),
    "table_core": (-950, -800, -1000, -500),
    "pad": (-900, -700, -1000, -200),
}

# Contrast enhancement by phase: name -> {phase: (realistic_low, realistic_high, wide_low, wide_high)}
ENHANCED_HU: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "artery": {"none": (35, 50, 0, 100), "arterial": (250, 400, 150, 700), "venous": (150, 200, 100, 350)},
    "vein": {"none": (35, 50, 0, 100), "arterial": (60, 110, 20, 250), "venous": (130, 180, 80, 300)},
    "portal_vein": {"none": (35, 50, 0, 100), "arterial": (90, 140, 40, 250), "venous": (150, 200, 80, 300)},
    "liver": {"none": (50, 65, 10, 120), "arterial": (65, 85, 20, 150), "venous": (100, 125, 40, 200)},
    "spleen": {"none": (40, 55, 10, 110), "arterial": (100, 150, 40, 250), "venous": (110, 130, 40, 220)},
    "kidney_cortex": {"none": (25, 40, 0, 90), "arterial": (150, 250, 80, 400), "venous": (150, 210, 80, 350)},
    "kidney_medulla": {"none": (25, 40, 0, 90), "arterial": (60, 100, 20, 200), "venous": (140, 200, 80, 350)},
    "myocardium": {"none": (35, 50, 0, 100), "arterial": (90, 130, 30, 250), "venous": (80, 110, 30, 200)},
    "bowel_wall": {"none": (30, 50, 0, 110), "arterial": (60, 100, 20, 200), "venous": (70, 110, 20, 200)},
    "muscle": {"none": (35, 60, -10, 120), "arterial": (40, 65, -10, 130), "venous": (45, 70, -10, 130)},
    # undiluted contrast in the arm vein on the injection side, during and just after injection
    "injection_vein": {"none": (35, 50, 0, 100), "arterial": (600, 2200, 300, 3000), "venous": (150, 300, 80, 600)},
}


def draw_tissue_hu(rng: np.random.Generator, phase: str, randomization: float, low_bone_density: bool) -> dict:
    """One HU value per tissue name for this phantom (JSON-ready floats, rounded to 0.1 HU)."""
    values = {}
    for name, ranges in TISSUE_HU.items():
        values[name] = _draw(rng, ranges, randomization)
    for name, by_phase in ENHANCED_HU.items():
        values[name] = _draw(rng, by_phase[phase], randomization)
    if low_bone_density:
        values["cancellous"] = values["cancellous_osteoporotic"]
        values["cortical"] = round(values["cortical"] * 0.75, 1)
    return values


def _draw(rng, ranges, randomization) -> float:
    low, high, wide_low, wide_high = ranges
    realistic = rng.uniform(low, high)
    wide = rng.uniform(wide_low, wide_high)
    return round(float(realistic + randomization * (wide - realistic)), 1)
