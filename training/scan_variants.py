"""Variants of a labelled CT: the issue-13 failure classes rebuilt on real anatomy and texture.

Phantoms can be drawn unlike the training data (the domain-shift bench), but their texture stays
synthetic. These variants keep a real scan's texture and change one thing at a time, the way real
archives differ: HU capped at 1023, no table, low-dose noise and thick slices, a narrow reconstruction
centred on the spine, a shorter scan, a vertebra too many or too few, a header with head and feet
swapped. Each variant carries its label map, transformed with it, so the truth follows from the one
definition in ``L3SpotterLib.l3_definition``: L3 is the third lumbar vertebra counted from the top.

**A vertebra too many or too few.** The scan is cut at the centroids of two adjacent vertebrae, where
both cut faces are mid-body bone of similar section, and the segment between them is taken out or put in
twice. Taken out, the upper vertebra's top half joins the lower one's bottom half: one vertebra fewer.
Put in twice, a vertebra made of the lower one's top half above the upper one's bottom half appears
between the two: one more. Only a five-lumbar spine is spliced, into the four- and six-lumbar spines of
transitional anatomy. The labels are renamed from the top, so a splice above L3 moves the true L3 to the
next real vertebra up or down (taking out L1-L2 makes the former L4 the L3; putting it in twice makes the
former L2 the L3), and a splice below it does not. Organs and ribs are cut at the same level as the spine, so the splice is
visible to a reader; the spine itself stays continuous.

The same variants of phantoms (:func:`labelled_phantom`) are the control: what a change costs on the
phantoms the model knows, against what it costs on a real scan.

Arrays are ``[k, j, i]`` with k the slice axis (as SimpleITK reads an axial scan); every function returns
new arrays and never writes into its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from L3SpotterLib.geometry import VolumeGeometry
from L3SpotterLib.l3_definition import label_level
from L3SpotterLib.vertebra_labels import VERSE_IDS

LUMBAR_NAMES = ("L1", "L2", "L3", "L4", "L5", "L6")
AIR_HU = -1000
# Soft tissue and bone: the body and the table both lie above this; air and lung mostly below.
BODY_THRESHOLD_HU = -400


class VariantError(ValueError):
    """The variant cannot be made from this scan (a vertebra it needs is not in it, for example)."""


@dataclass(frozen=True)
class LabelledScan:
    """A CT and its VerSe-convention vertebra label map on the same ``[k, j, i]`` grid."""

    voxels: np.ndarray
    labels: np.ndarray
    ijk_to_ras: np.ndarray
    name: str = "scan"

    def __post_init__(self):
        if self.voxels.shape != self.labels.shape:
            raise VariantError(f"the CT {self.voxels.shape} and its labels {self.labels.shape} differ in shape")
        if self.geometry.slice_axis != 2:
            raise VariantError("the slice axis must be k (the array's first axis): resample the scan to axial first")

    @property
    def geometry(self) -> VolumeGeometry:
        return VolumeGeometry(self.ijk_to_ras, self.voxels.shape[::-1])

    @property
    def superior_sign(self) -> int:
        """+1 when the slice index grows towards the head."""
        return self.geometry.axis_sign(2, 2)

    def centroid_slice(self, name: str) -> float | None:
        level = label_level(self.labels, self.geometry, VERSE_IDS[name])
        return None if level is None else level.centroid_slice

    def l3_truth(self) -> tuple[float | None, bool]:
        """L3's centroid z (RAS mm), and whether L3 lies wholly in the scan (its label touches no edge)."""
        level = label_level(self.labels, self.geometry, VERSE_IDS["L3"])
        if level is None:
            return None, False
        return level.z_ras_mm, not level.touches_scan_edge

    def lumbar_count(self) -> int:
        return sum(bool(np.any(self.labels == VERSE_IDS[name])) for name in LUMBAR_NAMES)

    def derived(self, name: str, **arrays) -> "LabelledScan":
        return replace(self, name=name, **arrays)


def cap_hu(scan: LabelledScan, cap_hu_value: int = 1023) -> LabelledScan:
    """Values above the cap clipped to it (12-bit storage: dense bone and contrast saturate)."""
    return scan.derived(f"{scan.name}+cap{cap_hu_value}", voxels=np.minimum(scan.voxels, cap_hu_value).astype(scan.voxels.dtype))


