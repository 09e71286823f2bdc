"""The non-anatomical battery: inputs that are not a patient's trunk, none of which may be called ``found``.

    .venv/bin/python benchmarks/non_anatomical_battery.py --out battery/      # writes the files, runs the engine

Writes each input as a NIfTI file into ``--out`` (so any version of ``l3spotter detect`` can be run on
them) and prints the engine's status for each, then the count of ``found`` (the target is 0):

* the straight bone-density rod in a water cylinder of issue 13, as given there, and seven variants of it
  (other rod radii, densities, positions and slice spacings);
* one object of every kind in ``L3SpotterLib/phantom/non_anatomical.py`` (rods, a calibration phantom,
  water, noise, a constant, blobs, a stack of disks with a spine's rhythm, a sphere lattice, a table
  alone, metal rods), two seeds each;
* a phantom's abdomen stacked on a copy of itself (two L3s in one file);
* a phantom whose slices run feet-first under a head-first header (anatomy upside down).

The last two are anatomy, not objects: they must not be ``found`` either (two L3s cannot both be
right; an upside-down file is reported as such).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO)]

import SimpleITK as sitk  # noqa: E402

from L3SpotterLib.volume_io import image_from_array  # noqa: E402
from L3SpotterLib.phantom import generate_phantom  # noqa: E402
from L3SpotterLib.phantom.non_anatomical import KINDS, non_anatomical_volume  # noqa: E402

# (rod radius px, rod HU, rod centre row, spacing (x, y, z) mm) of the rod (first) and its variants.
ROD_VARIANTS = (
    (12.0, 700, 140, (2.0, 2.0, 3.0)),
    (6.0, 700, 140, (2.0, 2.0, 3.0)),
    (20.0, 700, 140, (2.0, 2.0, 3.0)),
    (12.0, 300, 140, (2.0, 2.0, 3.0)),
    (12.0, 1400, 140, (2.0, 2.0, 3.0)),
    (12.0, 700, 100, (2.0, 2.0, 3.0)),
    (12.0, 700, 140, (1.0, 1.0, 1.25)),
    (12.0, 700, 140, (2.0, 2.0, 5.0)),
)


def battery_inputs():
    """``(name, image)`` of every battery input, as SimpleITK images."""
    for index, (radius, hu, row, spacing) in enumerate(ROD_VARIANTS):
        y, x = np.mgrid[:200, :200]
        volume = np.full((134, 200, 200), -1000, np.int16)
        # The rod: radius 12 px ((y-140)**2 + (x-100)**2 < 144).
        volume[:, (y - row) ** 2 + (x - 100) ** 2 < radius**2] = hu
        image = sitk.GetImageFromArray(volume)
        image.SetSpacing(spacing)
        yield f"issue_rod_{index}", image
    for kind in KINDS:
        for seed in (1, 2):
            voxels, ijk_to_ras = non_anatomical_volume(kind, 990000 + seed)
            yield f"{kind}_{seed}", image_from_array(voxels, ijk_to_ras)
    phantom = generate_phantom(990101, voxel_mm=2.0, fov="abdomen")
    yield "two_abdomens_stacked", image_from_array(np.concatenate([phantom.ct, phantom.ct]), phantom.ijk_to_ras)
    phantom = generate_phantom(990102, voxel_mm=2.0, fov="abdomen_pelvis")
    yield "abdomen_pelvis_upside_down", image_from_array(np.ascontiguousarray(phantom.ct[::-1]), phantom.ijk_to_ras)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for the battery's NIfTI files")
    parser.add_argument("--model", default=None, help="model card (default: the shipped model)")
    parser.add_argument("--write-only", action="store_true", help="write the files, do not run the engine")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in battery_inputs():
        path = out / f"{name}.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        paths.append(path)
    print(f"{len(paths)} inputs written to {out}")
    if args.write_only:
        return 0
    from L3SpotterLib.detector import L3Detector

    detector = L3Detector(args.model, device="cpu")
    found = 0
    for path in paths:
        result = detector.detect_path(path)
        found += result.status == "found"
        print(f"{path.name}: {result.summary()}")
    print(f"found: {found} of {len(paths)} (target 0)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
