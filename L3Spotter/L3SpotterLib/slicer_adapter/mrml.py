"""Slicer's MRML scene <-> the engine. The only engine module that imports ``slicer`` and ``vtk``.

It uses only calls that behave the same in the Slicer application and in the ``slicer-core`` wheel (real
MRML classes without the application), so the pytest suite runs this very code against a real scene.

* :func:`detect_volume_node`: a scalar volume node (its voxels and its IJK -> world matrix, parent
  transforms included) -> :class:`~L3SpotterLib.result.DetectionResult`.
* :func:`show_result`: a result -> the "L3" markups fiducial, every slice view jumped to it, the volume as
  background.
* :func:`fiducial_slice_index`: which slice of the volume the (possibly hand-corrected) fiducial marks.

torch is imported only when a detection is asked for, so placing and reading fiducials works without it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import slicer
import vtk

from ..errors import InputError, L3SpotterError
from ..geometry import VolumeGeometry
from ..result import STATUS_FOUND, STATUS_UNCERTAIN, DetectionResult, error_result

L3_FIDUCIAL_NAME = "L3"
L3_POINT_LABEL = "L3"

# Loaded detectors, keyed by (model card path, device): loading the weights takes seconds, a detection
# far less, so repeated calls reuse them. The card's modification time is kept beside each detector so
# that a retrained model written over the same card is loaded afresh.
_detector_cache: dict = {}


def volume_voxels_and_ijk_to_world(volume_node) -> tuple[np.ndarray, np.ndarray]:
    """The voxels as a ``[k, j, i]`` array (a view, not a copy) and the 4x4 IJK -> world (RAS) matrix.

    The matrix includes the volume's parent transforms, which must be linear.
    Raises :class:`InputError` for a node without image data, a vector volume or a non-linear transform.
    """
    image = volume_node.GetImageData()
    if image is None or image.GetNumberOfPoints() == 0:
        raise InputError("the volume node holds no image data")
    if image.GetNumberOfScalarComponents() != 1:
        raise InputError(
            f"{image.GetNumberOfScalarComponents()} values per voxel (an RGB or vector volume); "
            "L3Spotter needs a scalar CT in HU"
        )
    ijk_to_ras = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(ijk_to_ras)
    ijk_to_world = slicer.util.arrayFromVTKMatrix(ijk_to_ras)
    parent = volume_node.GetParentTransformNode()
    if parent is not None:
        to_world = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(parent, None, to_world)
        linear_part = vtk.vtkTransform()
        if not slicer.vtkMRMLTransformNode.IsGeneralTransformLinear(to_world, linear_part):
            raise InputError(
                f"the volume is under the non-linear transform '{parent.GetName()}'; L3Spotter needs the "
                "voxel grid itself: harden the transform (Data module, right-click the volume, "
                "'Harden transform') or remove it, then detect again"
            )
        ijk_to_world = slicer.util.arrayFromVTKMatrix(linear_part.GetMatrix()) @ ijk_to_world
    return slicer.util.arrayFromVolume(volume_node), ijk_to_world


# Single-file formats whose voxels and geometry the engine reads exactly as Slicer did.
_SINGLE_FILE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def volume_source_file(volume_node) -> str | None:
    """The file the node was read from, while the node still is that file in world coordinates: one
    NIfTI, NRRD or MetaImage file, unmodified since it was read, under no transform. None otherwise (a
    DICOM series, a volume edited, transformed or never saved), when the voxels themselves must be saved."""
    storage = volume_node.GetStorageNode()
    if storage is None or volume_node.GetParentTransformNode() is not None or volume_node.GetModifiedSinceRead():
        return None
    file_name = storage.GetFileName() or ""
    if storage.GetNumberOfFileNames() > 1 or not file_name.lower().endswith(_SINGLE_FILE_SUFFIXES):
        return None
    return file_name if Path(file_name).is_file() else None


def volume_world_geometry(volume_node) -> VolumeGeometry:
    """The volume's :class:`VolumeGeometry` in world coordinates (parent transforms applied)."""
    _, ijk_to_world = volume_voxels_and_ijk_to_world(volume_node)
    shape_ijk = tuple(int(n) for n in volume_node.GetImageData().GetDimensions())
    return VolumeGeometry(ijk_to_world, shape_ijk)


