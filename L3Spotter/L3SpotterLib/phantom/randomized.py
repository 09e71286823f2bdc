"""The randomised training family (``distribution="randomized"``): anatomy and acquisition drawn wider than
real populations, so that what varies between patients and scanners cannot serve as a cue.

The shifted bench (``shifted.py``) showed where phantom-trained models fail: a long or a very short last
rib, an iliac crest far from L4-L5, a sixth lumbar vertebra, bone kernels that ring at cortical edges,
bone densities and noise of other scanners. Following METHOD.md (randomise appearance broadly, randomise
anatomy too), this family widens those axes for training. It does not copy the bench: its draws are
broad uniform ranges, and the bench's other shifts (body size, positioning, table, soft-tissue HU, vertebra
and disc proportions, scoliosis and kyphosis) stay out of it, so the bench keeps shifts that training never
sees. The README says which bench axes this family covers.

===========================  ===============================================  ==========================
parameter                    randomised family                                standard
===========================  ===============================================  ==========================
lumbar_count                 4: 10 %, 5: 78 %, 6: 12 %                        3 / 91 / 6 %
rib_pairs                    11: 10 %, 12: 80 %, 13: 10 %                     5 / 92 / 3 %
l1_rudimentary_rib           10 %                                             4 %
sacralized_l5                10 %                                             6 %
last_rib_reach               uniform(0.05, 1.0)                               0.2-0.5
second_last_rib_reach        uniform(0.3, 1.0)                                0.42-0.7
crest_height_mm              uniform(-40, 55)                                 normal(8, 13) in -22..36
crest_half_width_mm          uniform(100, 190)                                normal(~140, 9)
rib_slope_offset_deg         uniform(-22, 22)                                 normal(0, 5) in +-12
bone HU                      cortical x uniform(0.5, 1.5), cancellous         realistic ranges
                             x uniform(0.4, 1.8), discs x uniform(0.5, 1.8)
slice thickness              0.625-6 mm (standard draw, or 3-6 mm 40 %)       0.625-5 mm
noise                        lognormal around 20 HU (sd of log 0.6), grain    around 12 HU, 0.5-1.0 mm
                             0.4-2.0 mm
kernel                       soft (blur 0.8-1.8 mm) 30 %, sharp (edge         blur 0.3-0.8 mm
                             enhancement 0.2-1.5) 40 %, standard 30 %
hu_cap                       1023: 25 %, 3071: 50 %, none: 25 %               10 / 60 / 30 %
===========================  ===============================================  ==========================
"""

from __future__ import annotations

import numpy as np

from .shifted import apply_image_draws, apply_spine_variant_draws, draw_kernel, draw_tissue_hu_shift

RANDOMIZED_THICK_SLICES_MM = (3.0, 3.27, 3.75, 4.0, 4.25, 5.0, 6.0)


def randomize_parameters(rng: np.random.Generator, o: dict, params: dict) -> None:
    """Redraw ``params`` (from ``sampling.draw_parameters``) from the randomised family, in place."""
    draws = _draw_all(rng)
    shape, acquisition = params["shape"], params["acquisition"]
    apply_spine_variant_draws(draws, o, params)
    for key in ("last_rib_reach", "second_last_rib_reach", "crest_height_mm", "crest_half_width_mm", "rib_slope_offset_deg"):
        shape[key] = draws[key]
    if acquisition["voxel_mm"] is None and "slice_thickness_mm" not in o and draws["thick_slices"]:
        acquisition["slice_thickness_mm"] = draws["slice_thickness_mm"]
    apply_image_draws(draws, o, params)


def _draw_all(rng: np.random.Generator) -> dict:
    """Every draw of the family, in a fixed order (so that overrides do not move the others)."""
    kernel = draw_kernel(rng, (0.30, 0.40, 0.30), soft_blur_mm=(0.8, 1.8), sharp_amount=(0.2, 1.5), standard_blur_mm=(0.3, 0.8))
    return {
        "lumbar_count": int(rng.choice((4, 5, 6), p=(0.10, 0.78, 0.12))),
        "rib_pairs": int(rng.choice((11, 12, 13), p=(0.10, 0.80, 0.10))),
        "l1_rudimentary_rib": bool(rng.random() < 0.10),
        "sacralized_l5": bool(rng.random() < 0.10),
        "last_rib_reach": round(float(rng.uniform(0.05, 1.0)), 3),
        "second_last_rib_reach": round(float(rng.uniform(0.3, 1.0)), 3),
        "crest_height_mm": round(float(rng.uniform(-40.0, 55.0)), 1),
        "crest_half_width_mm": round(float(rng.uniform(100.0, 190.0)), 1),
        "rib_slope_offset_deg": round(float(rng.uniform(-22.0, 22.0)), 2),
        "thick_slices": bool(rng.random() < 0.4),
        "slice_thickness_mm": float(RANDOMIZED_THICK_SLICES_MM[int(rng.integers(len(RANDOMIZED_THICK_SLICES_MM)))]),
        "noise_sd_hu": round(float(np.clip(np.exp(rng.normal(np.log(20.0), 0.6)), 3.0, 100.0)), 2),
        "noise_grain_mm": round(float(rng.uniform(0.4, 2.0)), 3),
        **kernel,
        "hu_cap": [1023, 3071, None][int(rng.choice(3, p=(0.25, 0.50, 0.25)))],
        "tissue_hu_shift": draw_tissue_hu_shift(rng, (0.5, 1.5), (0.4, 1.8), (0.5, 1.8), soft_sd_hu=None),
    }
