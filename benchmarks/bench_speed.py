"""Speed and memory of the engine, stage by stage, and against the seed's configuration in the same run.

    .venv/bin/python benchmarks/bench_speed.py                  # the shipped model, CPU (and CUDA if present)
    .venv/bin/python benchmarks/bench_speed.py --sizes 500 --repeats 5

For synthetic 512x512xN int16 scans (0.8 mm pixels, 1 mm slices) it prints the median time of each stage
(read from a .nii.gz, MIP, window extraction, CNN, correlation) and the total of MIP + windows + CNN +
correlation, plus the peak resident memory above the volume itself during one detection (Linux VmHWM,
reset just before). Each size runs in a fresh process so
that peaks do not carry over. The seed's configuration (VGG16, one window per pixel) is timed on the same
scan in the same run, and our default's time is printed as a ratio of it. Start-up (import and model load)
is timed in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "L3Spotter"))
sys.path.insert(0, str(REPO))


def synthetic_scan(n_slices: int) -> tuple[np.ndarray, np.ndarray]:
    """A 512x512xN int16 body with a spine column and ribs-like bars: content for timing only."""
    from L3SpotterLib.geometry import ijk_to_ras_from_lps

    rng = np.random.default_rng(n_slices)
    volume = np.full((n_slices, 512, 512), -1024, dtype=np.int16)
    yy, xx = np.mgrid[:512, :512]
    body = ((yy - 256) / 170.0) ** 2 + ((xx - 256) / 220.0) ** 2 <= 1
    spine = ((yy - 330) ** 2 + (xx - 256) ** 2) <= 25**2
    for k in range(n_slices):
        slice_ = volume[k]
        slice_[body] = 40
        slice_[spine] = 300 if (k // 35) % 2 == 0 else 90
    volume += rng.integers(-15, 15, size=volume.shape, dtype=np.int16)
    matrix = ijk_to_ras_from_lps((-204.8, -204.8, 0.0), (0.8, 0.8, 1.0), np.eye(3).ravel())
    return volume, matrix


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM (the peak resident set) to the current size."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def time_stages(detector, voxels, matrix, stride_px: int | None, repeats: int) -> dict:
    """Median seconds of each stage over ``repeats`` runs."""
    import torch

    from L3SpotterLib.geometry import VolumeGeometry
    from L3SpotterLib.pipeline import front_back_swapped, locate
    from L3SpotterLib.windows import extract_windows, padded_for_windows, window_tops

    card = detector.card
    stride = stride_px or card.default_stride_px
    geometry = VolumeGeometry(matrix, tuple(reversed(voxels.shape)))
    times = {"mip": [], "windows": [], "cnn": [], "correlation": [], "total": [], "front_back_reading": []}
    for _ in range(repeats):
        start = time.perf_counter()
        projections = detector.projections(voxels, geometry)
        mip_done = time.perf_counter()
        stacked = np.stack([p.pixels for p in projections])
        tops = window_tops(stacked.shape[1], card.window_height_px, stride)
        windows_start = time.perf_counter()
        extract_windows(padded_for_windows(stacked, card.window_height_px), tops, card.window_height_px)
        windows_time = time.perf_counter() - windows_start
        cnn_start = time.perf_counter()
        detector.window_predictions(stacked, stride)
        if detector.device.type == "cuda":
            torch.cuda.synchronize()
        cnn_time = time.perf_counter() - cnn_start
        locate_start = time.perf_counter()
        locate(stacked, detector.model, stride, may_swap_front_back=False)
        if detector.device.type == "cuda":
            torch.cuda.synchronize()
        locate_time = time.perf_counter() - locate_start
        # An answer that is not found is read once more with front and back swapped (pipeline.locate): one more
        # pass of the windows and the count, timed apart because found answers never pay it.
        swapped_start = time.perf_counter()
        if "lateral" in card.views:
            locate(front_back_swapped(stacked, list(card.views)), detector.model, stride, may_swap_front_back=False)
            if detector.device.type == "cuda":
                torch.cuda.synchronize()
        times["front_back_reading"].append(time.perf_counter() - swapped_start)
        times["mip"].append(mip_done - start)
        times["windows"].append(windows_time)
        # window_predictions extracts its own windows batch by batch: the CNN stage is the rest of its time.
        times["cnn"].append(max(0.0, cnn_time - windows_time))
        # locate runs the windows and the CNN again, then the ramp match and the vertebra count.
        times["correlation"].append(max(0.0, locate_time - cnn_time))
        times["total"].append((mip_done - start) + locate_time)
    result = {stage: float(np.median(values)) for stage, values in times.items()}
    result["n_windows"] = int(len(tops))
    result["stride_px"] = int(stride)
    return result


def measure_size(job) -> dict:
    """Runs in a fresh process: read, stages, peak memory, and the seed's configuration."""
    n_slices, model, device, repeats, seed_model = job
    import torch

    from L3SpotterLib.detector import L3Detector

    torch.set_num_threads(os.cpu_count() or 1)
    detector = L3Detector(model, device=device)
    voxels, matrix = synthetic_scan(n_slices)
    with tempfile.TemporaryDirectory() as folder:
        import SimpleITK as sitk

        from L3SpotterLib.geometry import lps_from_ijk_to_ras
        from L3SpotterLib.volume_io import load_ct

        image = sitk.GetImageFromArray(voxels)
        origin, spacing, direction = lps_from_ijk_to_ras(matrix)
        image.SetOrigin(origin)
        image.SetSpacing(spacing)
        image.SetDirection(direction.ravel())
        path = Path(folder) / "scan.nii.gz"
        sitk.WriteImage(image, str(path))
        del image
        read_times = []
        for _ in range(max(1, repeats // 2)):
            start = time.perf_counter()
            load_ct(path)
            read_times.append(time.perf_counter() - start)
    detector.detect_array(voxels, matrix)  # warm-up (allocator, thread pools)
    _reset_peak_rss()
    baseline_rss = _status_bytes("VmRSS")
    result = detector.detect_array(voxels, matrix)
    stages = {"peak_extra_mb": max(0.0, (_status_bytes("VmHWM") - baseline_rss) / 2**20)}
    stages["picture"] = picture_seconds(result, repeats)
    stages.update(time_stages(detector, voxels, matrix, None, repeats))
    stages["read"] = float(np.median(read_times))
    stages["volume_mb"] = voxels.nbytes / 2**20
    stages["device"] = torch.cuda.get_device_name(0) if detector.device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    if seed_model is not None:
        seed_detector = L3Detector(seed_model, device=device)
        seed_detector.detect_array(voxels, matrix, stride_px=1)
        seed = time_stages(seed_detector, voxels, matrix, 1, max(1, repeats // 2))
        stages["seed_total"] = seed["total"]
        stages["seed_n_windows"] = seed["n_windows"]
    return {"n_slices": n_slices, **stages}


def picture_seconds(result, repeats: int) -> float:
    """Median seconds to draw the QC picture of one result (PNG bytes, as a batch writes per case)."""
    from L3SpotterLib.app.report_png import render_result_png

    render_result_png(result)  # warm-up (font loading)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        render_result_png(result)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def seed_configuration_model(folder: Path, reference_card) -> Path:
    """An untrained VGG16 window regressor on our grid: the seed's network and cost (weights do not
    change the time), saved as a model so that it runs through the same engine."""
    import torch

    from L3SpotterLib.model_card import ModelCard, save_model
    from L3SpotterLib.networks import WindowRegressor

    torch.manual_seed(0)
    card = ModelCard(
        name="seed-vgg16-stride1", backbone="vgg16", views=list(reference_card.views), row_mm=reference_card.row_mm,
        col_mm=reference_card.col_mm, window_height_px=reference_card.window_height_px, window_width_px=reference_card.window_width_px,
        hu_window=tuple(reference_card.hu_window), weights_file="", default_stride_px=1,
    )
    path = folder / "seed_vgg16.json"
    save_model(WindowRegressor("vgg16", n_views=len(card.views)), card, path)
    return path


def startup_seconds(model: str | None, first: str = "") -> float:
    """Import the engine and load the model in a fresh interpreter (what ``l3spotter detect`` pays first);
    ``first``: statements run before, inside the timing (``import torchvision``: the start-up as it was
    when the engine built mobilenet_v2 with torchvision)."""
    code = (
        f"import time; t = time.perf_counter(); {first}from L3SpotterLib.detector import L3Detector; "
        f"L3Detector({model!r}, device='cpu'); print(time.perf_counter() - t)"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'L3Spotter'}:{REPO}"}
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout) for _ in range(3)]
    return float(np.median(runs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000], help="slices per scan")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-seed", action="store_true", help="skip the seed's configuration (VGG16, stride 1)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    import torch

    from L3SpotterLib.model_card import read_card, resolve_card_path

    card = read_card(resolve_card_path(args.model))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        seed_model = None if args.no_seed else str(seed_configuration_model(Path(folder), card))
        for device in devices:
            for n_slices in args.sizes:
                with context.Pool(1) as pool:
                    row = pool.apply(measure_size, ((n_slices, args.model, device, args.repeats, seed_model),))
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    startup = startup_seconds(args.model)
    startup_with_torchvision = startup_seconds(args.model, first="import torchvision; ")

    print(f"model: {card.name} ({card.backbone}, {card.window_height_px}x{card.window_width_px} px windows at {card.row_mm} mm, stride {card.default_stride_px} px)")
    print("| scan | device | read | MIP | windows | CNN | correlation | MIP+CNN+correlation | answer not found: + front-back reading | windows run | peak extra memory | QC picture | seed config (VGG16, stride 1) | ours / seed |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = f"1/{row['seed_total'] / row['total']:.0f}" if "seed_total" in row else "-"
        seed = f"{row['seed_total']:.1f} s ({row['seed_n_windows']} windows)" if "seed_total" in row else "-"
        print(
            f"| 512x512x{row['n_slices']} ({row['volume_mb']:.0f} MB) | {row['device']} | {row['read']:.2f} s | {row['mip']:.3f} s | "
            f"{row['windows']:.3f} s | {row['cnn']:.3f} s | {row['correlation']:.3f} s | **{row['total']:.2f} s** | "
            f"+{row['front_back_reading']:.2f} s | {row['n_windows']} | "
            f"{row['peak_extra_mb']:.0f} MB ({row['peak_extra_mb'] / row['volume_mb']:.2f}x volume) | {row['picture']:.3f} s | {seed} | {ratio} |"
        )
    print(f"start-up (import + model load, fresh interpreter, median of 3): {startup:.2f} s; "
          f"with torchvision imported too, as the engine did before it built mobilenet_v2 from torch alone: {startup_with_torchvision:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "startup_s": startup, "startup_with_torchvision_s": startup_with_torchvision}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
