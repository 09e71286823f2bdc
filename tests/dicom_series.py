"""Write a SimpleITK volume as a DICOM series (one file per slice), optionally with altered positions."""

from __future__ import annotations

import SimpleITK as sitk


def write_dicom_series(
    image: sitk.Image,
    folder,
    series_uid: str = "1.2.826.0.1.3680043.2.1125.1.1",
    description: str = "test CT",
    modality: str = "CT",
    positions=None,
    skip_slices=(),
):
    """One file per slice with position, orientation and rescale tags.

    ``positions``: per-slice ImagePositionPatient (LPS mm) to write instead of the true ones (e.g. to fake
    a gantry tilt or uneven spacing); ``skip_slices``: slice indices to leave out (missing slices).
    """
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    direction = image.GetDirection()
    orientation = "\\".join(f"{v:.6f}" for v in (direction[0], direction[3], direction[6], direction[1], direction[4], direction[7]))
    for k in range(image.GetDepth()):
        if k in skip_slices:
            continue
        slice_image = image[:, :, k]
        position = positions[k] if positions is not None else image.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0060": modality,
            "0020|000e": series_uid,
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1.0",
            "0008|103e": description,
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": orientation,
            "0020|0013": str(k + 1),
            "0028|1052": "0",
            "0028|1053": "1",
            "0018|0050": str(image.GetSpacing()[2]),
            "0008|0018": f"{series_uid}.{k + 1}",
        }
        for key, value in tags.items():
            slice_image.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"slice_{k:04d}.dcm"))
        writer.Execute(slice_image)
