"""Where L3 is in each training scan, read from whichever annotation the user has.

Supported (``--data`` of the training commands):

* ``cases.csv`` with columns ``path,l3_slice`` (paths relative to the CSV; ``l3_slice`` along the file's
  own slice axis, as L3Spotter reports it);
* a folder of case folders, each with one CT volume and one of: a ``case.json`` with ``l3_z_ras_mm`` (the
  layout of ``../shared/data``, the phantoms and the cases saved from Slicer, whose ``ct_path`` may name
  the scan where it lies instead), a vertebra label map (``vertebrae.nii.gz``, or
  ``--labels`` naming another file) in the VerSe or TotalSegmentator convention, or a Slicer markups
  file (``*.mrk.json``) with a control point named ``L3``;
* ``phantoms:COUNT[:FIRST_SEED]``: synthetic phantoms generated on the fly.

Every reader turns its annotation into ``l3_z_ras_mm`` through the engine's geometry and the project's
one L3 definition, so all sources mean the same thing.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from L3SpotterLib.geometry import VolumeGeometry, ijk_to_ras_from_lps
from L3SpotterLib.l3_definition import label_level
from L3SpotterLib.vertebra_labels import LABEL_CONVENTIONS
from L3SpotterLib.volume_io import has_volume_suffix, load_ct


class AnnotationError(ValueError):
    """An annotation that cannot be used, with the file and the reason."""


@dataclass(frozen=True)
class AnnotatedScan:
    """One training or test case: a CT (a path, or a phantom seed) and its L3 level."""

    case_id: str
    l3_z_ras_mm: float | None
    origin: str
    ct_path: str | None = None
    phantom_seed: int | None = None
    # Generator overrides of a phantom, as sorted (key, value) pairs (hashable, so a scan stays a key).
    phantom_overrides: tuple = ()


LABEL_FILE_NAMES = ("vertebrae.nii.gz", "vertebrae.nii", "labels.nii.gz", "segmentation.nii.gz")


def add_labels_argument(parser) -> None:
    """The ``--labels`` option of every command that reads annotated folders."""
    parser.add_argument("--labels", default="verse", choices=sorted(LABEL_CONVENTIONS),
                        help="label-map convention of annotated folders (default: verse)")


def read_data_spec(spec: str, label_convention: str = "verse", keep_out_of_view: bool = False) -> list[AnnotatedScan]:
    """Parse one ``--data`` argument into annotated scans.

    Scans whose L3 is not wholly in view have no known level (``l3_z_ras_mm`` None): training cannot use
    them, evaluation can (the right answer is ``not_in_view``), hence ``keep_out_of_view``.
    """
    if spec.startswith("non_anatomical:"):
        parts = spec.split(":")
        return non_anatomical_scans(int(parts[1]), int(parts[2]) if len(parts) > 2 else 0)
    if spec.startswith("phantoms:"):
        parts = spec.split(":", 3)
        count = int(parts[1])
        first_seed = int(parts[2]) if len(parts) > 2 else 0
        overrides = dict(parse_override(text) for text in parts[3].split(",")) if len(parts) > 3 and parts[3] else {}
        return phantom_scans(count, first_seed, overrides)
    path = Path(spec)
    if path.suffix.lower() == ".csv":
        scans = scans_from_csv(path)
    elif path.is_dir():
        scans = scans_from_folder(path, label_convention)
    else:
        raise AnnotationError(f"{spec}: expected a .csv, a folder of cases, or phantoms:COUNT[:SEED[:KEY=VALUE,...]]")
    return scans if keep_out_of_view else [scan for scan in scans if scan.l3_z_ras_mm is not None]


def phantom_scans(count: int, first_seed: int, overrides: dict | None = None) -> list[AnnotatedScan]:
    """Phantoms are made on the fly; their L3 level comes from the generator itself.

    ``overrides`` go to the generator (``phantoms:400:200000:fov_profile=archive`` on the command line).
    """
    pairs = tuple(sorted((overrides or {}).items()))
    return [
        AnnotatedScan(case_id=f"phantom_{seed}", l3_z_ras_mm=None, origin="phantom", phantom_seed=seed, phantom_overrides=pairs)
        for seed in range(first_seed, first_seed + count)
    ]


def non_anatomical_scans(count: int, first_seed: int) -> list[AnnotatedScan]:
    """Objects that are not a patient (``L3SpotterLib.phantom.non_anatomical``), the training kinds in
    turn: negatives for the vertebra count, which must find no spine in them."""
    from L3SpotterLib.phantom.non_anatomical import TRAINING_KINDS

    return [
        AnnotatedScan(case_id=f"non_anatomical_{TRAINING_KINDS[seed % len(TRAINING_KINDS)]}_{seed}", l3_z_ras_mm=None,
                      origin="non_anatomical", phantom_seed=seed, phantom_overrides=(("kind", TRAINING_KINDS[seed % len(TRAINING_KINDS)]),))
        for seed in range(first_seed, first_seed + count)
    ]


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` with the value read as JSON where it can be (6, true, "up"), else as text."""
    key, _, value = text.partition("=")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value.strip()


def read_geometry(path: Path) -> VolumeGeometry:
    """The geometry from the file's header alone (DICOM folders: the series' first files)."""
    if path.is_dir():
        return load_ct(path).geometry
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return VolumeGeometry(ijk_to_ras_from_lps(reader.GetOrigin(), reader.GetSpacing(), reader.GetDirection()), reader.GetSize())


