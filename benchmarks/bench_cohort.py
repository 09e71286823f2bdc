"""The whole run on a cohort: what a user waits for, start-up, reading and pictures included.

    .venv/bin/python benchmarks/bench_cohort.py                 # 8 scans of 512x512x300 (.nii.gz)
    .venv/bin/python benchmarks/bench_cohort.py --scans 16 --slices 300

Writes synthetic int16 scans (the content of ``bench_speed.synthetic_scan``: timing only), then, in one run:

* reading them all with the engine's reader (``volume_io.load_ct``), in this process: the floor a batch
  cannot go under;
* ``l3spotter detect FOLDER --out OUT`` as a fresh process (start-up and model load included), with the
  QC pictures, with ``--no-png``, and on a local Dask cluster of two workers (``--workers 2``);
* from the results' own timings, how much of the reading the batch hid behind the network (it reads one
  volume ahead in a thread);
* one 512x512x500 ``.nii``: the whole ``l3spotter detect`` process, and the same minus reading the file;
* Slicer's second "Detect L3" on a loaded scan (model cached), on slicer-core's MRML classes.

Prints a table and the ratio batch / read-only, then extrapolates to 100,000 scans on a 32-core node run as
16 two-core jobs (``--shard`` style), from the per-scan time measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO), str(REPO / "benchmarks")]

from bench_speed import synthetic_scan  # noqa: E402


def write_scans(folder: Path, n_scans: int, n_slices: int, suffix: str = ".nii.gz") -> list[Path]:
    import SimpleITK as sitk

    from L3SpotterLib.geometry import lps_from_ijk_to_ras

    paths = []
    for index in range(n_scans):
        voxels, matrix = synthetic_scan(n_slices + index)  # a slice more each: no two files alike
        image = sitk.GetImageFromArray(voxels)
        origin, spacing, direction = lps_from_ijk_to_ras(matrix)
        image.SetOrigin(origin)
        image.SetSpacing(spacing)
        image.SetDirection(direction.ravel())
        path = folder / f"scan_{index:03d}{suffix}"
        sitk.WriteImage(image, str(path), useCompression=suffix.endswith(".gz"))
        paths.append(path)
    return paths


def read_all_seconds(paths: list[Path]) -> float:
    from L3SpotterLib.volume_io import load_ct

    started = time.perf_counter()
    for path in paths:
        load_ct(path)
    return time.perf_counter() - started


def detect_seconds(folder: Path, out: Path, *options: str) -> tuple[float, list[dict]]:
    """Wall time of a fresh ``l3spotter detect`` process, and its results' JSON."""
    command = [sys.executable, "-m", "L3SpotterLib.app.cli", "detect", str(folder), "--out", str(out), *options]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path[:2])})
    seconds = time.perf_counter() - started
    return seconds, [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]


def slicer_second_detect_seconds(path: Path) -> float | None:
    """Slicer's "Detect L3" a second time on a loaded scan (model cached), on slicer-core's MRML classes."""
    try:
        import slicer
    except ImportError:
        return None
    from L3SpotterLib.slicer_adapter import mrml

    import vtk

    vtk.vtkObject.GlobalWarningDisplayOff()  # slicer-core without the Colors module logs an error per volume
    scene = slicer.vtkMRMLScene()
    volumes_logic = slicer.vtkSlicerVolumesLogic()
    volumes_logic.SetMRMLScene(scene)
    node = volumes_logic.AddArchetypeVolume(str(path), "CT")
    mrml.detect_volume_node(node)  # the first press loads the model
    started = time.perf_counter()
    mrml.detect_volume_node(node)
    seconds = time.perf_counter() - started
    volumes_logic.SetMRMLScene(None)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=8)
    parser.add_argument("--slices", type=int, default=300)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        folder, outputs, single = Path(temporary) / "scans", Path(temporary) / "out", Path(temporary) / "single"
        folder.mkdir()
        single.mkdir()
        paths = write_scans(folder, args.scans, args.slices)
        size_mb = sum(path.stat().st_size for path in paths) / 2**20
        read_s = read_all_seconds(paths)
        png_s, png_results = detect_seconds(folder, outputs / "png")
        plain_s, plain_results = detect_seconds(folder, outputs / "no_png", "--no-png")
        dask_s, dask_results = detect_seconds(folder, outputs / "dask", "--workers", "2")
        big = write_scans(single, 1, 500, suffix=".nii")[0]
        one_read_s = read_all_seconds([big])
        one_s, _ = detect_seconds(single, outputs / "single")
        slicer_s = slicer_second_detect_seconds(big)

    n = args.scans
    statuses = sorted({result["status"] for result in png_results + plain_results + dask_results})
    reading_inside = sum(result["timings_s"]["read"] for result in plain_results)
    computing_inside = sum(result["timings_s"]["mip"] + result["timings_s"]["locate"] for result in plain_results)
    print(f"{n} scans of 512x512x{args.slices}-{args.slices + n - 1} int16 (.nii.gz, {size_mb:.0f} MB in all), {os.cpu_count()} CPU cores; statuses {statuses}")
    print("| run | seconds | per scan | / read-only |")
    print("|---|---|---|---|")
    print(f"| read every file (volume_io.load_ct), in process | {read_s:.1f} | {read_s / n:.2f} | 1.00 |")
    print(f"| l3spotter detect, QC pictures on (fresh process) | {png_s:.1f} | {png_s / n:.2f} | {png_s / read_s:.2f} |")
    print(f"| l3spotter detect --no-png (fresh process) | {plain_s:.1f} | {plain_s / n:.2f} | {plain_s / read_s:.2f} |")
    print(f"| l3spotter detect --workers 2 (local Dask cluster), pictures on | {dask_s:.1f} | {dask_s / n:.2f} | {dask_s / read_s:.2f} |")
    print(f"inside the --no-png batch: reading {reading_inside:.1f} s and MIP + network {computing_inside:.1f} s, "
          f"done in {plain_s:.1f} s of wall time including start-up (read one ahead, in a thread)")
    print(f"one scan, 512x512x500 int16 .nii: l3spotter detect (fresh process, picture on) {one_s:.2f} s, reading it {one_read_s:.2f} s, "
          f"the rest {one_s - one_read_s:.2f} s")
    if slicer_s is None:
        print("Slicer, second Detect L3 on the loaded scan: slicer-core not installed")
    else:
        print(f"Slicer (slicer-core's MRML classes), second Detect L3 on that scan, model cached: {slicer_s:.2f} s")
    per_scan_s = png_s / n
    jobs = 16
    hours = 100_000 * per_scan_s / jobs / 3600
    print(f"extrapolation: 100,000 such scans on a 32-core node as {jobs} two-core jobs, at {per_scan_s:.2f} s per scan "
          f"(this run, pictures on): {hours:.1f} h, assuming the jobs do not slow each other (memory bandwidth and disk will)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
