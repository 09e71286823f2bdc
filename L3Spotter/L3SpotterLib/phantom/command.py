"""The ``l3spotter phantom`` command: arguments and runner (the CLI module wires them in)."""

from __future__ import annotations

import argparse
import sys


def add_phantom_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--out", required=True, help="output folder; one sub-folder phantom_<seed> per case")
    parser.add_argument("--count", type=int, default=1, help="number of phantoms (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the series; case seeds derive from it (default 0)")
    parser.add_argument(
        "--voxel-mm",
        type=float,
        default=None,
        help="isotropic voxel size in mm (2 = training size); default: realistic scanner spacing drawn per case",
    )
    parser.add_argument("--fov", default=None, help="force the field of view (chest_abdomen_pelvis, abdomen_pelvis, abdomen, whole_body, l3_near_edge, l3_outside)")
    parser.add_argument("--intensity-randomization", type=float, default=0.0, help="0..1: tissue HU from realistic (0) towards random (1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_phantom_command(args: argparse.Namespace) -> int:
    from .writing import write_phantom_cases

    if args.count < 1:
        print("--count must be at least 1", file=sys.stderr)
        return 2
    if args.voxel_mm is not None and not 0.3 <= args.voxel_mm <= 10.0:
        print("--voxel-mm must lie between 0.3 and 10 mm", file=sys.stderr)
        return 2
    overrides = {"intensity_randomization": args.intensity_randomization}
    if getattr(args, "fov", None):
        overrides["fov"] = args.fov
    try:
        folders = write_phantom_cases(args.out, args.count, args.seed, args.voxel_mm, progress=not args.quiet, **overrides)
    except (ValueError, TypeError) as error:
        print(f"phantom: {error}", file=sys.stderr)
        return 2
    for folder in folders:
        print(folder)
    return 0