def scans_from_csv(csv_path: Path) -> list[AnnotatedScan]:
    scans = []
    with open(csv_path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        if not reader.fieldnames or not {"path", "l3_slice"} <= set(reader.fieldnames):
            raise AnnotationError(f"{csv_path}: needs the columns path,l3_slice (has {reader.fieldnames})")
        for line, row in enumerate(reader, start=2):
            ct_path = (csv_path.parent / row["path"]).resolve()
            if not ct_path.exists():
                raise AnnotationError(f"{csv_path}:{line}: {row['path']} does not exist")
            text = (row["l3_slice"] or "").strip()
            z = float(read_geometry(ct_path).slice_to_z_ras_mm(float(text))) if text else None
            scans.append(AnnotatedScan(case_id=_case_id(ct_path), l3_z_ras_mm=z, origin="csv", ct_path=str(ct_path)))
    return scans


def l3_z_from_markups(markups_path: Path) -> float:
    """z (RAS) of the control point labelled L3 in a Slicer markups JSON (LPS or RAS, as it says)."""
    try:
        document = json.loads(markups_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AnnotationError(f"{markups_path}: not a readable markups JSON ({error})") from None
    for markup in document.get("markups", []):
        system = markup.get("coordinateSystem", "LPS").upper()
        for point in markup.get("controlPoints", []):
            if str(point.get("label", "")).strip().upper() == "L3":
                position = np.asarray(point["position"], dtype=float)
                if system == "LPS":
                    position = position * np.array([-1.0, -1.0, 1.0])
                elif system != "RAS":
                    raise AnnotationError(f"{markups_path}: unknown coordinate system {system}")
                return float(position[2])
    raise AnnotationError(f"{markups_path}: no control point labelled L3")


def l3_z_from_label_map(labels_path: Path, convention: str = "verse") -> float | None:
    """z of the L3 label's centroid (the project's L3 definition); None if L3 is absent or cut."""
    if convention not in LABEL_CONVENTIONS:
        raise AnnotationError(f"unknown label convention {convention!r}; expected one of {sorted(LABEL_CONVENTIONS)}")
    image = sitk.ReadImage(str(labels_path))
    level = label_level(sitk.GetArrayViewFromImage(image), VolumeGeometry.from_sitk_image(image), LABEL_CONVENTIONS[convention]["L3"])
    if level is None or level.touches_scan_edge:
        return None
    return level.z_ras_mm


def scans_from_folder(folder: Path, label_convention: str = "verse") -> list[AnnotatedScan]:
    """Every case folder under ``folder`` (itself included) that holds a CT and an L3 annotation."""
    scans = []
    for case_folder in sorted({path.parent for path in folder.rglob("*") if path.is_file()} | {folder}):
        scan = _scan_in_case_folder(case_folder, label_convention)
        if scan is not None:
            scans.append(scan)
    if not scans:
        raise AnnotationError(f"{folder}: no case folder with a CT and an L3 annotation")
    return scans


def _scan_in_case_folder(case_folder: Path, label_convention: str) -> AnnotatedScan | None:
    case_json = case_folder / "case.json"
    record = _read_case_json(case_json) if case_json.is_file() else {}
    # A case saved from Slicer names its scan where it already was a file (``ct_path``), rather than copy it.
    ct_path = _referenced_ct(case_json, record["ct_path"]) if record.get("ct_path") else _ct_in(case_folder)
    if ct_path is None:
        return None
    if case_json.is_file():
        z = record.get("l3_z_ras_mm")
        return AnnotatedScan(_case_id(case_folder), None if z is None else float(z), "case.json", str(ct_path))
    for name in LABEL_FILE_NAMES:
        if (case_folder / name).is_file():
            z = l3_z_from_label_map(case_folder / name, label_convention)
            return AnnotatedScan(_case_id(case_folder), z, f"labels:{label_convention}", str(ct_path))
    markups = sorted(case_folder.glob("*.mrk.json"))
    if markups:
        return AnnotatedScan(_case_id(case_folder), l3_z_from_markups(markups[0]), "markups", str(ct_path))
    return None


def _read_case_json(case_json: Path) -> dict:
    try:
        record = json.loads(case_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AnnotationError(f"{case_json}: not a readable case record ({error})") from None
    if not isinstance(record, dict):
        raise AnnotationError(f"{case_json}: a case record must be a JSON object")
    return record


def _referenced_ct(case_json: Path, ct_path_text: str) -> Path:
    ct_path = (case_json.parent / ct_path_text).resolve()  # relative to the case folder, or absolute
    if not ct_path.exists():
        raise AnnotationError(f"{case_json}: its scan {ct_path_text} does not exist (moved or deleted?)")
    return ct_path


def _ct_in(case_folder: Path) -> Path | None:
    preferred = case_folder / "ct.nii.gz"
    if preferred.is_file():
        return preferred
    volumes = [path for path in sorted(case_folder.iterdir()) if path.is_file() and has_volume_suffix(path) and path.name not in LABEL_FILE_NAMES]
    return volumes[0] if len(volumes) == 1 else None


def _case_id(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"):
        if name.endswith(suffix):
            return f"{path.parent.name}__{name[: -len(suffix)]}"
    return name