def remove_table(scan: LabelledScan) -> LabelledScan:
    """Everything outside the body set to air: the largest connected region above -400 HU, holes filled."""
    dense = scan.voxels > BODY_THRESHOLD_HU
    # Opening separates a table touching the back from the body before the components are counted.
    dense = ndimage.binary_opening(dense, structure=np.ones((1, 3, 3), bool), iterations=2)
    components, count = ndimage.label(dense)
    if count == 0:
        raise VariantError("no body found above -400 HU")
    sizes = ndimage.sum_labels(np.ones_like(components), components, index=np.arange(1, count + 1))
    body = components == (1 + int(np.argmax(sizes)))
    body = ndimage.binary_dilation(body, structure=np.ones((1, 3, 3), bool), iterations=2)
    body = np.stack([ndimage.binary_fill_holes(plane) for plane in body])
    voxels = np.where(body, scan.voxels, AIR_HU).astype(scan.voxels.dtype)
    return scan.derived(f"{scan.name}+no_table", voxels=voxels)


def add_noise(scan: LabelledScan, sd_hu: float, grain_mm: float, seed: int) -> LabelledScan:
    """Correlated Gaussian noise of the given standard deviation inside the scan (low-dose texture)."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(scan.voxels.shape).astype(np.float32)
    sigma_px = [0.0] + [grain_mm / s for s in scan.geometry.spacing_mm[1::-1]]
    grain = ndimage.gaussian_filter(white, sigma_px)
    grain *= sd_hu / max(float(grain.std()), 1e-6)
    inside = scan.voxels > -1010  # padding outside the scan circle stays as it is
    voxels = np.where(inside, np.clip(scan.voxels + grain, -1024, 3071), scan.voxels)
    return scan.derived(f"{scan.name}+noise{sd_hu:g}", voxels=np.round(voxels).astype(scan.voxels.dtype))


def thicken_slices(scan: LabelledScan, thickness_mm: float) -> LabelledScan:
    """Slices of ``thickness_mm`` (averaged over their thickness), spaced by it, as a thick reconstruction."""
    old_mm = scan.geometry.slice_thickness_mm
    if thickness_mm <= old_mm:
        raise VariantError(f"slices of {thickness_mm} mm are not thicker than the scan's {old_mm:.2f} mm")
    # A box average over the new thickness, then linear sampling at the new slice positions.
    box = ndimage.uniform_filter1d(scan.voxels.astype(np.float32), size=max(1, int(round(thickness_mm / old_mm))), axis=0)
    n_new = int(np.floor((scan.voxels.shape[0] - 1) * old_mm / thickness_mm)) + 1
    positions = np.arange(n_new) * thickness_mm / old_mm
    voxels = ndimage.map_coordinates(box, _slice_grid(positions, box.shape), order=1).astype(scan.voxels.dtype)
    labels = ndimage.map_coordinates(scan.labels, _slice_grid(positions, box.shape), order=0).astype(scan.labels.dtype)
    ijk_to_ras = scan.ijk_to_ras.copy()
    ijk_to_ras[:3, 2] *= thickness_mm / old_mm
    return scan.derived(f"{scan.name}+{thickness_mm:g}mm", voxels=voxels, labels=labels, ijk_to_ras=ijk_to_ras)


def _slice_grid(positions: np.ndarray, shape) -> np.ndarray:
    k, j, i = np.meshgrid(positions, np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    return np.stack([k, j, i])


def narrow_reconstruction(scan: LabelledScan, width_mm: float) -> LabelledScan:
    """An in-plane field of view ``width_mm`` square centred on the lumbar spine (as lumbar-spine CT is reconstructed)."""
    centre_j, centre_i = _lumbar_centre_ji(scan)
    spacing_i, spacing_j = scan.geometry.spacing_mm[0], scan.geometry.spacing_mm[1]
    half_i, half_j = width_mm / 2 / spacing_i, width_mm / 2 / spacing_j
    i0, i1 = max(0, int(round(centre_i - half_i))), min(scan.voxels.shape[2], int(round(centre_i + half_i)))
    j0, j1 = max(0, int(round(centre_j - half_j))), min(scan.voxels.shape[1], int(round(centre_j + half_j)))
    # A square cut out of the body: a narrow field lies wholly inside the scanner's circle, so its corners
    # hold tissue too, and the soft tissue is cut at its edges.
    voxels = scan.voxels[:, j0:j1, i0:i1].copy()
    labels = scan.labels[:, j0:j1, i0:i1].copy()
    ijk_to_ras = scan.ijk_to_ras.copy()
    ijk_to_ras[:3, 3] = scan.ijk_to_ras[:3, :3] @ np.array([i0, j0, 0.0]) + scan.ijk_to_ras[:3, 3]
    return scan.derived(f"{scan.name}+narrow{width_mm:g}", voxels=voxels, labels=labels, ijk_to_ras=ijk_to_ras)


def _lumbar_centre_ji(scan: LabelledScan) -> tuple[float, float]:
    """The lumbar spine's centre in the axial plane (j, i voxel indices): where a spine field is centred."""
    lumbar = np.isin(scan.labels, [VERSE_IDS[name] for name in LUMBAR_NAMES])
    if not lumbar.any():
        raise VariantError("no lumbar vertebra labelled: the spine's centre is unknown")
    centre_j, centre_i = (float(np.mean(axis)) for axis in np.nonzero(lumbar)[1:])
    return centre_j, centre_i


