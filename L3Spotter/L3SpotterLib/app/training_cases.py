"""A label folder: the scans a site has checked, each with its L3 level, in the layout ``training`` reads.

One case folder per scan::

    LABEL_FOLDER/<case>/case.json   {"l3_z_ras_mm": ..., "ct_path": ... (or a ct.nii.gz beside it), "history": [...]}
    LABEL_FOLDER/<case>/ct.nii.gz   only when the scan was not a file already (DICOM import, edited volume)

``history`` records every save: when, by whom, the engine's answer (status, level, confidence, model) and
the level kept, so that a correction (the kept level away from the answer) can be told from a
confirmation. Saving the same scan again updates its case rather than adding a second one.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..atomic_files import atomic_write_text, atomic_write_via

CASE_RECORD_NAME = "case.json"
CT_NAME = "ct.nii.gz"
RECORD_FORMAT = "l3spotter-training-case/1"


@dataclass(frozen=True)
class ScanSource:
    """The scan to save: a file it already is (``ct_path``), or its voxels and IJK -> RAS matrix to write."""

    name: str
    ct_path: str | None = None
    voxels: np.ndarray | None = None
    ijk_to_ras: np.ndarray | None = None

    def fingerprint(self) -> str:
        """Tells one scan from another: its path, or its shape, geometry and a sample of its voxels."""
        if self.ct_path:
            return "file:" + str(Path(self.ct_path).resolve())
        digest = hashlib.sha1()
        digest.update(repr(self.voxels.shape).encode())
        digest.update(np.round(np.asarray(self.ijk_to_ras, dtype=float), 4).tobytes())
        digest.update(np.ascontiguousarray(self.voxels.reshape(-1)[:: max(1, self.voxels.size // 100_000)]).tobytes())
        return "voxels:" + digest.hexdigest()


def save_training_case(label_folder, source: ScanSource, l3_z_ras_mm: float, detection: dict | None = None,
                       user: str | None = None, now: datetime | None = None) -> Path:
    """Write (or update) the case of ``source`` in ``label_folder``; return its case folder.

    ``detection``: what the engine answered (``status``, ``l3_z_ras_mm``, ``confidence``, ``model``), or None.
    """
    if source.ct_path is None and (source.voxels is None or source.ijk_to_ras is None):
        raise ValueError("a training case needs the scan's file or its voxels and geometry")
    if not np.isfinite(l3_z_ras_mm):
        raise ValueError(f"the L3 level {l3_z_ras_mm} is not a number")
    label_folder = Path(label_folder)
    label_folder.mkdir(parents=True, exist_ok=True)
    fingerprint = source.fingerprint()
    case_folder = _case_folder_for(label_folder, source.name, fingerprint)
    case_folder.mkdir(exist_ok=True)
    record = read_case_record(case_folder) or {"format": RECORD_FORMAT, "source_name": source.name, "fingerprint": fingerprint, "history": []}
    if source.ct_path:
        record["ct_path"] = str(Path(source.ct_path).resolve())
    elif not (case_folder / CT_NAME).is_file():
        _write_nifti(case_folder / CT_NAME, source.voxels, source.ijk_to_ras)
    record["l3_z_ras_mm"] = round(float(l3_z_ras_mm), 3)
    entry = {
        "saved_at": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "saved_by": user or current_user(),
        "l3_z_ras_mm": record["l3_z_ras_mm"],
        "detection": detection,
        "corrected_by_mm": None if not detection or detection.get("l3_z_ras_mm") is None
        else round(float(l3_z_ras_mm) - float(detection["l3_z_ras_mm"]), 2),
    }
    record["history"].append(entry)
    atomic_write_text(case_folder / CASE_RECORD_NAME, json.dumps(record, indent=1) + "\n")
    return case_folder


def read_case_record(case_folder: Path) -> dict | None:
    path = Path(case_folder) / CASE_RECORD_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def count_training_cases(label_folder) -> int:
    """Case folders directly in ``label_folder`` whose record gives an L3 level (0 for no folder)."""
    folder = Path(label_folder)
    if not folder.is_dir():
        return 0
    return sum(1 for case in folder.iterdir() if case.is_dir() and isinstance((read_case_record(case) or {}).get("l3_z_ras_mm"), (int, float)))


def _case_folder_for(label_folder: Path, name: str, fingerprint: str) -> Path:
    """The folder of this scan's case: the one that holds its fingerprint, else a new one named after it."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "case"
    candidates = [label_folder / stem] + [label_folder / f"{stem}_{index}" for index in range(2, 10_000)]
    for candidate in candidates:
        record = read_case_record(candidate)
        if record is not None and record.get("fingerprint") == fingerprint:
            return candidate
        if not candidate.exists():
            return candidate
    raise ValueError(f"{label_folder}: too many cases named {stem}")


def _write_nifti(path: Path, voxels: np.ndarray, ijk_to_ras: np.ndarray) -> None:
    import SimpleITK as sitk

    from ..volume_io import image_from_array

    image = image_from_array(voxels, np.asarray(ijk_to_ras, dtype=float))
    atomic_write_via(path, lambda temporary: sitk.WriteImage(image, temporary, useCompression=True), suffix=".nii.gz")


def current_user() -> str:
    """The login name, recorded with every save and adaptation."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers without a passwd entry
        return "unknown"
