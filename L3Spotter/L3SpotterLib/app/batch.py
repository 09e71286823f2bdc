"""Run the detector over many cases: one JSON and one PNG per case, and a ``results.csv`` of every case in
the output folder (earlier batches' included).

A failing case is recorded with its error and the batch goes on. Every file is written atomically, and a
rerun over the same output folder skips the cases that already have their JSON from the same model card,
weights and stride, and from the same input (size, modification time and header hash), unless
``overwrite``; any other result is redone. The caller holds the output folder (``OutputFolderLock``).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic_files import atomic_write_bytes, atomic_write_text
from .case_discovery import Case
from .input_fingerprint import input_fingerprint
from ..result import STATUS_WORDS, DetectionResult, error_result

RESULTS_CSV = "results.csv"

CSV_COLUMNS = (
    "case_id", "input", "status", "l3_slice", "l3_z_ras_mm", "confidence", "l3_position",
    "slice_axis", "index_increases_towards", "series_uid", "message", "json", "png",
)


@dataclass
class BatchOutcome:
    results: list[tuple[Case, DetectionResult]] = field(default_factory=list)
    skipped: int = 0

    @property
    def n_failed(self) -> int:
        return sum(1 for _, result in self.results if result.status == "error")


def run_batch(detector, cases: list[Case], out_dir: Path, stride_px: int | None = None, overwrite: bool = False,
              write_png: bool = True, progress: bool = True) -> BatchOutcome:
    """Every case in this process, reading one volume ahead while the network runs."""
    recorder = BatchRecorder(settings_of(detector, stride_px), cases, out_dir, overwrite)
    reader = ReadAhead([case.input for case, _ in recorder.to_do])
    try:
        with recorder.progress_bar(progress) as bar:
            for case, fingerprint in recorder.to_do:
                result = _detect_safely(detector, case, reader, stride_px)
                recorder.record(case, fingerprint, result, draw_picture(result, case.input) if write_png else None)
                bar.update()
    finally:
        reader.close()
    return recorder.finish()


def settings_of(detector, stride_px: int | None) -> "ResultSettings":
    return ResultSettings(detector.card_sha256, detector.card.weights_sha256, int(stride_px or detector.card.default_stride_px))


@dataclass(frozen=True)
class Picture:
    """A result's QC picture as PNG bytes, or why it could not be drawn."""

    png: bytes | None
    problem: str = ""


def draw_picture(result: DetectionResult, case_input: str) -> Picture | None:
    """The QC picture of a result (None for a result without projections: an error)."""
    if result.projection is None:
        return None
    from .report_png import render_result_png

    try:
        return Picture(render_result_png(result, reference_z_for(case_input)))
    except Exception as error:  # a picture must never cost the case its result
        return Picture(None, f"picture not written ({error})")


class BatchRecorder:
    """The output folder's side of a batch, whoever computes the results (this process or a Dask cluster).

    On creation it plans: the cases whose finished result can be reused (same input, model card, weights
    and stride) are kept, cases that name no input are recorded as errors, and the rest are ``to_do``.
    ``record`` writes a result's JSON and picture atomically and rewrites ``results.csv`` with every case
    so far, earlier batches' included; ``finish`` returns the outcome in the order of ``cases``.
    """

    def __init__(self, settings: "ResultSettings", cases: list[Case], out_dir: Path, overwrite: bool):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._cases = list(cases)
        self._results: dict[str, DetectionResult] = {}
        self.skipped = 0
        inputs = {case.input for case in cases}
        self._earlier = [
            (case, result)
            for case, result in results_in_folder(self.out_dir, exclude_case_ids={case.case_id for case in cases})
            if result.input not in inputs  # e.g. a result named by an older id scheme
        ]
        self.to_do: list[tuple[Case, dict | None]] = []
        for case in cases:
            if case.problem:
                self.record(case, None, error_result(case.input, case.problem), None)
                continue
            fingerprint = input_fingerprint(case.input)
            previous = None if overwrite else _finished_result(self.out_dir / f"{case.case_id}.json", case, settings, fingerprint)
            if previous is not None:
                self._results[case.case_id] = previous
                self.skipped += 1
            else:
                self.to_do.append((case, fingerprint))

    def record(self, case: Case, fingerprint: dict | None, result: DetectionResult, picture: Picture | None) -> None:
        result.input_fingerprint = fingerprint
        if picture is not None and picture.png is not None:
            atomic_write_bytes(self.out_dir / f"{case.case_id}.png", picture.png)
        elif picture is not None:
            result.message = (result.message + "; " if result.message else "") + picture.problem
        atomic_write_text(self.out_dir / f"{case.case_id}.json", result.to_json() + "\n")
        self._results[case.case_id] = result
        self._write_csv()

    def progress_bar(self, show: bool):
        from tqdm import tqdm

        return tqdm(total=len(self.to_do), desc="L3Spotter", unit="scan", disable=not show or len(self.to_do) < 2, file=sys.stderr)

    def finish(self) -> BatchOutcome:
        self._write_csv()
        return BatchOutcome(results=self._so_far(), skipped=self.skipped)

    def _so_far(self) -> list[tuple[Case, DetectionResult]]:
        return [(case, self._results[case.case_id]) for case in self._cases if case.case_id in self._results]

    def _write_csv(self) -> None:
        write_results_csv(self.out_dir / RESULTS_CSV, self._earlier + self._so_far(), self.out_dir)


