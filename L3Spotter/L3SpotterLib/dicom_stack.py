"""How the files of one DICOM series stack into a volume, worked out from their headers before any voxel
is read, so that what ITK would get wrong is handled or named:

* images of another size or orientation inside the series (a localizer stored with the axial slices):
  dropped, with a note;
* two images at the same position (a slice stored twice under two UIDs): refused, naming both files;
* a gap much wider than the others (missing slices): refused, saying where;
* gaps that vary without any slice missing (as some scanners write, gantry tilt or not): the slices are
  resampled onto an even grid along their stacking line, as dcm2niix does, and the result says so;
* gantry tilt (slices stacked obliquely to their normal): the stacking vector becomes the k axis, which
  keeps every slice's z exact.

ITK itself derives the slice spacing from the first two slices and assumes the slices stack along their
normal, so without these checks every z could be silently wrong.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError
from .geometry import LPS_TO_RAS

# Relative deviation of a slice gap from the median gap that still counts as even spacing.
EVEN_SPACING_TOLERANCE = 0.1
# A gap this many times the median or more means slices are missing (one missing slice doubles a gap).
MISSING_SLICE_GAP_RATIO = 1.8
# Below this (degrees) a tilt between the stacking direction and the slice normal is rounding noise.
TILT_NOISE_DEG = 0.5
# Slices farther than this from the straight line through the first and last (mm, or a tenth of a gap)
# do not form one stack.
OFF_LINE_TOLERANCE_MM = 0.1
# Two slices nearer than this (mm along the normal) are at the same position.
SAME_POSITION_MM = 1e-3


@dataclass(frozen=True)
class SliceHeader:
    """What one file's header says about where its image lies."""

    file: str
    size: tuple[int, int]  # columns, rows
    position_lps: np.ndarray | None  # ImagePositionPatient (0020,0032)
    orientation: np.ndarray | None  # ImageOrientationPatient (0020,0037): row then column direction

    @property
    def kind(self) -> tuple:
        """Images of one kind can share a stack: same size and orientation."""
        orientation = None if self.orientation is None else tuple(np.round(self.orientation, 3))
        return self.size, orientation


def read_slice_headers(files) -> list[SliceHeader]:
    """The headers of the files (no pixel data is read: about a millisecond per file)."""
    return [_read_slice_header(file) for file in files]


def _read_slice_header(file: str) -> SliceHeader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(file)
    reader.ReadImageInformation()
    size = tuple(int(n) for n in reader.GetSize()[:2])
    return SliceHeader(file, size, _tag_numbers(reader, "0020|0032", 3), _tag_numbers(reader, "0020|0037", 6))


def _tag_numbers(reader: sitk.ImageFileReader, key: str, count: int) -> np.ndarray | None:
    if not reader.HasMetaDataKey(key):
        return None
    try:
        values = np.array([float(value) for value in reader.GetMetaData(key).split("\\")])
    except ValueError:
        return None
    return values if values.shape == (count,) and np.all(np.isfinite(values)) else None


def keep_the_main_kind(headers: list[SliceHeader]) -> tuple[list[SliceHeader], list[str]]:
    """The images of the most common size and orientation, and notes on those dropped."""
    counts = Counter(header.kind for header in headers)
    main_kind, _ = counts.most_common(1)[0]
    kept = [header for header in headers if header.kind == main_kind]
    dropped = [header for header in headers if header.kind != main_kind]
    if not dropped:
        return kept, []
    sizes = sorted({"x".join(map(str, header.size)) for header in dropped})
    names = ", ".join(Path(header.file).name for header in dropped[:5]) + (", ..." if len(dropped) > 5 else "")
    note = (
        f"dropped {len(dropped)} image(s) of another size or orientation ({', '.join(sizes)}; the slices are "
        f"{'x'.join(map(str, main_kind[0]))}): a localizer or other image stored in the series ({names})"
    )
    return kept, [note]


@dataclass
class SliceStack:
    """The slices in stacking order and where the voxel grid lies."""

    headers: list[SliceHeader]
    row_direction: np.ndarray
    column_direction: np.ndarray
    origin_lps: np.ndarray
    stacking_unit: np.ndarray  # direction from the first slice to the last
    offsets_mm: np.ndarray  # each slice's distance from the first along stacking_unit
    step_mm: float  # slice distance on the even grid
    n_grid_slices: int
    tilt_deg: float
    resampling: dict | None = field(default=None)  # how uneven slices were put on the even grid; None: as read

    @property
    def files(self) -> list[str]:
        return [header.file for header in self.headers]

    def ijk_to_ras(self, pixel_spacing_mm) -> np.ndarray:
        ijk_to_lps = np.eye(4)
        ijk_to_lps[:3, 0] = self.row_direction * pixel_spacing_mm[0]
        ijk_to_lps[:3, 1] = self.column_direction * pixel_spacing_mm[1]
        ijk_to_lps[:3, 2] = self.stacking_unit * self.step_mm
        ijk_to_lps[:3, 3] = self.origin_lps
        return LPS_TO_RAS @ ijk_to_lps