def mask_beyond_spine(scan: LabelledScan, half_width_mm: float, axis: str) -> LabelledScan:
    """Everything farther than ``half_width_mm`` from the lumbar spine's centre along ``axis`` ("left-right" or
    "front-back") set to air, the grid unchanged: what a narrow field removes from one view, without the
    other changes a crop brings (fewer pixels, the body's edge cut)."""
    array_axis = {"left-right": 2, "front-back": 1}[axis]
    spacing_mm = scan.geometry.spacing_mm[2 - array_axis]
    centre = _lumbar_centre_ji(scan)[array_axis - 1]
    distance_mm = np.abs(np.arange(scan.voxels.shape[array_axis]) - centre) * spacing_mm
    shape = [1, 1, 1]
    shape[array_axis] = -1
    voxels = np.where((distance_mm > half_width_mm).reshape(shape), AIR_HU, scan.voxels).astype(scan.voxels.dtype)
    return scan.derived(f"{scan.name}+{axis}_within{2 * half_width_mm:g}", voxels=voxels)


def crop_slices(scan: LabelledScan, top_at: str | None = None, bottom_at: str | None = None) -> LabelledScan:
    """The scan cut at the centroid of the named vertebrae: ``top_at`` becomes the head end, ``bottom_at`` the feet end."""
    k_top, k_bottom = _head_end(scan), _feet_end(scan)
    if top_at is not None:
        k_top = _required_centroid(scan, top_at)
    if bottom_at is not None:
        k_bottom = _required_centroid(scan, bottom_at)
    lo, hi = sorted((int(round(k_top)), int(round(k_bottom))))
    ijk_to_ras = scan.ijk_to_ras.copy()
    ijk_to_ras[:3, 3] = scan.ijk_to_ras[:3, :3] @ np.array([0.0, 0.0, lo]) + scan.ijk_to_ras[:3, 3]
    return scan.derived(f"{scan.name}+crop_{top_at or 'top'}_{bottom_at or 'bottom'}",
                        voxels=scan.voxels[lo:hi + 1].copy(), labels=scan.labels[lo:hi + 1].copy(), ijk_to_ras=ijk_to_ras)


def _head_end(scan: LabelledScan) -> int:
    return scan.voxels.shape[0] - 1 if scan.superior_sign > 0 else 0


def _feet_end(scan: LabelledScan) -> int:
    return 0 if scan.superior_sign > 0 else scan.voxels.shape[0] - 1


def _required_centroid(scan: LabelledScan, name: str) -> float:
    centroid = scan.centroid_slice(name)
    if centroid is None:
        raise VariantError(f"{name} is not labelled in {scan.name}")
    return centroid


def remove_segment(scan: LabelledScan, upper: str, lower: str) -> LabelledScan:
    """One lumbar vertebra fewer: the slices between the centroids of ``upper`` and ``lower`` taken out."""
    return _splice(scan, upper, lower, remove=True)


def duplicate_segment(scan: LabelledScan, upper: str, lower: str) -> LabelledScan:
    """One lumbar vertebra more: the slices between the centroids of ``upper`` and ``lower`` put in twice."""
    return _splice(scan, upper, lower, remove=False)


