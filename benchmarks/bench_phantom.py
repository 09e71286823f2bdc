"""Time the phantom generator on one core and print a table (a benchmark, not a timed test).

    PYTHONPATH=L3Spotter:. python benchmarks/bench_phantom.py [--training 20] [--full 3]

Rows: training-size phantoms (isotropic 2 mm, every field-of-view kind as drawn) and full-resolution
phantoms (512 x 512 pixels, 1 mm slices, chest-abdomen-pelvis). Targets: median <= 2 s and <= 30 s.
The process is pinned to one CPU where the platform allows it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from L3SpotterLib.phantom import generate_phantom


def _pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def _run(label: str, seeds, voxel_mm, **overrides):
    times, voxels, shapes = [], [], []
    for seed in seeds:
        start = time.perf_counter()
        phantom = generate_phantom(seed, voxel_mm, **overrides)
        times.append(time.perf_counter() - start)
        voxels.append(phantom.ct.size / 1e6)
        shapes.append("x".join(str(n) for n in phantom.ct.shape[::-1]))
    return {
        "case": label,
        "n": len(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
        "median_mvox": statistics.median(voxels),
        "example_shape_ijk": shapes[len(shapes) // 2],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--training", type=int, default=20, help="number of 2 mm phantoms (default 20)")
    parser.add_argument("--full", type=int, default=3, help="number of full-resolution phantoms (default 3)")
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args(argv)
    print(_pin_to_one_core())
    generate_phantom(0, 4.0, fov="abdomen")  # warm up imports and caches
    rows = [
        _run("training 2 mm, drawn FOV", range(args.seed, args.seed + args.training), 2.0),
        _run("training 2 mm, chest-abdomen-pelvis", range(args.seed, args.seed + max(1, args.training // 2)), 2.0, fov="chest_abdomen_pelvis"),
    ]
    if args.full:
        rows.append(
            _run(
                "full 512x512, 1 mm slices, chest-abdomen-pelvis",
                range(args.seed, args.seed + args.full),
                None,
                fov="chest_abdomen_pelvis",
                slice_thickness_mm=1.0,
            )
        )
    header = f"{'case':<50} {'n':>3} {'median s':>9} {'max s':>7} {'Mvoxels':>8}  example shape (i x j x k)"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['case']:<50} {row['n']:>3} {row['median_s']:>9.2f} {row['max_s']:>7.2f} {row['median_mvox']:>8.1f}  {row['example_shape_ijk']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
