"""Read a CT volume from a file or a DICOM folder, with its full geometry, through SimpleITK.

Every failure becomes an :class:`InputError` whose message names the path and the problem. The input is
only ever opened for reading.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .dicom_stack import keep_the_main_kind, plan_stack, read_slice_headers, resample_onto_even_grid
from .errors import InputError
from .geometry import GeometryError, VolumeGeometry, lps_from_ijk_to_ras
from .nifti_checks import check_nifti_file
from .nrrd_checks import check_nrrd_header

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")

# Bytes per component of each SimpleITK component type, to size a volume before reading it.
_COMPONENT_BYTES = {
    sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2,
    sitk.sitkUInt32: 4, sitk.sitkInt32: 4, sitk.sitkFloat32: 4,
    sitk.sitkUInt64: 8, sitk.sitkInt64: 8, sitk.sitkFloat64: 8,
}


@dataclass
class CtVolume:
    """A CT volume: voxels indexed ``[k, j, i]`` (as SimpleITK gives them) and where they lie.

    ``voxels`` may be a read-only view into a SimpleITK image kept alive by this object; nothing in
    L3Spotter writes to it.
    """

    voxels: np.ndarray
    geometry: VolumeGeometry
    source: str
    series: dict | None = None
    _keep_alive: object = field(default=None, repr=False)


class quiet_itk_warnings:
    """Silence ITK's console warnings (e.g. GDCM's "No Series were found") while probing folders."""

    def __enter__(self):
        self._previous = sitk.ProcessObject.GetGlobalWarningDisplay()
        sitk.ProcessObject.SetGlobalWarningDisplay(False)
        return self

    def __exit__(self, *exc_info):
        sitk.ProcessObject.SetGlobalWarningDisplay(self._previous)
        return False


def image_from_array(voxels: np.ndarray, ijk_to_ras: np.ndarray) -> sitk.Image:
    """A SimpleITK image of a (slice, row, column) array placed by its IJK-to-RAS matrix (for writing)."""
    image = sitk.GetImageFromArray(voxels)
    origin_lps, spacing_mm, direction_lps = lps_from_ijk_to_ras(ijk_to_ras)
    image.SetOrigin(tuple(float(v) for v in origin_lps))
    image.SetSpacing(tuple(float(v) for v in spacing_mm))
    image.SetDirection(tuple(float(v) for v in direction_lps.ravel()))
    return image


def dicom_series_ids(folder) -> tuple[str, ...]:
    """The DICOM series UIDs of the files directly inside ``folder`` (no recursion)."""
    with quiet_itk_warnings():
        return tuple(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def has_volume_suffix(path: Path) -> bool:
    return path.name.lower().endswith(VOLUME_SUFFIXES)


def load_ct(path) -> CtVolume:
    """Load a CT volume from a NIfTI/NRRD/MHA/MHD file or a folder holding a DICOM series.

    A folder with several series: the CT series with the most slices is used, and
    :attr:`CtVolume.series` says which.
    """
    path_text = str(path)
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path_text}: no such file or folder")
    if path.is_dir():
        image, series, ijk_to_ras = _read_dicom_folder(path, path_text)
    else:
        image, series, ijk_to_ras = _read_image_file(path, path_text), None, None
    voxels = _checked_voxels(image, path_text)
    try:
        if ijk_to_ras is not None:
            geometry = VolumeGeometry(ijk_to_ras, image.GetSize())
        else:
            geometry = VolumeGeometry.from_sitk_image(image)
    except GeometryError as error:
        raise InputError(f"{path_text}: {error}") from None
    return CtVolume(voxels=voxels, geometry=geometry, source=path_text, series=series, _keep_alive=image)


def _read_image_file(path: Path, path_text: str) -> sitk.Image:
    if not os.access(path, os.R_OK):
        raise InputError(f"{path_text}: the file cannot be read (permission denied)")
    if path.name.lower().endswith((".nrrd", ".nhdr")):
        check_nrrd_header(path, path_text)  # before ITK, which crashes on some damaged headers
    with _path_itk_reads_as_itself(path, path_text) as itk_path:
        image = _read_checked_image(path, itk_path, path_text)
    if image.GetDimension() == 4:
        size = list(image.GetSize())
        if size[3] != 1:
            raise InputError(f"{path_text}: a 4-D image {tuple(size)}; L3Spotter needs a single 3-D CT volume")
        # A 3-D volume stored with a singleton 4th axis (some converters write NIfTI this way).
        image = sitk.Extract(image, size[:3] + [0], [0, 0, 0, 0])
    return image


def _read_checked_image(path: Path, itk_path: Path, path_text: str) -> sitk.Image:
    """Read ``itk_path`` (``path`` or a link to it) with SimpleITK, after the header checks."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(itk_path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise InputError(f"{path_text}: not an image file that SimpleITK can read (NIfTI, NRRD, MHA/MHD or DICOM)") from None
    _check_shape_information(reader.GetSize(), reader.GetNumberOfComponents(), path_text)
    _check_memory(_voxel_bytes(reader.GetSize(), reader.GetNumberOfComponents(), reader.GetPixelID()), path_text)
    if path.name.lower().endswith((".nii", ".nii.gz")):
        check_nifti_file(path, path_text)
    _check_spacing_information(reader.GetSpacing(), path_text)
    try:
        with quiet_itk_warnings():  # e.g. "unexpected scales in sform": the header checks above speak instead
            return reader.Execute()
    except RuntimeError as error:
        raise InputError(f"{path_text}: the image data cannot be read ({_first_line(error)})") from None


