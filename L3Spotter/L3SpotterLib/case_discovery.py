"""Turn the paths a user gives into cases: one per volume file and one per folder holding a DICOM series."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .volume_io import dicom_series_ids, has_volume_suffix


@dataclass(frozen=True)
class Case:
    """One scan to process. ``problem`` is set when the path yields nothing to process."""

    input: str
    case_id: str
    problem: str = ""


def discover_cases(paths) -> list[Case]:
    """Expand files, folders (searched recursively) and DICOM folders into cases, in a stable order."""
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
    ids = unique_case_ids([item for item, _ in found])
    return [Case(input=item, case_id=case_id, problem=problem) for (item, problem), case_id in zip(found, ids)]


def _cases_in_folder(folder: Path) -> list[str]:
    cases = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories.sort()
        if dicom_series_ids(directory):
            cases.append(directory)
        cases.extend(os.path.join(directory, name) for name in sorted(files) if has_volume_suffix(Path(name)))
    return cases


def unique_case_ids(inputs: list[str]) -> list[str]:
    """Short, file-name-safe ids: the file's stem, with parent folder names added until all are unique."""
    parts = [_id_parts(item) for item in inputs]
    depth = [1] * len(inputs)
    while True:
        ids = ["__".join(p[-d:]) for p, d in zip(parts, depth)]
        clashes = {case_id for case_id in ids if ids.count(case_id) > 1}
        if not clashes:
            return ids
        grew = False
        for index, case_id in enumerate(ids):
            if case_id in clashes and depth[index] < len(parts[index]):
                depth[index] += 1
                grew = True
        if not grew:  # identical paths given twice: number them
            seen: dict[str, int] = {}
            numbered = []
            for case_id in ids:
                seen[case_id] = seen.get(case_id, 0) + 1
                numbered.append(case_id if seen[case_id] == 1 else f"{case_id}__{seen[case_id]}")
            return numbered


def _id_parts(path_text: str) -> list[str]:
    path = Path(os.path.abspath(path_text))
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    components = [part for part in path.parent.parts if part not in ("/", "")] + [name]
    return [re.sub(r"[^A-Za-z0-9._-]+", "_", part) or "_" for part in components]
