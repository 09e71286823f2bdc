"""A batch on a Dask cluster: a local one (``--workers N``) or an existing one (``--scheduler ADDRESS``).

Each case is one Dask task. A worker loads the model once (per process, on first use) and returns the
result's JSON and its QC picture; this process alone writes the output folder, through the same
:class:`~batch.BatchRecorder` as a batch in one process, so the folder's rules hold unchanged: unique case
ids, one ``results.csv``, each file written atomically, and a rerun goes on from the finished cases.

A task whose worker dies is retried on another worker by the scheduler. A local cluster allows one retry
(``distributed.scheduler.allowed-failures`` = 1) and gives each worker one case at a time: a case that
kills two workers is recorded as an error, not lost, and the batch goes on. On an existing cluster that number is the cluster's own setting.

Dask is only needed for these options (``pip install "dask[distributed]"``); the rest of L3Spotter runs
without it.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

from ..result import DetectionResult, error_result
from .batch import BatchOutcome, BatchRecorder, Picture, draw_picture, settings_of
from .case_discovery import Case

ALLOWED_WORKER_DEATHS_PER_CASE = 1  # retries after the first death; the second death is the case's error

# One detector per worker process, keyed by (model, device): loaded on the worker's first case.
_worker_detectors: dict = {}


def detect_on_worker(case_input: str, model, device: str, stride_px: int | None, write_png: bool, torch_threads: int | None) -> tuple[str, bytes | None, str]:
    """Runs on a Dask worker: ``(result JSON, PNG bytes or None, picture problem)`` for one case."""
    key = (None if model is None else str(model), device)
    if key not in _worker_detectors:
        import torch

        from ..detector import L3Detector

        if torch_threads:
            torch.set_num_threads(torch_threads)
        _worker_detectors[key] = L3Detector(model, device=device)
    detector = _worker_detectors[key]
    try:
        result = detector.detect_path(case_input, stride_px=stride_px)
    except MemoryError:
        result = error_result(case_input, f"{case_input}: ran out of memory")
    picture = draw_picture(result, case_input) if write_png else None
    return result.to_json(), None if picture is None else picture.png, "" if picture is None else picture.problem


def local_cluster_client(n_workers: int):
    """A Dask client on a new local cluster of ``n_workers`` single-threaded worker processes."""
    import dask
    from distributed import Client, LocalCluster

    # One case per worker at a time (Dask's default saturation, 1.1, sends a second case to a one-thread
    # worker): a worker's death then counts against the case that killed it only, never against an
    # innocent case queued behind it, which two deaths would otherwise make an error too.
    dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_WORKER_DEATHS_PER_CASE,
                     "distributed.scheduler.worker-saturation": 1.0})
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster)


def run_batch_on_dask(client, detector, cases: list[Case], out_dir: Path, stride_px: int | None = None, overwrite: bool = False,
                      write_png: bool = True, progress: bool = True, torch_threads: int | None = None,
                      detect=detect_on_worker) -> BatchOutcome:
    """The batch of :func:`batch.run_batch`, each case on a worker of ``client``'s cluster.

    ``detector`` is this process's copy of the model: it says which model the workers load (its card)
    and what a reusable result must have been computed with. ``detect`` is the function a worker runs.
    """
    from distributed import as_completed

    recorder = BatchRecorder(settings_of(detector, stride_px), cases, out_dir, overwrite)
    model = str(detector.model_path)
    futures, run = {}, uuid.uuid4().hex[:8]
    for case, fingerprint in recorder.to_do:
        # A key of this run's own: a cluster remembers the outcome of a key it has seen (a rerun must redo).
        future = client.submit(detect, case.input, model, str(detector.device.type), stride_px, write_png, torch_threads,
                               key=f"l3spotter-{run}-{case.case_id}", pure=False)
        futures[future] = (case, fingerprint)
    with recorder.progress_bar(progress) as bar:
        for future in as_completed(futures):
            case, fingerprint = futures.pop(future)
            recorder.record(case, fingerprint, *_answer(future, case))
            bar.update()
    return recorder.finish()


def _answer(future, case: Case) -> tuple[DetectionResult, Picture | None]:
    from distributed import KilledWorker

    try:
        result_json, png, picture_problem = future.result()
    except KilledWorker:
        return error_result(case.input, f"{case.input}: the worker running this case died {ALLOWED_WORKER_DEATHS_PER_CASE + 1} times "
                                        "(out of memory, or a crash while reading it?)"), None
    except Exception as error:  # a batch goes on past any case; the CSV names what went wrong
        return error_result(case.input, f"{case.input}: unexpected {type(error).__name__}: {error}"), None
    result = DetectionResult.from_dict(json.loads(result_json))
    picture = Picture(png, picture_problem) if (png is not None or picture_problem) else None
    return result, picture


def worker_torch_threads(n_workers: int) -> int:
    """Torch threads per worker on this machine, so that the workers together use every core once."""
    return max(1, (os.cpu_count() or 1) // n_workers)


def dask_missing_message() -> str | None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return f'--workers and --scheduler need Dask: {sys.executable} -m pip install "dask[distributed]"'
    return None