def _splice(scan: LabelledScan, upper: str, lower: str, remove: bool) -> LabelledScan:
    if upper not in LUMBAR_NAMES or lower not in LUMBAR_NAMES or LUMBAR_NAMES.index(lower) != LUMBAR_NAMES.index(upper) + 1:
        raise VariantError(f"{upper} and {lower} are not adjacent lumbar vertebrae")
    # Work head end first, so "above" means a lower index whatever the file's slice order.
    flip = scan.superior_sign > 0
    voxels = scan.voxels[::-1] if flip else scan.voxels
    labels = scan.labels[::-1] if flip else scan.labels
    n = voxels.shape[0]
    k_upper = _required_centroid(scan, upper)
    k_lower = _required_centroid(scan, lower)
    if flip:
        k_upper, k_lower = n - 1 - k_upper, n - 1 - k_lower
    a, b = int(round(k_upper)), int(round(k_lower))  # a above b, head-first indices
    if b - a < 2:
        raise VariantError(f"{upper} and {lower} are too close together to splice")
    lumbar_count = scan.lumbar_count()
    if lumbar_count != 5:
        raise VariantError(f"{scan.name} has {lumbar_count} lumbar vertebrae: only a five-lumbar spine is spliced")
    if remove:
        # rows [0, a] (the upper one's top half and all above) then (b, n) (the lower one's bottom half and below)
        keep_rows = np.r_[0:a + 1, b + 1:n]
        joined_at = a + 1
    else:
        # rows [0, b] then (a, n): the segment a..b appears twice
        keep_rows = np.r_[0:b + 1, a + 1:n]
        joined_at = b + 1
    new_voxels = voxels[keep_rows]
    new_labels = _renamed_after_splice(labels[keep_rows], joined_at, upper, lower, remove)
    if flip:
        new_voxels, new_labels = new_voxels[::-1], new_labels[::-1]
    ijk_to_ras = scan.ijk_to_ras.copy()
    if flip:
        # the head end stays where it was; the feet end moves by the slices taken out or added
        shift = n - new_voxels.shape[0]
        ijk_to_ras[:3, 3] = scan.ijk_to_ras[:3, :3] @ np.array([0.0, 0.0, shift]) + scan.ijk_to_ras[:3, 3]
    return scan.derived(f"{scan.name}+{'minus' if remove else 'plus'}_{upper}{lower}",
                        voxels=np.ascontiguousarray(new_voxels), labels=np.ascontiguousarray(new_labels), ijk_to_ras=ijk_to_ras)


def _renamed_after_splice(labels: np.ndarray, joined_at: int, upper: str, lower: str, remove: bool) -> np.ndarray:
    """Lumbar labels renamed from the top after a splice at head-first row ``joined_at``."""
    lumbar_ids = [VERSE_IDS[name] for name in LUMBAR_NAMES]
    upper_index, lower_index = LUMBAR_NAMES.index(upper), LUMBAR_NAMES.index(lower)
    renamed = labels.copy()
    below = renamed[joined_at:]
    original_below = below.copy()
    if remove:
        # Above the join nothing changes: the upper vertebra's top half keeps its name. Below it the lower
        # one's bottom half completes that vertebra, and every vertebra after it moves up one.
        for index in range(lower_index, len(LUMBAR_NAMES)):
            below[original_below == lumbar_ids[index]] = lumbar_ids[index - 1]
    else:
        # Rows head-first: the upper vertebra whole, then the lower one's top half (first copy); the join;
        # the upper one's bottom half (second copy), the lower one whole (its top half's second copy and its
        # bottom half), and below. Above the join nothing changes: the first copy of the lower one's top half
        # is the new vertebra's top, and the new vertebra takes the lower one's name. Below it the second copy
        # of the upper one's bottom half is the new vertebra's bottom, and the lower one and every vertebra
        # after it move down one.
        for index in range(len(LUMBAR_NAMES) - 2, lower_index - 1, -1):
            below[original_below == lumbar_ids[index]] = lumbar_ids[index + 1]
        below[original_below == lumbar_ids[upper_index]] = lumbar_ids[lower_index]
    return renamed


def header_flipped(scan: LabelledScan) -> LabelledScan:
    """The slices in reverse order under the same header: head and feet swapped, as in a wrong header."""
    return scan.derived(f"{scan.name}+header_flipped", voxels=scan.voxels[::-1].copy(), labels=scan.labels[::-1].copy())


def mirrored_left_right(scan: LabelledScan) -> LabelledScan:
    """Left and right swapped under the same header."""
    return scan.derived(f"{scan.name}+mirrored", voxels=scan.voxels[:, :, ::-1].copy(), labels=scan.labels[:, :, ::-1].copy())


def read_labelled_scan(folder) -> LabelledScan:
    """``ct.nii.gz`` and ``vertebrae.nii.gz`` (VerSe convention) of a case folder, as in ``tests/data``."""
    from pathlib import Path

    import SimpleITK as sitk

    from L3SpotterLib.volume_io import load_ct

    folder = Path(folder)
    ct = load_ct(folder / "ct.nii.gz")  # the engine's own reader and checks
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "vertebrae.nii.gz")))
    # LabelledScan checks that the two grids have the same shape.
    return LabelledScan(np.asarray(ct.voxels, dtype=np.int16).copy(), labels.astype(np.int16), ct.geometry.ijk_to_ras, name=folder.name)