class ReadAhead:
    """Reads the volumes of ``paths`` one ahead, in a thread, while the caller detects in the current one.

    SimpleITK and torch release the GIL, so reading and decompressing the next file overlaps the network;
    at most two volumes are in memory. ``take`` must be called in the order of ``paths``. It returns
    ``(volume, read seconds)``, or ``(None, message)`` for an input that cannot be read, and re-raises
    anything else the reading raised.
    """

    def __init__(self, paths: list[str]):
        from concurrent.futures import ThreadPoolExecutor

        self._paths, self._index = list(paths), 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="l3spotter-read")
        self._reading = self._read(0)

    def take(self, path: str):
        if self._index >= len(self._paths) or self._paths[self._index] != path:
            raise ValueError(f"read ahead out of order: {path} asked, {self._paths[self._index:self._index + 1]} read")
        reading = self._reading
        self._index += 1
        self._reading = self._read(self._index)  # queued behind this read: starts as soon as it ends
        return reading.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _read(self, index: int):
        return self._pool.submit(_read_timed, self._paths[index]) if index < len(self._paths) else None


def _read_timed(path: str):
    from ..errors import L3SpotterError
    from ..volume_io import load_ct

    started = time.perf_counter()
    try:
        volume = load_ct(path)
    except L3SpotterError as error:
        return None, str(error)
    return volume, time.perf_counter() - started


def _detect_safely(detector, case: Case, reader: ReadAhead, stride_px: int | None) -> DetectionResult:
    try:
        volume, read_s_or_message = reader.take(case.input)
        if volume is None:
            return error_result(case.input, read_s_or_message)
        return detector.detect_volume(volume, read_s_or_message, stride_px=stride_px)
    except MemoryError:
        return error_result(case.input, f"{case.input}: ran out of memory")
    except Exception as error:  # a batch goes on past any case; the CSV names what went wrong
        return error_result(case.input, f"{case.input}: unexpected {type(error).__name__}: {error}")


@dataclass(frozen=True)
class ResultSettings:
    """What a finished result must have been computed with to be reused."""

    card_sha256: str
    weights_sha256: str
    stride_px: int

    def produced(self, data: dict) -> bool:
        model = data.get("model") or {}
        trace = data.get("trace") or {}
        return (
            model.get("card_sha256") == self.card_sha256
            and model.get("weights_sha256") == self.weights_sha256
            and trace.get("stride_px") == self.stride_px
        )


def _finished_result(json_path: Path, case: Case, settings: ResultSettings, fingerprint: dict | None) -> DetectionResult | None:
    data = _read_result_json(json_path)
    if data is None:
        return None  # none yet, or unreadable: do the case
    if data.get("input") != case.input or not settings.produced(data):
        return None  # another input, model or stride (or an error, which has no trace): do it again
    if fingerprint is None or data.get("input_fingerprint") != fingerprint:
        return None  # the file at that path was replaced or changed since (or cannot be read now)
    return DetectionResult.from_dict(data)


def _read_result_json(json_path: Path) -> dict | None:
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("status") not in STATUS_WORDS or not isinstance(data.get("input"), str):
        return None  # not a result of ours
    return data


def results_in_folder(out_dir: Path, exclude_case_ids=()) -> list[tuple[Case, DetectionResult]]:
    """The results already in ``out_dir`` (one ``<case id>.json`` each), by case id, for results.csv."""
    found = []
    for json_path in sorted(Path(out_dir).glob("*.json")):
        case_id = json_path.stem
        if json_path.name.startswith(".") or case_id in exclude_case_ids:
            continue
        data = _read_result_json(json_path)
        if data is not None:
            found.append((Case(input=data["input"], case_id=case_id), DetectionResult.from_dict(data)))
    return found


def reference_z_for(input_path: str) -> float | None:
    """The reference L3 z from a ``case.json`` beside the input (the layout of ``shared/data`` and the
    phantoms), or None."""
    path = Path(input_path)
    card = (path if path.is_dir() else path.parent) / "case.json"
    try:
        value = json.loads(card.read_text(encoding="utf-8")).get("l3_z_ras_mm")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def write_results_csv(path: Path, results: list[tuple[Case, DetectionResult]], out_dir: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for case, result in results:
        png = out_dir / f"{case.case_id}.png"
        writer.writerow({
            "case_id": case.case_id,
            "input": result.input,
            "status": result.status,
            "l3_slice": "" if result.l3_slice is None else result.l3_slice,
            "l3_z_ras_mm": "" if result.l3_z_ras_mm is None else result.l3_z_ras_mm,
            "confidence": "" if result.confidence is None else result.confidence,
            "l3_position": result.l3_position,
            "slice_axis": (result.slice_axis or {}).get("ijk_axis", ""),
            "index_increases_towards": (result.slice_axis or {}).get("index_increases_towards", ""),
            "series_uid": (result.series or {}).get("uid", ""),
            "message": result.message,
            "json": f"{case.case_id}.json",
            "png": png.name if png.exists() else "",
        })
    atomic_write_text(path, buffer.getvalue())