@contextlib.contextmanager
def _path_itk_reads_as_itself(path: Path, path_text: str):
    """The path to give SimpleITK so that it reads this very file.

    ITK's NIfTI reader, asked for ``scan.nii.gz``, reads ``scan.nii`` instead when both exist (it looks for
    the uncompressed name first). Such a file is read through a link of its own in a private folder.
    """
    twin = _uncompressed_nifti_twin(path)
    if twin is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="l3spotter-read-") as folder:
        link = Path(folder) / "volume.nii.gz"
        try:
            os.symlink(os.path.abspath(path), link)
        except OSError:
            raise InputError(
                f"{path_text}: {twin.name} lies beside it and SimpleITK would read that file instead; rename one of them"
            ) from None
        yield link


def _uncompressed_nifti_twin(path: Path) -> Path | None:
    if not path.name.lower().endswith(".nii.gz"):
        return None
    twin = path.with_name(path.name[: -len(".gz")])
    return twin if twin.exists() else None


def _read_dicom_folder(folder: Path, path_text: str) -> tuple[sitk.Image, dict, np.ndarray | None]:
    series_ids = dicom_series_ids(folder)
    if not series_ids:
        raise InputError(f"{path_text}: the folder holds no DICOM series")
    candidates = []
    for series_id in series_ids:
        files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_id)
        tags = _dicom_tags(files[0])
        candidates.append({"uid": series_id, "files": files, **tags})
    # Prefer CT, then the series with the most slices.
    candidates.sort(key=lambda c: (c["modality"] == "CT", len(c["files"])), reverse=True)
    chosen = candidates[0]
    what = f"{path_text}: the DICOM series {chosen['uid']}"
    try:
        headers = read_slice_headers(chosen["files"])
    except RuntimeError as error:
        raise InputError(f"{what} cannot be read ({_first_line(error)})") from None
    headers, notes = keep_the_main_kind(headers)
    if len(headers) < 2:
        raise InputError(f"{what} has a single slice, not a 3-D volume")
    stack = plan_stack(headers, what)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(stack.files if stack is not None else [header.file for header in headers])
    try:
        with quiet_itk_warnings():  # ITK warns about uneven spacing; plan_stack has dealt with it
            image = reader.Execute()
    except RuntimeError as error:
        raise InputError(f"{what} cannot be read ({_first_line(error)})") from None
    ijk_to_ras = None
    if stack is not None:
        ijk_to_ras = stack.ijk_to_ras(image.GetSpacing()[:2])
        if stack.resampling is not None:
            image = sitk.GetImageFromArray(resample_onto_even_grid(sitk.GetArrayViewFromImage(image), stack))
            notes.append(
                f"resampled onto an even grid: {stack.resampling['n_slices_read']} slices with gaps from "
                f"{stack.resampling['gaps_mm'][0]} to {stack.resampling['gaps_mm'][1]} mm became "
                f"{stack.n_grid_slices} slices {stack.resampling['step_mm']} mm apart"
            )
    series = {
        "uid": chosen["uid"],
        "description": chosen["description"],
        "modality": chosen["modality"],
        "n_files": len(chosen["files"]),
        "n_series_in_folder": len(candidates),
        "other_series": [{"uid": c["uid"], "modality": c["modality"], "n_files": len(c["files"])} for c in candidates[1:]],
        "gantry_tilt_deg": None if stack is None else stack.tilt_deg,
        "resampled": None if stack is None else stack.resampling,
        "notes": notes,
    }
    return image, series, ijk_to_ras


