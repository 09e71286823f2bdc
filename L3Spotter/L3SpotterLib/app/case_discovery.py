"""Turn the paths a user gives into cases: one per volume file and one per folder holding a DICOM series."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..volume_io import dicom_series_ids, has_volume_suffix


@dataclass(frozen=True)
class Case:
    """One scan to process. ``problem`` is set when the path yields nothing to process."""

    input: str
    case_id: str
    problem: str = ""


def discover_cases(paths) -> list[Case]:
    """Expand files, folders (searched recursively, through symbolic links) and DICOM folders into cases,
    in a stable order. An input reached twice (given twice, or through two links) is one case."""
    found: list[tuple[str, str]] = []
    for path_text in paths:
        path = Path(path_text)
        if not path.is_dir():
            found.append((str(path_text), ""))  # a file, or a missing path that loading will report
            continue
        inside = _cases_in_folder(path)
        if inside:
            found.extend((item, "") for item in inside)
        else:
            found.append((str(path_text), f"{path_text}: no images found in the folder (looked for NIfTI, NRRD, MHA/MHD and DICOM series)"))
    cases = []
    seen_ids = set()
    for item, problem in found:
        case_id = case_id_for(item)
        if case_id not in seen_ids:
            seen_ids.add(case_id)
            cases.append(Case(input=item, case_id=case_id, problem=problem))
    return cases


def _cases_in_folder(folder: Path) -> list[str]:
    """Volume files and DICOM folders under ``folder``. Linked folders are followed (a cohort folder often
    links its patients' folders); a folder already visited, as a link loop would bring back, is skipped."""
    cases = []
    visited = set()
    for directory, subdirectories, files in os.walk(folder, followlinks=True):
        real_directory = os.path.realpath(directory)
        if real_directory in visited:
            subdirectories[:] = []  # a loop, or a second link to the same folder
            continue
        visited.add(real_directory)
        subdirectories.sort()
        if dicom_series_ids(directory):
            cases.append(directory)
        cases.extend(os.path.join(directory, name) for name in sorted(files) if has_volume_suffix(Path(name)))
    return cases


# Hex digits of the path's hash in a case id: enough to tell apart the inputs of any real cohort.
_CASE_ID_HASH_CHARS = 10


def case_id_for(path_text: str) -> str:
    """A file-name-safe id, the same for the same input in every batch and different for different inputs:
    the input's folder and name (to read) and a short hash of its real absolute path (to be unique)."""
    parts = _id_parts(path_text)
    real_path = os.path.realpath(path_text)
    digest = hashlib.sha256(real_path.encode("utf-8", "surrogateescape")).hexdigest()[:_CASE_ID_HASH_CHARS]
    return "__".join(parts[-2:]) + "-" + digest


def _id_parts(path_text: str) -> list[str]:
    path = Path(os.path.abspath(path_text))
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    components = [part for part in path.parent.parts if part not in ("/", "")] + [name]
    return [re.sub(r"[^A-Za-z0-9._-]+", "_", part) or "_" for part in components]
