"""Tests of the synthetic CT phantom generator (L3SpotterLib.phantom).

Phantoms here use 4 mm voxels and a 320 mm in-plane field of view so that the file runs in well under
a minute on two cores.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from L3SpotterLib.geometry import VolumeGeometry, ijk_to_ras_from_lps
from L3SpotterLib.l3_definition import l3_slice_from_level, label_level
from L3SpotterLib.phantom import (
    OVERRIDES,
    add_phantom_arguments,
    case_seeds,
    generate_phantom,
    run_phantom_command,
    write_phantom_case,
    write_phantom_cases,
)
from L3SpotterLib.vertebra_labels import HEAD_TO_FOOT, VERSE_IDS

SMALL = {"in_plane_fov_mm": 320.0}


@lru_cache(maxsize=None)
def phantom(seed: int, voxel_mm: float = 4.0, **overrides):
    return generate_phantom(seed, voxel_mm, **SMALL, **overrides)


def whole_body(seed=11, **overrides):
    return phantom(seed, fov="whole_body", **overrides)


def present_names(ph) -> list[str]:
    ids = set(np.unique(ph.labels).tolist())
    return [name for name in HEAD_TO_FOOT if VERSE_IDS[name] in ids]


def test_whole_body_has_every_vertebra_labelled_head_to_foot():
    ph = whole_body()
    expected = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)] + ["sacrum", "coccyx"]
    assert ph.variants["spine"]["rib_pairs"] == 12 and ph.variants["spine"]["lumbar_count"] == 5
    assert present_names(ph) == expected
    assert list(ph.case["vertebrae"]) == expected


@pytest.mark.parametrize("seed,overrides", [(11, {"fov": "whole_body"}), (5, {"fov": "chest_abdomen_pelvis", "scoliosis_deg": 20.0, "patient_tilt_deg": 7.0})])
def test_centroids_run_head_to_foot(seed, overrides):
    ph = phantom(seed, **overrides)
    z = [ph.case["vertebrae"][name]["centroid_ras_mm"][2] for name in HEAD_TO_FOOT if name in ph.case["vertebrae"]]
    assert len(z) >= 10
    assert all(upper > lower for upper, lower in zip(z, z[1:])), z


def test_l3_centre_lies_inside_the_l3_body():
    ph = phantom(3, fov="abdomen", noise_sd_hu=0.0)
    geometry = ph.geometry
    centroid = np.array(ph.case["vertebrae"]["L3"]["centroid_ras_mm"])
    ijk = np.linalg.solve(geometry.ijk_to_ras, np.append(centroid, 1.0))[:3]
    i, j, k = np.rint(ijk).astype(int)
    assert ph.labels[k, j, i] == VERSE_IDS["L3"]
    # cancellous bone, not cortex
    assert float(ph.ct[k, j, i]) < 0.5 * ph.variants["tissue_hu"]["cortical"]
    # the body, not a posterior element: along the AP line (j grows posterior) the run of L3 voxels
    # that holds the centre is at least 20 mm long and is the most anterior bone of L3 on that line.
    # (As in the real scans, the centroid sits a few mm in front of the body's back wall.)
    column = ph.labels[k, :, i] == VERSE_IDS["L3"]
    front = j
    while front > 0 and column[front - 1]:
        front -= 1
    back = j
    while back < len(column) - 1 and column[back + 1]:
        back += 1
    assert (back - front + 1) * geometry.spacing_mm[1] >= 20.0
    assert not column[:front].any()


@pytest.mark.parametrize("lumbar_count,rib_pairs", [(4, 13), (6, 11)])
def test_counts_follow_the_drawn_variants(lumbar_count, rib_pairs):
    ph = phantom(21, fov="chest_abdomen_pelvis", lumbar_count=lumbar_count, rib_pairs=rib_pairs)
    names = set(present_names(ph))
    thoracic = [n for n in ("T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "T13") if n in names]
    lumbar = [n for n in ("L1", "L2", "L3", "L4", "L5", "L6") if n in names]
    assert ph.variants["spine"]["lumbar_count"] == lumbar_count
    assert ph.variants["spine"]["rib_pairs"] == rib_pairs
    assert len(lumbar) == lumbar_count
    # T1 may lie above a chest-abdomen-pelvis scan; the lowest rib-bearing vertebra is always in it
    assert thoracic[-1] == ("T13" if rib_pairs == 13 else f"T{rib_pairs}")
    if rib_pairs == 11:
        assert "T12" not in names
    # L3 is the third lumbar vertebra from the top whatever the count
    assert ph.case["l3_slice"] is not None


@pytest.mark.parametrize("lumbar_count", [4, 5, 6])
def test_l3_transverse_processes_are_the_longest_lumbar_ones(lumbar_count):
    from L3SpotterLib.phantom.sampling import draw_parameters
    from L3SpotterLib.phantom.intensities import draw_tissue_hu
    from L3SpotterLib.phantom.spine import build_spine

    params, streams = draw_parameters(13, 4.0, {"lumbar_count": lumbar_count})
    hu = draw_tissue_hu(streams["intensities"], "none", 0.0, False)
    lengths = build_spine(params, hu, streams["build"]).details["transverse_process_mm"]
    assert max(lengths, key=lengths.get) == "L3"


def test_rudimentary_rib_and_sacralisation_do_not_rename_vertebrae():
    ph = phantom(8, fov="abdomen_pelvis", l1_rudimentary_rib=True, sacralized_l5=True, rib_pairs=12, lumbar_count=5)
    names = set(present_names(ph))
    assert {"T12", "L1", "L2", "L3", "L4", "L5", "sacrum"} <= names
    assert "T13" not in names and "L6" not in names


def test_geometry_survives_writing_and_case_json_matches_the_label_map(tmp_path):
    ph = phantom(5, fov="abdomen_pelvis")
    folder = write_phantom_case(ph, tmp_path / "case")
    ct_image = sitk.ReadImage(str(folder / "ct.nii.gz"))
    label_image = sitk.ReadImage(str(folder / "vertebrae.nii.gz"))
    for image in (ct_image, label_image):
        np.testing.assert_allclose(ijk_to_ras_from_lps(image.GetOrigin(), image.GetSpacing(), image.GetDirection()), ph.ijk_to_ras, atol=1e-4)
        np.testing.assert_allclose(image.GetDirection(), np.eye(3).ravel())  # LPS identity: k towards superior
    assert ct_image.GetPixelID() == sitk.sitkInt16 and label_image.GetPixelID() == sitk.sitkUInt8
    ct = sitk.GetArrayFromImage(ct_image)
    labels = sitk.GetArrayFromImage(label_image)
    np.testing.assert_array_equal(ct, ph.ct)
    np.testing.assert_array_equal(labels, ph.labels)
    case = json.loads((folder / "case.json").read_text())
    geometry = VolumeGeometry.from_sitk_image(label_image)
    assert case["slice_axis"] == {"ijk_axis": 2, "index_increases_towards": "superior"}
    assert case["shape_ijk"] == list(ct_image.GetSize())
    np.testing.assert_allclose(case["spacing_mm"], ct_image.GetSpacing(), atol=1e-4)
    for name, record in case["vertebrae"].items():
        level = label_level(labels, geometry, VERSE_IDS[name])
        np.testing.assert_allclose(record["centroid_ras_mm"], level.centroid_ras_mm, atol=0.011)
        assert record["centroid_slice"] == pytest.approx(level.centroid_slice, abs=0.011)
        assert tuple(record["slice_range"]) == level.slice_range
        assert record["touches_scan_edge"] == level.touches_scan_edge
    l3 = label_level(labels, geometry, VERSE_IDS["L3"])
    assert case["l3_slice"] == l3_slice_from_level(l3)
    assert case["l3_z_ras_mm"] == pytest.approx(l3.z_ras_mm, abs=0.011)
    assert case["seed"] == 5 and case["generator_version"] and case["variants"]["spine"]["lumbar_count"] == 5


def test_case_json_has_the_real_cases_form(totalseg_case):
    real = json.loads((totalseg_case / "case.json").read_text())
    case = phantom(5, fov="abdomen_pelvis").case
    assert set(real) <= set(case)
    assert set(real["vertebrae"]["L3"]) == set(case["vertebrae"]["L3"])
    json.dumps(case)  # JSON-ready throughout


def test_same_seed_gives_the_same_volume_and_other_seeds_differ():
    a = generate_phantom(31, 4.0, fov="abdomen", **SMALL)
    b = generate_phantom(31, 4.0, fov="abdomen", **SMALL)
    c = generate_phantom(32, 4.0, fov="abdomen", **SMALL)
    np.testing.assert_array_equal(a.ct, b.ct)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.case == b.case
    assert a.ct.shape != c.ct.shape or not np.array_equal(a.ct, c.ct)
    assert a.variants != c.variants


def test_intensity_randomization_changes_hu_but_not_anatomy():
    plain = phantom(12, fov="abdomen")
    random = phantom(12, fov="abdomen", intensity_randomization=1.0)
    np.testing.assert_array_equal(plain.labels, random.labels)
    assert plain.variants["tissue_hu"] != random.variants["tissue_hu"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_l3_outside_the_scan_has_no_l3_slice(seed):
    ph = phantom(seed, l3_in_view=False)
    assert ph.case["l3_slice"] is None
    assert "l3_z_ras_mm" not in ph.case and ph.case["l3_note"]
    level = label_level(ph.labels, ph.geometry, VERSE_IDS["L3"])
    assert level is None or level.touches_scan_edge


@pytest.mark.parametrize("seed", [4, 6])
def test_l3_in_view_has_an_l3_slice(seed):
    ph = phantom(seed, l3_in_view=True, fov="l3_near_edge")
    assert isinstance(ph.case["l3_slice"], int)
    assert 0 < ph.case["l3_slice"] < ph.ct.shape[0] - 1


def test_realistic_spacing_and_archive_quirks():
    ph = generate_phantom(
        7, None, fov="abdomen", in_plane_fov_mm=200.0, pixel_spacing_mm=0.8, slice_thickness_mm=5.0, hu_cap=1023, padding_value=-3024
    )
    spacing = ph.geometry.spacing_mm
    np.testing.assert_allclose(spacing, (0.8, 0.8, 5.0))
    assert ph.ct.dtype == np.int16 and ph.labels.dtype == np.uint8 and ph.ct.shape == ph.labels.shape
    assert ph.ct.max() <= 1023
    assert ph.ct[:, 0, 0].tolist() == [-3024] * ph.ct.shape[0]  # corner: outside the scan circle


def test_drawn_acquisition_lies_in_the_documented_ranges():
    for seed in range(40):
        from L3SpotterLib.phantom.sampling import draw_parameters

        params, _ = draw_parameters(seed, None, {})
        acquisition = params["acquisition"]
        assert 0.6 <= acquisition["slice_thickness_mm"] <= 5.0
        assert acquisition["hu_cap"] in (None, 1023, 3071)
        assert acquisition["padding_value"] in (None, -2048, -3024)
        assert 3.0 <= acquisition["noise_sd_hu"] <= 60.0


def test_unknown_or_contradictory_overrides_are_refused():
    with pytest.raises(TypeError):
        generate_phantom(1, 4.0, lumbar_cuont=6)
    with pytest.raises(ValueError):
        generate_phantom(1, 4.0, fov="abdomen", l3_in_view=False)
    with pytest.raises(ValueError):
        generate_phantom(1, 4.0, lumbar_count=7)
    assert "lumbar_count" in OVERRIDES


def test_batch_writing_and_command(tmp_path):
    folders = write_phantom_cases(tmp_path / "batch", 2, seed=9, voxel_mm=6.0, progress=False, fov="abdomen", **SMALL)
    assert [f.name for f in folders] == [f"phantom_{s}" for s in case_seeds(9, 2)]
    for folder in folders:
        assert {p.name for p in folder.iterdir()} == {"ct.nii.gz", "vertebrae.nii.gz", "case.json"}
    import argparse

    parser = add_phantom_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--out", str(tmp_path / "cli"), "--count", "1", "--seed", "9", "--voxel-mm", "6", "--fov", "abdomen", "--quiet"])
    assert run_phantom_command(args) == 0
    assert (tmp_path / "cli" / f"phantom_{case_seeds(9, 1)[0]}" / "case.json").exists()


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10**6), lumbar_count=st.sampled_from([4, 5, 6]), rib_pairs=st.sampled_from([11, 12, 13]))
def test_any_seed_and_count_gives_ordered_counted_labels(seed, lumbar_count, rib_pairs):
    ph = generate_phantom(seed, 8.0, fov="whole_body", lumbar_count=lumbar_count, rib_pairs=rib_pairs, in_plane_fov_mm=300.0)
    names = present_names(ph)
    assert sum(n.startswith("L") for n in names) == lumbar_count
    assert [n for n in names if n.startswith("T")][-1] == (f"T{rib_pairs}" if rib_pairs < 13 else "T13")
    z = [ph.case["vertebrae"][n]["centroid_ras_mm"][2] for n in names]
    assert all(upper > lower for upper, lower in zip(z, z[1:]))
    assert isinstance(ph.case["l3_slice"], int)


def test_oversized_volume_is_refused():
    with pytest.raises(ValueError):
        generate_phantom(1, 0.3, fov="whole_body")


def _skeleton(seed: int, **overrides):
    """Spine, thorax and pelvis of a seed, built without painting (fast)."""
    from L3SpotterLib.phantom.intensities import draw_tissue_hu
    from L3SpotterLib.phantom.pelvis import build_pelvis
    from L3SpotterLib.phantom.sampling import draw_parameters
    from L3SpotterLib.phantom.spine import build_spine
    from L3SpotterLib.phantom.thorax import build_thorax

    params, streams = draw_parameters(seed, 4.0, overrides)
    hu = draw_tissue_hu(streams["intensities"], "none", 0.0, False)
    spine = build_spine(params, hu, streams["build"])
    thorax = build_thorax(params, spine, hu, streams["build"])
    pelvis = build_pelvis(params, spine, hu, streams["build"])
    return params, spine, thorax, pelvis


@pytest.mark.parametrize("seed", range(8))
def test_counting_landmarks_lie_at_their_real_levels(seed):
    """What a reader counts by: the iliac crest tops out between the L5 body and the L3-L4 disc, the
    femoral heads lie 8-17 cm below it, and the last rib ends between T12 and L4."""
    _, spine, thorax, pelvis = _skeleton(seed, lumbar_count=5, rib_pairs=12)
    l3, l4, l5 = (spine.by_name(n) for n in ("L3", "L4", "L5"))
    assert l5.centre[2] - 0.5 * l5.dims["h"] < pelvis.crest_top_z_mm < l3.centre[2] - 0.5 * l3.dims["h"]
    hip_z = np.mean([h[2] for h in pelvis.hip_centres.values()])
    assert 80.0 < pelvis.crest_top_z_mm - hip_z < 170.0
    t12 = spine.by_name("T12")
    assert l4.centre[2] < thorax.lowest_rib_tip_z_mm < t12.centre[2]


def test_shape_draws_vary_between_patients_and_do_not_move_other_draws():
    shapes = [_skeleton(seed)[0]["shape"] for seed in range(12)]
    for key in ("crest_half_width_mm", "rib_slope_offset_deg", "body_width_factor", "last_rib_reach"):
        values = [s[key] for s in shapes]
        assert max(values) > min(values), key
    # an override in another group leaves the shape of a seed unchanged
    assert _skeleton(3)[0]["shape"] == _skeleton(3, lumbar_count=6, habitus="obese")[0]["shape"]


# ---- archive fields of view, narrow reconstructions, the PET/CT protocol and the shifted family


@pytest.mark.parametrize("kind", ["head", "head_neck", "head_to_upper_chest", "neck_chest", "chest", "pelvis_legs", "legs"])
@pytest.mark.parametrize("seed", [5, 8])
def test_archive_fields_without_l3_hold_no_l3_voxel(kind, seed):
    ph = phantom(seed, fov=kind)
    assert ph.case["l3_slice"] is None
    assert "L3" not in present_names(ph)
    names = present_names(ph)
    if kind.startswith("head"):
        assert "C1" in names
    if kind in ("pelvis_legs", "legs"):
        assert not any(name[0] in "CT" for name in names)
    if kind == "pelvis_legs":
        assert "sacrum" in names


def test_narrow_spine_reconstruction_is_centred_on_the_spine_and_holds_the_lumbar_spine():
    ph = phantom(9, fov="lumbar_spine", recon="narrow_spine")
    width_mm = ph.variants["recon"]["width_mm"]
    assert 100.0 <= width_mm <= 200.0
    assert ph.ct.shape[2] * ph.geometry.spacing_mm[0] == pytest.approx(width_mm, abs=4.0)
    assert isinstance(ph.case["l3_slice"], int)
    assert {"L1", "L2", "L3", "L4", "L5"} <= set(present_names(ph))
    l3_x, l3_y, _ = ph.case["vertebrae"]["L3"]["centroid_ras_mm"]
    centre_ras = ph.ijk_to_ras @ np.array([(ph.ct.shape[2] - 1) / 2, (ph.ct.shape[1] - 1) / 2, 0, 1])
    assert abs(centre_ras[0] - l3_x) < 20.0 and abs(centre_ras[1] - l3_y) < 40.0


def test_pet_ct_protocol_draws_thick_noisy_slices_without_contrast():
    ph = generate_phantom(21, None, fov="abdomen", protocol="pet_ct", coarse_pixel_mm=4.0)
    acquisition = ph.variants["acquisition"]
    assert acquisition["slice_thickness_mm"] >= 3.0
    assert acquisition["noise_sd_hu"] >= 20.0
    assert ph.variants["anatomy"]["contrast_phase"] == "none"
    assert ph.variants["protocol"] == "pet_ct"


def test_new_options_do_not_change_a_standard_phantom():
    plain = phantom(13, fov="abdomen")
    archive_forced = phantom(13, fov="abdomen", fov_profile="archive", recon="standard", protocol="standard")
    np.testing.assert_array_equal(plain.ct, archive_forced.ct)
    assert plain.variants["spine"] == archive_forced.variants["spine"]


def test_shifted_family_draws_outside_the_standard_ranges_and_overrides_still_win():
    seeds = range(40)
    from L3SpotterLib.phantom.sampling import draw_parameters

    shifted = [draw_parameters(seed, 4.0, {"distribution": "shifted"})[0] for seed in seeds]
    standard = [draw_parameters(seed, 4.0, {})[0] for seed in seeds]
    assert max(p["shape"]["last_rib_reach"] for p in shifted) > 0.55 >= max(p["shape"]["last_rib_reach"] for p in standard)
    assert max(p["shape"]["crest_height_mm"] for p in shifted) > 36.0 >= max(p["shape"]["crest_height_mm"] for p in standard)
    assert sum(p["protocol"] == "pet_ct" for p in shifted) > 0 == sum(p["protocol"] == "pet_ct" for p in standard)
    forced = draw_parameters(3, 4.0, {"distribution": "shifted", "lumbar_count": 5, "arms": "down"})[0]
    assert forced["spine"]["lumbar_count"] == 5 and forced["anatomy"]["arms"] == "down"


@pytest.mark.parametrize("lumbar_count", [4, 6])
def test_a_forced_lumbar_count_in_the_randomised_family_moves_no_other_draw(lumbar_count):
    # benchmarks/train_transitional_candidate.sh weights up 4- and 6-lumbar spines this way: the spines
    # must be those of the randomised family in every other respect.
    from L3SpotterLib.phantom.sampling import draw_parameters

    for seed in range(20):
        free = draw_parameters(seed, 4.0, {"distribution": "randomized"})[0]
        forced = draw_parameters(seed, 4.0, {"distribution": "randomized", "lumbar_count": lumbar_count})[0]
        assert forced["spine"]["lumbar_count"] == lumbar_count
        assert forced["shape"] == free["shape"] and forced["acquisition"] == free["acquisition"]
        assert forced["spine"]["rib_pairs"] == free["spine"]["rib_pairs"]


def test_every_vertebra_centre_is_recorded_even_outside_the_scan():
    ph = phantom(5, fov="head")
    centres = ph.variants["patient_placement"]["vertebra_centres_ras_mm"]
    assert {"C1", "L3", "S1", "S5"} <= set(centres)
    z = [centres[name][2] for name in ("C1", "T12", "L3", "S1")]
    assert z == sorted(z, reverse=True)
    low_z, high_z = ph.geometry.z_range_ras_mm
    assert not low_z <= centres["L3"][2] <= high_z