def detector_for(model=None, device: str = "auto"):
    """A loaded :class:`~L3SpotterLib.detector.L3Detector`, reused across calls for the same model and device.

    ``model``: None (the shipped model), a model card ``.json``, its ``.pt``, or a model name.
    Raises :class:`~L3SpotterLib.errors.ModelError` for a missing or corrupt model and ``ValueError`` for
    an unknown device or CUDA asked for without one.
    """
    from ..detector import L3Detector  # imports torch
    from ..model_card import resolve_card_path

    card_path = resolve_card_path(model).resolve()
    device = (device or "auto").lower()
    try:
        card_mtime_ns = card_path.stat().st_mtime_ns
    except OSError:
        card_mtime_ns = None  # L3Detector reports the missing card
    key = (str(card_path), device)
    cached = _detector_cache.get(key)
    if cached is None or cached[0] != card_mtime_ns:
        _detector_cache[key] = (card_mtime_ns, L3Detector(card_path, device=device))
    return _detector_cache[key][1]


@dataclass(frozen=True)
class VolumeSnapshot:
    """What a detection needs of a volume node, taken in the thread that owns the scene, so that the
    detection itself can run in another thread and outlive changes to the node or the scene."""

    name: str
    node_id: str
    voxels: np.ndarray  # [k, j, i]
    ijk_to_world: np.ndarray


def snapshot_volume_node(volume_node, copy: bool = True) -> VolumeSnapshot:
    """The node's name, id, voxels and IJK -> world matrix. ``copy``: copy the voxels (needed when the
    detection runs while the user may edit or close the scene). Raises :class:`InputError` as
    :func:`volume_voxels_and_ijk_to_world` does."""
    voxels, ijk_to_world = volume_voxels_and_ijk_to_world(volume_node)
    return VolumeSnapshot(
        name=volume_node.GetName() or volume_node.GetID(),
        node_id=volume_node.GetID(),
        voxels=voxels.copy() if copy else voxels,
        ijk_to_world=np.array(ijk_to_world, dtype=float),
    )


def detect_volume_node(volume_node, model=None, device: str = "auto", stride_px: int | None = None, detector=None,
                       progress=None, window_progress=None) -> DetectionResult:
    """Detect L3 in a scalar volume node, in world coordinates.

    ``model``/``device``: which model to load (None: the shipped one) and where to run it (auto, cpu,
    cuda); the loaded model is cached. ``detector``: an already loaded ``L3Detector`` to use instead.
    ``stride_px``: the window stride (None or 0: the model's default); the model reads the MIP view(s)
    its card names. ``progress``: called with a short message at each stage; ``window_progress``: called
    with the fraction (0-1) of the windows through the CNN.

    Never raises once given a node: anything wrong with the volume, its transform or the model, and any
    failure while detecting (CUDA out of memory, for one), gives a result with status ``error`` and a
    message naming the problem.
    """
    if volume_node is None:
        raise ValueError("no volume node given")
    source = volume_node.GetName() or volume_node.GetID()
    report = progress or (lambda message: None)
    report("Reading the volume")
    try:
        snapshot = snapshot_volume_node(volume_node, copy=False)
    except L3SpotterError as error:
        return error_result(source, f"{source}: {error}")
    return detect_snapshot(snapshot, model, device, stride_px, detector, report, window_progress)


def detect_snapshot(snapshot: VolumeSnapshot, model=None, device: str = "auto", stride_px: int | None = None, detector=None,
                    progress=None, window_progress=None) -> DetectionResult:
    """:func:`detect_volume_node` on a :class:`VolumeSnapshot`: touches no MRML node, so it may run in a
    worker thread. Never raises, except :class:`DetectionCancelled` from a progress callback."""
    if detector is not None and model is not None:
        raise ValueError("give either a loaded detector or a model to load, not both")
    source = snapshot.name
    report = progress or (lambda message: None)
    try:
        if detector is None:
            report("Loading the model")
            try:
                detector = detector_for(model, device)
            except ValueError as error:  # unknown device, or CUDA asked for without one
                raise InputError(str(error)) from None
        report("Detecting L3")
        return detector.detect_array(
            snapshot.voxels, snapshot.ijk_to_world, source=source, stride_px=stride_px or None, progress=window_progress
        )
    except L3SpotterError as error:
        return error_result(source, f"{source}: {error}")
    except MemoryError:
        return error_result(source, f"{source}: ran out of memory")
    except Exception as error:  # e.g. torch.OutOfMemoryError on the GPU: a result says so, the caller goes on
        logging.exception("L3Spotter: detection failed")
        return error_result(source, f"{source}: unexpected {type(error).__name__}: {error}")


def snapshot_node_is_in(scene, snapshot: VolumeSnapshot) -> bool:
    """Whether the snapshot's volume node is still in ``scene`` (not closed or deleted meanwhile)."""
    return scene is not None and scene.GetNodeByID(snapshot.node_id) is not None


def has_l3_level(result: DetectionResult) -> bool:
    """Whether the result places L3 somewhere (found or uncertain), so that a fiducial can mark it."""
    return result.status in (STATUS_FOUND, STATUS_UNCERTAIN) and result.l3_z_ras_mm is not None


