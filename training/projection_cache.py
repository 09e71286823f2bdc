"""Projections of every training scan, computed once with the engine's own code and kept on disk.

An epoch then reads small 2-D arrays instead of volumes. A cached projection is keyed by the scan
(path, size and modification time; or phantom seed and generator version) and by everything that shapes
the projection (views, mm grid, width, HU window), so a change to any of them recomputes it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from L3SpotterLib.atomic_files import atomic_write_bytes
from L3SpotterLib.geometry import VolumeGeometry
from L3SpotterLib.mip import MipGrid, project_views
from L3SpotterLib.vertebral_levels import sequence_levels
from L3SpotterLib.volume_io import load_ct

from .annotations import AnnotatedScan
from .window_sampler import TrainingProjection

# Bump when the projection code changes in a way that alters pixels.
PROJECTION_VERSION = 1


@dataclass(frozen=True)
class ProjectionSpec:
    views: tuple[str, ...]
    grid: MipGrid
    phantom_voxel_mm: float | None = 2.0
    # Domain randomisation: each phantom's tissue HU wander towards random by up to this much (0..1).
    phantom_intensity_randomization: float = 0.0
    # With phantom_voxel_mm None: realistic acquisitions (drawn slice thickness, noise) with these in-plane
    # pixels, as training.evaluate makes them with --phantom-pixel-mm.
    phantom_pixel_mm: float | None = None

    def key(self) -> str:
        fields = [
            PROJECTION_VERSION, list(self.views), self.grid.row_mm, self.grid.col_mm, self.grid.width_px,
            list(self.grid.hu_window), self.phantom_voxel_mm, self.phantom_intensity_randomization,
        ]
        if self.phantom_pixel_mm is not None:  # only then, so that existing caches keep their keys
            fields.append(self.phantom_pixel_mm)
        text = json.dumps(fields)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def load_projections(scans: list[AnnotatedScan], spec: ProjectionSpec, cache_dir: Path, workers: int = 1, progress: bool = True) -> list[TrainingProjection]:
    """Cached projections of ``scans`` (computed in ``workers`` processes where missing), in order."""
    from tqdm import tqdm

    folder = Path(cache_dir) / spec.key()
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{_scan_key(scan, spec)}.npz" for scan in scans]
    missing = [(scan, path) for scan, path in zip(scans, paths) if not path.is_file()]
    if missing:
        bar = tqdm(total=len(missing), desc="projections", unit="scan", disable=not progress, file=sys.stderr)
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(_compute_and_store, [(scan, spec, path) for scan, path in missing], chunksize=4):
                    bar.update(1)
        else:
            for scan, path in missing:
                _compute_and_store((scan, spec, path))
                bar.update(1)
        bar.close()
    return [read_projection(path) for path in paths]


def read_projection(path: Path) -> TrainingProjection:
    with np.load(path) as data:
        return TrainingProjection(
            pixels=data["pixels"].astype(np.float32),
            l3_row=float(data["l3_row"]),
            case_id=str(data["case_id"]),
            slice_thickness_mm=float(data["slice_thickness_mm"]),
            in_view=bool(data["in_view"]),
            level_rows=tuple(map(tuple, data["level_rows"].tolist())) if "level_rows" in data else (),
        )


def _compute_and_store(job) -> None:
    scan, spec, path = job
    projection = compute_non_anatomical_projection(scan, spec) if scan.origin == "non_anatomical" else compute_projection(scan, spec)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        pixels=projection.pixels.astype(np.float16),
        l3_row=projection.l3_row,
        case_id=projection.case_id,
        slice_thickness_mm=projection.slice_thickness_mm,
        in_view=projection.in_view,
        level_rows=np.asarray(projection.level_rows, dtype=np.float32).reshape(-1, 2),
    )
    atomic_write_bytes(path, buffer.getvalue())


def compute_projection(scan: AnnotatedScan, spec: ProjectionSpec) -> TrainingProjection:
    """The training projection of one scan: the engine's views stacked, and L3's row on them."""
    if scan.phantom_seed is not None:
        from L3SpotterLib.phantom import generate_phantom

        overrides = dict(scan.phantom_overrides)
        if spec.phantom_pixel_mm is not None:
            overrides["pixel_spacing_mm"] = spec.phantom_pixel_mm
        # A phantom asked for with coarse in-plane pixels is acquired as real scans are (drawn slice
        # thickness, noise, kernel), whatever the spec's isotropic voxels.
        voxel_mm = None if "coarse_pixel_mm" in overrides else spec.phantom_voxel_mm
        phantom = generate_phantom(
            scan.phantom_seed, voxel_mm=voxel_mm,
            intensity_randomization=phantom_randomization(scan.phantom_seed, spec.phantom_intensity_randomization),
            **overrides,
        )
        voxels = phantom.ct
        geometry = phantom.geometry
        l3_z, in_view = phantom.l3_truth()
        centres = phantom.variants["patient_placement"]["vertebra_centres_ras_mm"]
        level_z = [(centres[name][2], level) for name, level in sequence_levels(list(centres)).items()]
    else:
        volume = load_ct(scan.ct_path)
        voxels, geometry = volume.voxels, volume.geometry
        l3_z, in_view = scan.l3_z_ras_mm, True
        level_z = []
    projections = project_views(voxels, geometry, spec.views, spec.grid)
    pixels = np.stack([projection.pixels for projection in projections])
    to_row = projections[0].z_ras_mm_to_row
    return TrainingProjection(
        pixels=pixels,
        l3_row=float(to_row(l3_z)),
        case_id=scan.case_id,
        slice_thickness_mm=geometry.slice_thickness_mm,
        in_view=in_view,
        level_rows=tuple((float(to_row(z)), level) for z, level in level_z),
    )


def compute_non_anatomical_projection(scan: AnnotatedScan, spec: ProjectionSpec) -> TrainingProjection:
    """A projection of an object that is not a patient: no L3 and no vertebral level anywhere."""
    from L3SpotterLib.phantom.non_anatomical import non_anatomical_volume

    voxels, ijk_to_ras = non_anatomical_volume(dict(scan.phantom_overrides)["kind"], scan.phantom_seed)
    geometry = VolumeGeometry(ijk_to_ras, tuple(reversed(voxels.shape)))
    pixels = np.stack([projection.pixels for projection in project_views(voxels, geometry, spec.views, spec.grid)])
    return TrainingProjection(pixels=pixels, l3_row=float("nan"), case_id=scan.case_id, slice_thickness_mm=geometry.slice_thickness_mm, in_view=False)


def phantom_randomization(seed: int, maximum: float) -> float:
    """A per-phantom randomisation level, spread evenly over [0, maximum] (golden-ratio sequence)."""
    return round(maximum * ((seed * 0.6180339887498949) % 1.0), 4)


def _scan_key(scan: AnnotatedScan, spec: ProjectionSpec) -> str:
    if scan.phantom_seed is not None:
        from L3SpotterLib.phantom import GENERATOR_VERSION

        identity = f"{scan.origin}:{scan.phantom_seed}:{GENERATOR_VERSION}"
        if scan.phantom_overrides:
            identity += ":" + json.dumps(scan.phantom_overrides)
    else:
        stat = os.stat(scan.ct_path)
        identity = f"file:{os.path.abspath(scan.ct_path)}:{stat.st_size}:{stat.st_mtime_ns}:{scan.l3_z_ras_mm}"
    return hashlib.sha1(identity.encode()).hexdigest()[:16]
