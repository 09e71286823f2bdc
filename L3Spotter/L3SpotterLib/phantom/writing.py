"""Write phantoms as case folders (ct.nii.gz, vertebrae.nii.gz, case.json), each file atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..geometry import lps_from_ijk_to_ras

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


def _image(array: np.ndarray, ijk_to_ras: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    origin_lps, spacing_mm, direction_lps = lps_from_ijk_to_ras(ijk_to_ras)
    image.SetOrigin(tuple(float(v) for v in origin_lps))
    image.SetSpacing(tuple(float(v) for v in spacing_mm))
    image.SetDirection(tuple(float(v) for v in direction_lps.ravel()))
    return image


def _atomic_write_image(image: sitk.Image, path: Path) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".nii.gz", dir=path.parent)
    os.close(fd)
    try:
        sitk.WriteImage(image, temporary, useCompression=True)
        os.chmod(temporary, 0o644)  # mkstemp makes files private; case files are ordinary data
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _atomic_write_text(text: str, path: Path) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_phantom_case(phantom, folder) -> Path:
    """Write ``phantom`` into ``folder`` (created if needed) and return the folder's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write_image(_image(phantom.ct, phantom.ijk_to_ras), folder / CT_NAME)
    _atomic_write_image(_image(phantom.labels, phantom.ijk_to_ras), folder / LABELS_NAME)
    _atomic_write_text(json.dumps(phantom.case, indent=1) + "\n", folder / CASE_NAME)
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
