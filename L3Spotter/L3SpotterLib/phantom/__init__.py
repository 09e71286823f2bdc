"""Synthetic CT phantoms with exact vertebra labels: training data, test data and demo samples.

Public API
----------
``generate_phantom(seed, voxel_mm=None, **overrides) -> Phantom``
    One CT volume in HU (int16, indexed [k, j, i] like SimpleITK), its VerSe vertebra label map
    (uint8), the 4x4 IJK->RAS matrix, the case.json dict and every drawn parameter. The same seed and
    arguments give the identical volume. ``voxel_mm=None`` draws a realistic scanner spacing
    (512 x 512 pixels of 0.5-1 mm, slices 0.625-5 mm); ``voxel_mm=2.0`` gives isotropic 2 mm voxels.
    Files use one orientation: LPS direction identity, i to the left, j posterior, k (the slice
    index) towards superior.

    Overrides (all optional; see ``sampling.OVERRIDES`` and the distributions in ``sampling.py``):
    ``fov`` (chest_abdomen_pelvis, abdomen_pelvis, abdomen, whole_body, l3_near_edge, l3_outside),
    ``l3_in_view`` (True/False), ``lumbar_count`` (4/5/6), ``rib_pairs`` (11/12/13),
    ``l1_rudimentary_rib``, ``sacralized_l5``, ``scoliosis_deg``, ``low_bone_density``,
    ``degenerative_discs`` (count), ``hip_prosthesis`` (none/left/right/both), ``spinal_screws``,
    ``arms`` (up/down), ``contrast_phase`` (none/arterial/venous), ``oral_contrast``, ``habitus``
    (thin/normal/overweight/obese), ``sex``, ``age_years``, ``patient_rotation_deg``,
    ``patient_tilt_deg``, ``slice_thickness_mm``, ``pixel_spacing_mm``, ``in_plane_fov_mm``,
    ``noise_sd_hu``, ``blur_sigma_mm``, ``hu_cap`` (None/1023/3071), ``padding_value``
    (None/-2048/-3024), ``intensity_randomization`` (0..1).

``write_phantom_case(phantom, folder) -> Path``
    ct.nii.gz, vertebrae.nii.gz and case.json, each written to a temporary file then renamed.

``write_phantom_cases(out_dir, count, seed, voxel_mm=None, progress=True) -> list[Path]``
    ``count`` cases in ``out_dir/phantom_<case seed>``, case seeds derived from ``seed``.

``add_phantom_arguments(parser)`` / ``run_phantom_command(args) -> int``
    The ``l3spotter phantom --out DIR --count N --seed S [--voxel-mm MM]`` command.

Bones are shaped for what a maximum intensity projection shows (thin cortex and faint cancellous
bone, bright rims, endplates and pedicles; ``ilium.py``, ``sacrum.py``, ``vertebra.py``, ``ribs.py``,
``scapula.py``) and their shapes are drawn per seed (``shape`` in ``sampling.py``); see
docs/phantom_realism.md.

Labels follow the project's convention: L3 is the third lumbar vertebra counted from the top. A 13th
rib-bearing vertebra is T13 (28); with 11 rib pairs there is no T12; a 6th lumbar is L6 (25).
"""

from .command import add_phantom_arguments, run_phantom_command

# The generator pulls in scipy.ndimage (0.7 s): imported on first use, so that the l3spotter command, which
# only needs the phantom command's arguments to build its parser, starts without it.
_LAZY = {
    "GENERATOR_VERSION": "generator", "Phantom": "generator", "generate_phantom": "generator",
    "OVERRIDES": "sampling", "case_seeds": "writing", "write_phantom_case": "writing", "write_phantom_cases": "writing",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "GENERATOR_VERSION",
    "OVERRIDES",
    "Phantom",
    "add_phantom_arguments",
    "case_seeds",
    "generate_phantom",
    "run_phantom_command",
    "write_phantom_case",
    "write_phantom_cases",
]