def plan_stack(headers: list[SliceHeader], what: str) -> SliceStack | None:
    """Sort the slices along their normal and check how they stack; None where the files lack position or
    orientation (ITK's order and geometry are used then). Raises InputError naming what is wrong."""
    if any(header.position_lps is None or header.orientation is None for header in headers):
        return None
    orientation = headers[0].orientation
    row_direction, column_direction = orientation[:3], orientation[3:6]
    normal = np.cross(row_direction, column_direction)
    headers = sorted(headers, key=lambda header: float(header.position_lps @ normal))
    positions = np.array([header.position_lps for header in headers])
    heights = positions @ normal
    _refuse_duplicates(headers, heights, what)
    _refuse_missing_slices(np.diff(heights), what)

    span = positions[-1] - positions[0]
    stacking_unit = span / np.linalg.norm(span)
    offsets = (positions - positions[0]) @ stacking_unit
    _refuse_off_line(positions, offsets, stacking_unit, what)
    cosine = abs(float(stacking_unit @ normal))
    tilt_deg = float(np.degrees(np.arccos(min(1.0, cosine))))

    gaps = np.diff(offsets)
    typical = float(np.median(gaps))
    stack = SliceStack(
        headers=headers, row_direction=row_direction, column_direction=column_direction, origin_lps=positions[0],
        stacking_unit=stacking_unit, offsets_mm=offsets, step_mm=float(offsets[-1]) / (len(headers) - 1),
        n_grid_slices=len(headers), tilt_deg=round(tilt_deg, 2) if tilt_deg > TILT_NOISE_DEG else 0.0,
    )
    if np.max(np.abs(gaps - typical)) > EVEN_SPACING_TOLERANCE * typical:
        # Uneven but complete: an even grid at the median gap, spanning the first slice to the last.
        stack.n_grid_slices = int(round(float(offsets[-1]) / typical)) + 1
        stack.step_mm = float(offsets[-1]) / (stack.n_grid_slices - 1)
        plane_gaps = np.diff(heights)  # between the slice planes, along their normal, as scanners state them
        stack.resampling = {
            "reason": "uneven slice gaps",
            "gaps_mm": [round(float(plane_gaps.min()), 3), round(float(plane_gaps.max()), 3)],
            "n_slices_read": len(headers),
            "n_slices": stack.n_grid_slices,
            "step_mm": round(stack.step_mm, 4),  # along the stacking line (longer than along the normal under tilt)
            "method": "linear between neighbouring slices, along the stacking line",
        }
    return stack


def _refuse_duplicates(headers: list[SliceHeader], heights: np.ndarray, what: str) -> None:
    same = np.flatnonzero(np.abs(np.diff(heights)) < SAME_POSITION_MM)
    if same.size == 0:
        return
    first, second = headers[same[0]], headers[same[0] + 1]
    raise InputError(
        f"{what} has {same.size} duplicated slice position(s): {Path(first.file).name} and {Path(second.file).name} "
        f"lie at the same position {np.round(first.position_lps, 2).tolist()} mm (LPS), as when a slice is stored "
        "twice under two UIDs; remove the duplicate"
    )


def _refuse_missing_slices(gaps: np.ndarray, what: str) -> None:
    typical = float(np.median(gaps))
    worst = int(np.argmax(gaps))
    ratio = float(gaps[worst]) / typical
    if ratio < MISSING_SLICE_GAP_RATIO:
        return
    if abs(ratio - round(ratio)) < EVEN_SPACING_TOLERANCE:
        raise InputError(
            f"{what} has {int(round(ratio)) - 1} missing slice(s) after slice {worst} (a gap of {gaps[worst]:.2f} mm "
            f"where slices are {typical:.2f} mm apart)"
        )
    raise InputError(
        f"{what} has a gap of {gaps[worst]:.2f} mm after slice {worst}, {ratio:.1f} times the usual {typical:.2f} mm: "
        "slices are missing there"
    )


def _refuse_off_line(positions: np.ndarray, offsets: np.ndarray, stacking_unit: np.ndarray, what: str) -> None:
    off_line = positions - positions[0] - np.outer(offsets, stacking_unit)
    distance = np.linalg.norm(off_line, axis=1)
    tolerance = max(OFF_LINE_TOLERANCE_MM, 0.1 * float(np.median(np.diff(offsets))))
    if float(distance.max()) > tolerance:
        raise InputError(
            f"{what}: the slices do not lie along one straight line (slice {int(np.argmax(distance))} is "
            f"{distance.max():.2f} mm off it), so they do not form one volume"
        )


def resample_onto_even_grid(voxels: np.ndarray, stack: SliceStack) -> np.ndarray:
    """The ``[k, j, i]`` voxels of uneven slices, linearly interpolated along the stacking line at the
    even grid's offsets. Each slice lies on the line at its own offset, so interpolating the same (i, j) of
    the two neighbouring slices gives the voxel at exactly the grid slice's place."""
    grid_offsets = np.arange(stack.n_grid_slices) * stack.step_mm
    upper = np.clip(np.searchsorted(stack.offsets_mm, grid_offsets, side="right"), 1, len(stack.offsets_mm) - 1)
    lower = upper - 1
    weight = (grid_offsets - stack.offsets_mm[lower]) / (stack.offsets_mm[upper] - stack.offsets_mm[lower])
    resampled = np.empty((stack.n_grid_slices,) + voxels.shape[1:], dtype=voxels.dtype)
    for index in range(stack.n_grid_slices):  # one slice at a time: no float copy of the volume
        mixed = (1.0 - weight[index]) * voxels[lower[index]].astype(np.float32) + weight[index] * voxels[upper[index]]
        resampled[index] = np.rint(mixed) if np.issubdtype(voxels.dtype, np.integer) else mixed
    return resampled