def l3_point_ras(result: DetectionResult, volume_node) -> np.ndarray:
    """Where the fiducial goes (world RAS, mm): the engine's point in the L3 vertebra when it gave one,
    else the centre of the volume's (fractional) slice at ``result.l3_z_ras_mm``. Either way its S
    coordinate is exactly that z, even for an oblique volume or one under a rotation.
    """
    if result.l3_point_ras_mm is not None:
        return np.asarray(result.l3_point_ras_mm, dtype=float)
    geometry = volume_world_geometry(volume_node)
    ijk = (np.asarray(geometry.shape_ijk, dtype=float) - 1.0) / 2.0
    ijk[geometry.slice_axis] = float(geometry.z_ras_mm_to_slice(result.l3_z_ras_mm))
    return geometry.ijk_to_ras_points(ijk)[0]


def find_l3_fiducial(scene):
    """The scene's first markups fiducial node named "L3", or None."""
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLMarkupsFiducialNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLMarkupsFiducialNode")
        if node.GetName() == L3_FIDUCIAL_NAME:
            return node
    return None


def l3_control_point_index(fiducial_node) -> int:
    """Index of the control point labelled "L3" in ``fiducial_node``, or -1."""
    for index in range(fiducial_node.GetNumberOfControlPoints()):
        if fiducial_node.GetNthControlPointLabel(index) == L3_POINT_LABEL:
            return index
    return -1


def place_l3_point(fiducial_node, point_ras, description: str = "") -> int:
    """Move the node's "L3" control point to ``point_ras`` (world), adding it if there is none yet."""
    index = l3_control_point_index(fiducial_node)
    if index < 0:
        index = fiducial_node.AddControlPointWorld(vtk.vtkVector3d(*(float(v) for v in point_ras)), L3_POINT_LABEL)
    else:
        fiducial_node.SetNthControlPointPositionWorld(index, *(float(v) for v in point_ras))
    fiducial_node.SetNthControlPointDescription(index, description)
    return index


def slice_composite_nodes(scene) -> list:
    class_name = "vtkMRMLSliceCompositeNode"
    return [scene.GetNthNodeByClass(i, class_name) for i in range(scene.GetNumberOfNodesByClass(class_name))]


def show_result(result: DetectionResult, volume_node, fiducial_node=None):
    """Mark L3 in the scene: place the fiducial, show the volume in every slice view and jump them to it.

    ``fiducial_node``: the node to update; None reuses the scene's fiducial named "L3" or creates it, so
    a rerun moves the same point instead of adding another. Returns the fiducial node.

    A result without an L3 level (``not_in_view``, ``error``) places nothing and moves no existing
    fiducial: the function returns None, and ``result.summary()`` says why.
    """
    if not has_l3_level(result):
        logging.info("L3Spotter places no fiducial: %s", result.summary())
        return None
    scene = volume_node.GetScene()
    point = l3_point_ras(result, volume_node)
    if fiducial_node is None:
        fiducial_node = find_l3_fiducial(scene)
    if fiducial_node is None:
        fiducial_node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", L3_FIDUCIAL_NAME)
    if fiducial_node.GetDisplayNode() is None:
        fiducial_node.CreateDefaultDisplayNodes()
    place_l3_point(fiducial_node, point, result.summary())
    # Background first: the jump is the last word on where the slices are.
    for composite_node in slice_composite_nodes(scene):
        composite_node.SetBackgroundVolumeID(volume_node.GetID())
    r, a, s = (float(v) for v in point)
    slicer.vtkMRMLSliceNode.JumpAllSlices(scene, r, a, s, slicer.vtkMRMLSliceNode.CenteredJumpSlice)
    return fiducial_node


def fiducial_slice_index(fiducial_node, volume_node) -> tuple[int | None, float | None]:
    """``(slice index, z in mm)`` of the fiducial's "L3" point in the volume.

    The slice index is the voxel slice (along the volume's slice axis) holding the point, in world
    coordinates; None when the point lies outside the volume's slices. z is the point's S coordinate.
    ``(None, None)`` when the node has no "L3" point.
    """
    index = l3_control_point_index(fiducial_node)
    if index < 0:
        return None, None
    position = [0.0, 0.0, 0.0]
    fiducial_node.GetNthControlPointPositionWorld(index, position)
    geometry = volume_world_geometry(volume_node)
    world_to_ijk = np.linalg.inv(geometry.ijk_to_ras)
    ijk = world_to_ijk[:3, :3] @ np.asarray(position) + world_to_ijk[:3, 3]
    slice_position = float(ijk[geometry.slice_axis])
    z_ras_mm = float(position[2])
    if not -0.5 <= slice_position < geometry.n_slices - 0.5:
        return None, z_ras_mm
    return int(np.floor(slice_position + 0.5)), z_ras_mm
