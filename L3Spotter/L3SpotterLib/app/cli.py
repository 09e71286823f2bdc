"""The ``l3spotter`` command line.

    l3spotter detect PATH... [--out DIR] [--model M] [--device auto|cpu|cuda] [--stride PX] [--json]
                    [--workers N | --scheduler ADDRESS] [--shard I/N]
    l3spotter merge OUT SHARD_OUT...
    l3spotter demo [--out DIR]
    l3spotter phantom --out DIR --count N --seed S [--voxel-mm MM]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Exit codes (the README lists them).
EXIT_OK = 0  # every case has a result (found, uncertain or not in view)
EXIT_CASE_FAILED = 1  # some case failed: results.csv and its JSON say why; the others are done
EXIT_USAGE = 2  # bad arguments, or the model cannot be loaded: nothing was run
EXIT_OUTPUT_UNUSABLE = 3  # the output folder cannot be created or written to: nothing was run
EXIT_OUTPUT_BUSY = 4  # another l3spotter run is using the output folder: nothing was run
EXIT_INTERRUPTED = 130  # Ctrl-C: finished cases are kept, a rerun goes on from there

DEMO_SEED = 3
DEFAULT_OUT_DIR = "l3spotter-results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="l3spotter", description="Find the L3 vertebra slice in CT scans.")
    commands = parser.add_subparsers(dest="command", required=True)

    detect = commands.add_parser("detect", help="detect L3 in files, folders and DICOM series")
    detect.add_argument("paths", nargs="+", metavar="PATH", help="volume files (.nii, .nii.gz, .nrrd, .mha, .mhd), folders, DICOM folders")
    _add_engine_arguments(detect)
    detect.add_argument("--out", default=DEFAULT_OUT_DIR, help=f"output folder (default: ./{DEFAULT_OUT_DIR})")
    detect.add_argument("--json", action="store_true", help="print the results on stdout as a JSON list, one object per case")
    detect.add_argument("--overwrite", action="store_true", help="redo cases that already have a result in --out")
    detect.add_argument("--no-png", action="store_true", help="do not draw a picture per case")
    where = detect.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="run the cases on a local Dask cluster of N worker processes")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS", help="run the cases on an existing Dask cluster (tcp://host:8786)")
    detect.add_argument("--shard", default=None, metavar="I/N",
                        help="only the cases of shard I of N (1 <= I <= N; each case falls in one shard by its id), for job arrays")

    merge = commands.add_parser("merge", help="combine the output folders of shards (or of any batches) into one")
    merge.add_argument("out", metavar="OUT", help="the output folder to fill (created if needed)")
    merge.add_argument("shards", nargs="+", metavar="SHARD_OUT", help="output folders of l3spotter detect")

    demo = commands.add_parser("demo", help="generate a synthetic CT phantom and find its L3 (no arguments needed)")
    _add_engine_arguments(demo)
    demo.add_argument("--out", default="l3spotter-demo", help="output folder (default: ./l3spotter-demo)")

    from ..phantom import add_phantom_arguments

    phantom = commands.add_parser("phantom", help="write synthetic CT phantoms with vertebra labels")
    add_phantom_arguments(phantom)
    return parser


def _add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="model card (.json), weights (.pt) or model name (default: the shipped model)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--stride", type=int, default=None, help="window stride in pixels (default: the model's)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "detect":
            return run_detect(args)
        if args.command == "demo":
            return run_demo(args)
        if args.command == "merge":
            return run_merge(args)
        if args.command == "phantom":
            from ..phantom import run_phantom_command

            return run_phantom_command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE


def _load_detector(args):
    from ..detector import L3Detector
    from ..errors import L3SpotterError

    try:
        return L3Detector(model=args.model, device=args.device)
    except (L3SpotterError, ValueError) as error:
        print(f"l3spotter: {error}", file=sys.stderr)
        return None


def _holding_output_folder(out_dir: Path, run) -> int:
    """Check the output folder, hold it for the run, and call ``run()``: before any model is loaded, so a
    folder that cannot take the results costs nothing and gets its own exit code."""
    from .output_folder import OutputFolderBusy, OutputFolderError, OutputFolderLock, prepare_output_folder

    try:
        prepare_output_folder(out_dir)
        with OutputFolderLock(out_dir):
            return run()
    except OutputFolderError as error:
        print(f"l3spotter: {error}", file=sys.stderr)
        return EXIT_OUTPUT_UNUSABLE
    except OutputFolderBusy as error:
        print(f"l3spotter: {error}", file=sys.stderr)
        return EXIT_OUTPUT_BUSY


def run_detect(args) -> int:
    problem = _detect_usage_problem(args)
    if problem:
        print(f"l3spotter: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return _holding_output_folder(Path(args.out), lambda: _detect_into_held_folder(args))


def _detect_usage_problem(args) -> str | None:
    if args.stride is not None and args.stride < 1:
        return "--stride must be at least 1"
    if args.workers is not None and args.workers < 1:
        return "--workers must be at least 1"
    if args.shard is not None:
        from .sharding import parse_shard

        try:
            parse_shard(args.shard)
        except ValueError as error:
            return str(error)
    if args.workers is not None or args.scheduler is not None:
        from .dask_batch import dask_missing_message

        return dask_missing_message()
    return None


def _detect_into_held_folder(args) -> int:
    from .case_discovery import discover_cases

    detector = _load_detector(args)
    if detector is None:
        return EXIT_USAGE
    cases = discover_cases(args.paths)
    if args.shard is not None:
        from .sharding import parse_shard, shard_cases

        cases = shard_cases(cases, *parse_shard(args.shard))
    outcome = _run_cases(args, detector, cases)
    if args.json:
        print(json.dumps([result.to_dict() for _, result in outcome.results], indent=2))
    else:
        for case, result in outcome.results:
            print(f"{case.case_id}: {result.summary()}")
    if outcome.skipped:
        print(f"skipped {outcome.skipped} case(s) already done in {args.out} (use --overwrite to redo)", file=sys.stderr)
    print(f"results: {Path(args.out) / 'results.csv'}", file=sys.stderr)
    if outcome.n_failed:
        print(f"{outcome.n_failed} of {len(outcome.results)} case(s) failed; see results.csv", file=sys.stderr)
        return EXIT_CASE_FAILED
    return EXIT_OK


def _run_cases(args, detector, cases):
    options = dict(stride_px=args.stride, overwrite=args.overwrite, write_png=not args.no_png)
    if args.workers is None and args.scheduler is None:
        from .batch import run_batch

        return run_batch(detector, cases, Path(args.out), **options)
    from .dask_batch import local_cluster_client, run_batch_on_dask, worker_torch_threads

    if args.scheduler is not None:
        from distributed import Client

        with Client(args.scheduler) as client:
            return run_batch_on_dask(client, detector, cases, Path(args.out), **options)
    with local_cluster_client(args.workers) as client:
        try:
            return run_batch_on_dask(client, detector, cases, Path(args.out), torch_threads=worker_torch_threads(args.workers), **options)
        finally:
            client.cluster.close()


def run_merge(args) -> int:
    """Copy every result of the shard folders into OUT and write OUT's results.csv."""
    from .sharding import MergeConflict, merge_output_folders

    def merge() -> int:
        try:
            n_cases = merge_output_folders([Path(shard) for shard in args.shards], Path(args.out))
        except MergeConflict as error:
            print(f"l3spotter: {error}", file=sys.stderr)
            return EXIT_USAGE
        print(f"merged {n_cases} case(s) into {Path(args.out) / 'results.csv'}", file=sys.stderr)
        return EXIT_OK

    return _holding_output_folder(Path(args.out), merge)


