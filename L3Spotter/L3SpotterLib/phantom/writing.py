"""Write phantoms as case folders (ct.nii.gz, vertebrae.nii.gz, case.json), each file atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..atomic_files import atomic_write_text, atomic_write_via
from ..volume_io import image_from_array

CT_NAME = "ct.nii.gz"
LABELS_NAME = "vertebrae.nii.gz"
CASE_NAME = "case.json"


def case_seeds(seed: int, count: int) -> list[int]:
    """``count`` distinct case seeds derived deterministically from ``seed`` (0 <= s < 2**31)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x50484E54]))  # "PHNT"
    seeds: list[int] = []
    while len(seeds) < count:
        candidate = int(rng.integers(0, 2**31 - 1))
        if candidate not in seeds:
            seeds.append(candidate)
    return seeds


def write_phantom_case(phantom, folder) -> Path:
    """Write ``phantom`` into ``folder`` (created if needed) and return the folder's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for array, name in ((phantom.ct, CT_NAME), (phantom.labels, LABELS_NAME)):
        image = image_from_array(array, phantom.ijk_to_ras)
        atomic_write_via(folder / name, lambda temporary: sitk.WriteImage(image, temporary, useCompression=True), suffix=".nii.gz")
    atomic_write_text(folder / CASE_NAME, json.dumps(phantom.case, indent=1) + "\n")
    return folder


def write_phantom_cases(out_dir, count: int, seed: int, voxel_mm: float | None = None, progress: bool = True, **overrides) -> list[Path]:
    """Generate and write ``count`` phantoms into ``out_dir/phantom_<case seed>/``; return the folders."""
    from .generator import generate_phantom

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = case_seeds(seed, count)
    iterator = seeds
    if progress:
        try:
            from tqdm import tqdm

            iterator = tqdm(seeds, desc="phantoms", unit="case")
        except ImportError:  # pragma: no cover - tqdm is a dependency
            pass
    folders = []
    for case_seed in iterator:
        phantom = generate_phantom(case_seed, voxel_mm, **overrides)
        folders.append(write_phantom_case(phantom, out_dir / f"phantom_{case_seed}"))
    return folders