def _dicom_tags(file_name: str) -> dict:
    reader = sitk.ImageFileReader()
    reader.SetFileName(file_name)
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return {"modality": "", "description": ""}

    def tag(key):
        return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""

    return {"modality": tag("0008|0060"), "description": tag("0008|103e")}


def _check_shape_information(size, n_components: int, path_text: str) -> None:
    extents = [int(n) for n in size if n > 1]
    if len(size) > 3 and len(extents) > 3:
        raise InputError(f"{path_text}: a {len(size)}-D image {tuple(size)}; L3Spotter needs a single 3-D CT volume")
    if len(extents) < 3:
        shape = "x".join(str(n) for n in size)
        raise InputError(f"{path_text}: a 2-D image ({shape}); L3Spotter needs a 3-D CT volume")
    if n_components != 1:
        raise InputError(
            f"{path_text}: {n_components} values per voxel (an RGB or vector image); L3Spotter needs a scalar CT in HU"
        )


def _check_spacing_information(spacing_mm, path_text: str) -> None:
    """Refuse a zero or negative spacing in any format, as for NIfTI: SimpleITK would silently flip the
    axis of a negative one (MHA/MHD) where other tools take its absolute value."""
    for axis, spacing in zip("ijk", spacing_mm):
        if not spacing > 0:
            raise InputError(
                f"{path_text}: the voxel spacing along {axis} is {spacing:g} mm in the file's header; "
                "it must be positive (zero cannot place the voxels, and tools disagree on what negative means)"
            )


def _voxel_bytes(size, n_components: int, pixel_id: int) -> int:
    return int(np.prod(size, dtype=np.float64)) * n_components * _COMPONENT_BYTES.get(_component_id(pixel_id), 4)


def _check_memory(needed_bytes: int, path_text: str) -> None:
    """Refuse early, with the size needed, rather than be killed by the kernel half-way through."""
    available_bytes = available_memory_bytes()
    if available_bytes is not None and needed_bytes > available_bytes:
        raise InputError(
            f"{path_text}: the volume needs {needed_bytes / 2**30:.1f} GiB of memory "
            f"but only {available_bytes / 2**30:.1f} GiB is available"
        )


def _component_id(pixel_id: int) -> int:
    # Scalar ids are their own component id; vector ids map to their scalar component type.
    vector_to_scalar = {
        getattr(sitk, "sitkVector" + name): getattr(sitk, "sitk" + name)
        for name in ("UInt8", "Int8", "UInt16", "Int16", "UInt32", "Int32", "UInt64", "Int64", "Float32", "Float64")
    }
    return vector_to_scalar.get(pixel_id, pixel_id)


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None where it cannot be known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _checked_voxels(image: sitk.Image, path_text: str) -> np.ndarray:
    _check_shape_information(image.GetSize(), image.GetNumberOfComponentsPerPixel(), path_text)
    return sitk.GetArrayViewFromImage(image)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # ITK messages start with a file:line prefix; the last line carries the description.
    return lines[-1] if lines else type(error).__name__