def labelled_phantom(seed: int, **overrides) -> LabelledScan:
    """A phantom (``L3SpotterLib.phantom``) with its vertebra labels, for the same variants as a real scan."""
    from L3SpotterLib.phantom import generate_phantom

    phantom = generate_phantom(seed, voxel_mm=None, **overrides)
    return LabelledScan(phantom.ct, phantom.labels.astype(np.int16), phantom.ijk_to_ras, name=f"phantom_{seed}")


# The catalogue: what each variant stands for, and how it is made from the original scan. One change at a
# time, except where a real failure combined them.
CATALOGUE = (
    ("the scan as it is", lambda scan: scan),
    ("mirrored left-right: the engine should not care", mirrored_left_right),
    ("HU capped at 1023 (12-bit storage)", cap_hu),
    ("no table", remove_table),
    ("HU capped at 1023 and no table (a real scan answered one vertebra high)", lambda scan: remove_table(cap_hu(scan))),
    ("4.5 mm slices", lambda scan: thicken_slices(scan, 4.5)),
    ("6 mm slices", lambda scan: thicken_slices(scan, 6.0)),
    ("low-dose noise (60 HU)", lambda scan: add_noise(scan, sd_hu=60, grain_mm=2.0, seed=1)),
    ("low-dose PET/CT: noise and 4.5 mm slices", lambda scan: thicken_slices(add_noise(scan, sd_hu=60, grain_mm=2.0, seed=1), 4.5)),
    ("a 100 mm field of view on the spine", lambda scan: narrow_reconstruction(scan, 100)),
    ("a 114 mm field of view on the spine (a real one was answered not_in_view)", lambda scan: narrow_reconstruction(scan, 114)),
    ("a 126 mm field of view on the spine", lambda scan: narrow_reconstruction(scan, 126)),
    ("a 150 mm field of view on the spine", lambda scan: narrow_reconstruction(scan, 150)),
    ("air beyond 57 mm left and right of the spine (the frontal view of a 114 mm field)",
     lambda scan: mask_beyond_spine(scan, 57, "left-right")),
    ("air beyond 57 mm front and back of the spine (the lateral view of a 114 mm field)",
     lambda scan: mask_beyond_spine(scan, 57, "front-back")),
    ("a 200 mm field of view on the spine", lambda scan: narrow_reconstruction(scan, 200)),
    ("starts at L1's centre", lambda scan: crop_slices(scan, top_at="L1")),
    ("starts at L2's centre: L3 near the head end", lambda scan: crop_slices(scan, top_at="L2")),
    ("ends at L5's centre", lambda scan: crop_slices(scan, bottom_at="L5")),
    ("ends at L4's centre (a real T11-L4 scan)", lambda scan: crop_slices(scan, bottom_at="L4")),
    ("L1 to L5 only", lambda scan: crop_slices(scan, top_at="L1", bottom_at="L5")),
    ("cut through L3's centre, L3's lower half in view", lambda scan: crop_slices(scan, top_at="L3")),
    ("cut through L3's centre, L3's upper half in view", lambda scan: crop_slices(scan, bottom_at="L3")),
    ("pelvis from L5's centre down: no L3", lambda scan: crop_slices(scan, top_at="L5")),
    ("four lumbar vertebrae, one taken out below L3 (L3 stays the same vertebra)", lambda scan: remove_segment(scan, "L4", "L5")),
    ("four lumbar vertebrae, one taken out above L3 (L3 is the former L4)", lambda scan: remove_segment(scan, "L1", "L2")),
    ("six lumbar vertebrae, one put in below L3 (L3 stays the same vertebra)", lambda scan: duplicate_segment(scan, "L4", "L5")),
    ("six lumbar vertebrae, one put in above L3 (L3 is the former L2)", lambda scan: duplicate_segment(scan, "L1", "L2")),
    ("upside down under its header", header_flipped),
)


def catalogue(scan: LabelledScan) -> list[tuple[str, LabelledScan | VariantError]]:
    """Every variant of ``scan`` in :data:`CATALOGUE`, or why it cannot be made from this scan."""
    entries = []
    for description, make in CATALOGUE:
        try:
            entries.append((description, make(scan)))
        except VariantError as error:
            entries.append((description, error))
    return entries