def run_demo(args) -> int:
    """Generate one phantom, detect its L3, and compare with the phantom's known L3."""
    return _holding_output_folder(Path(args.out), lambda: _demo_into_held_folder(args))


def _demo_into_held_folder(args) -> int:
    from .batch import run_batch
    from .case_discovery import Case
    from ..phantom import generate_phantom, write_phantom_case

    out_dir = Path(args.out)
    detector = _load_detector(args)
    if detector is None:
        return EXIT_USAGE
    print(f"generating a synthetic CT phantom (seed {DEMO_SEED}) ...", file=sys.stderr)
    phantom = generate_phantom(DEMO_SEED, voxel_mm=None, fov="abdomen_pelvis", slice_thickness_mm=2.5)
    case_dir = write_phantom_case(phantom, out_dir / f"phantom_{DEMO_SEED}")
    ct_path = case_dir / "ct.nii.gz"
    outcome = run_batch(detector, [Case(input=str(ct_path), case_id="demo")], out_dir, stride_px=args.stride, overwrite=True)
    _, result = outcome.results[0]
    print(result.summary())
    truth_slice = phantom.case.get("l3_slice")
    if result.l3_slice is not None and truth_slice is not None:
        spacing = abs(result.l3_z_ras_mm - phantom.case["l3_z_ras_mm"])
        print(f"known L3 of the phantom: slice {truth_slice}; error {abs(result.l3_slice - truth_slice)} slice(s), {spacing:.1f} mm")
    print(f"picture: {out_dir / 'demo.png'}   result: {out_dir / 'demo.json'}   scan: {ct_path}")
    return EXIT_OK if result.ok else EXIT_CASE_FAILED


if __name__ == "__main__":
    sys.exit(main())
