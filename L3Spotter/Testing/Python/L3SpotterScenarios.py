"""Scenarios shared by the Slicer self-test (``L3SpotterTest`` in ``L3Spotter.py``) and the pytest suite.

:class:`L3SpotterScenarios` is a mixin of ``test_*`` methods that run against a real MRML scene: the Slicer
application's ``slicer.mrmlScene``, or a fresh ``vtkMRMLScene`` with Red/Yellow/Green slice views built
from the ``slicer-core`` wheel. It defines no ``__init__`` (``ScriptedLoadableModuleTest`` constructs its
mixins without arguments) and no ``setUp``.

What a scenario runs on comes from a few hooks, which a test class overrides:

* :meth:`~L3SpotterScenarios.scenarioCase`: the CT file and the L3 level known for it. Default: a
  synthetic phantom from :mod:`L3SpotterLib.phantom` (no download).
* :meth:`~L3SpotterScenarios.detector`: the loaded model. Default: the shipped model.
* :meth:`~L3SpotterScenarios.detectL3` / :meth:`~L3SpotterScenarios.showL3`: the entry points under test.
  Default: :mod:`L3SpotterLib.slicer_adapter.mrml`; the Slicer self-test goes through ``L3SpotterLogic``.
* :meth:`~L3SpotterScenarios.newScene` and :meth:`~L3SpotterScenarios.loadVolumeFromFile`.
"""

# Slicer 5.2-5.8 run this on Python 3.9, which cannot evaluate `float | None`: keep annotations unevaluated.
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import slicer
import vtk

from L3SpotterLib.slicer_adapter import mrml
from L3SpotterLib.result import DetectionResult

# Half a lumbar vertebra: further than this from the true L3, the detector has picked another vertebra.
HALF_VERTEBRA_MM = 15.0

# The phantom of the self-test: L3 wholly inside, 3 mm voxels (small and fast), a fixed seed.
PHANTOM_SEED = 3
PHANTOM_OPTIONS = {"voxel_mm": 3.0, "l3_in_view": True}

# A parent transform for the transform scenario: a translation and a small rotation about the S axis.
# A rotation about S keeps every slice's z, so the world level must move by exactly TRANSLATION_MM[2].
TRANSLATION_MM = (12.0, -20.0, 35.0)
ROTATION_ABOUT_S_DEG = 4.0

# Positions are compared in mm: results carry z rounded to 0.01 mm.
POSITION_TOLERANCE_MM = 0.011
# Two separate detections of the same anatomy may differ in the last digits (a GPU need not sum in the
# same order twice), so levels from two runs are compared a little more loosely.
RERUN_TOLERANCE_MM = 0.05
# Per-window predictions are rounded to 4 decimals; two runs may differ by a rounding step or so.
TRACE_TOLERANCE = 1e-3

_phantomCases = {}  # seed -> ScenarioCase, so a process generates each phantom once


@dataclass
class ScenarioCase:
    """A CT file for the scenarios and what is known about it."""

    ctPath: Path
    knownL3ZRasMm: float | None  # None: no reference level; the accuracy scenario then checks nothing
    toleranceMm: float = HALF_VERTEBRA_MM  # how far the detected L3 may lie from the known one


def buildSceneWithSliceViews():
    """A fresh MRML scene with Red (axial), Yellow (sagittal) and Green (coronal) slice views.

    Returns ``(scene, keepAlive)``: hold on to ``keepAlive``, because the application logic keeps raw
    pointers to the slice logics.
    """
    scene = slicer.vtkMRMLScene()
    applicationLogic = slicer.vtkMRMLApplicationLogic()
    applicationLogic.SetMRMLScene(scene)
    sliceLogics = []
    for name, orientation in (("Red", "Axial"), ("Yellow", "Sagittal"), ("Green", "Coronal")):
        sliceLogic = slicer.vtkMRMLSliceLogic()
        sliceLogic.SetMRMLApplicationLogic(applicationLogic)
        sliceLogic.SetMRMLScene(scene)
        sliceLogic.AddSliceNode(name).SetOrientation(orientation)
        sliceLogics.append(sliceLogic)
    return scene, (applicationLogic, sliceLogics)


def releaseSceneWithSliceViews(scene, keepAlive):
    """Take apart what :func:`buildSceneWithSliceViews` built, in a fixed order.

    The slice logics hold raw pointers to the application logic, so they leave the scene and drop that
    pointer first; left to garbage collection, the order of destruction would be up to chance.
    """
    applicationLogic, sliceLogics = keepAlive
    for sliceLogic in sliceLogics:
        sliceLogic.SetMRMLScene(None)
        sliceLogic.SetMRMLApplicationLogic(None)
    applicationLogic.SetMRMLScene(None)
    scene.Clear(True)


def sliceNodeByLayoutName(scene, layoutName):
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
        sliceNode = scene.GetNthNodeByClass(index, "vtkMRMLSliceNode")
        if sliceNode.GetLayoutName() == layoutName:
            return sliceNode
    raise AssertionError(f"the scene has no {layoutName} slice view")


def fiducialNodesNamedL3(scene):
    className = "vtkMRMLMarkupsFiducialNode"
    nodes = [scene.GetNthNodeByClass(i, className) for i in range(scene.GetNumberOfNodesByClass(className))]
    return [node for node in nodes if node.GetName() == mrml.L3_FIDUCIAL_NAME]


def controlPointWorld(fiducialNode, index=0):
    position = [0.0, 0.0, 0.0]
    fiducialNode.GetNthControlPointPositionWorld(index, position)
    return np.array(position)


def volumeIjkToWorldPoint(volumeNode, ijk):
    """World RAS of a voxel index through the node's own matrix (and no parent transform)."""
    ijkToRas = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(ijkToRas)
    return np.array(ijkToRas.MultiplyPoint([*map(float, ijk), 1.0])[:3])


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def checkClose(actual, expected, toleranceMm, what):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    check(
        actual.shape == expected.shape and np.all(np.abs(actual - expected) <= toleranceMm),
        f"{what}: got {np.round(actual, 3).tolist()}, expected {np.round(expected, 3).tolist()} (within {toleranceMm} mm)",
    )


class L3SpotterScenarios:
    """The scenarios. Mix into a test class, after the test base class; override the hooks as needed."""

    # ------------------------------------------------------------------ hooks

    def newScene(self):
        """An empty scene with slice views (overridden in Slicer to clear and return ``slicer.mrmlScene``)."""
        previous = getattr(self, "_sceneKeepAlive", None)
        if previous is not None:
            releaseSceneWithSliceViews(*previous)
        scene, keepAlive = buildSceneWithSliceViews()
        self._sceneKeepAlive = (scene, keepAlive)
        return scene

    def scenarioCase(self) -> ScenarioCase:
        """The CT the scenarios run on. Default: the synthetic phantom, written once per process."""
        if PHANTOM_SEED not in _phantomCases:
            from L3SpotterLib.phantom import generate_phantom, write_phantom_case

            phantom = generate_phantom(PHANTOM_SEED, **PHANTOM_OPTIONS)
            folder = Path(tempfile.mkdtemp(prefix="L3SpotterScenarios-")) / f"phantom_seed{PHANTOM_SEED}"
            write_phantom_case(phantom, folder)
            knownL3 = phantom.case.get("l3_z_ras_mm")
            check(knownL3 is not None, f"phantom seed {PHANTOM_SEED} does not show L3; choose another seed")
            _phantomCases[PHANTOM_SEED] = ScenarioCase(folder / "ct.nii.gz", float(knownL3), HALF_VERTEBRA_MM)
        return _phantomCases[PHANTOM_SEED]

    def detector(self):
        """The loaded model the scenarios detect with. Default: the shipped model (cached)."""
        return mrml.detector_for(None, "auto")

    def detectL3(self, volumeNode) -> DetectionResult:
        return mrml.detect_volume_node(volumeNode, detector=self.detector())

    def showL3(self, result, volumeNode, fiducialNode=None):
        return mrml.show_result(result, volumeNode, fiducialNode)

    def loadVolumeFromFile(self, scene, path, name):
        volumesLogic = slicer.vtkSlicerVolumesLogic()
        volumesLogic.SetMRMLScene(scene)
        volumeNode = volumesLogic.AddArchetypeVolume(str(path), name)
        check(volumeNode is not None, f"cannot load {path} as a volume")
        return volumeNode

    def scratchFolder(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="L3SpotterScenarios-"))

    # ------------------------------------------------------------------ steps

    def scenarioNames(self):
        return sorted(name for name in dir(self) if name.startswith("test_"))

    def loadCase(self, scene, name="CT"):
        return self.loadVolumeFromFile(scene, self.scenarioCase().ctPath, name)

    def detectAndShow(self, volumeNode, fiducialNode=None):
        result = self.detectL3(volumeNode)
        check(
            result.status in ("found", "uncertain"),
            f"the scenarios need a detected L3 level, got: {result.summary()}",
        )
        return result, self.showL3(result, volumeNode, fiducialNode)

    def checkL3Shown(self, scene, result, volumeNode, fiducialNode):
        """The fiducial sits at the result's level, every slice view passes through it and shows the volume."""
        check(fiducialNode is not None, "no fiducial was returned for a detected L3")
        index = mrml.l3_control_point_index(fiducialNode)
        check(index >= 0, "the fiducial node has no control point labelled L3")
        point = controlPointWorld(fiducialNode, index)
        checkClose(point[2], result.l3_z_ras_mm, POSITION_TOLERANCE_MM, "fiducial S vs the result's l3_z_ras_mm")
        red = sliceNodeByLayoutName(scene, "Red")
        checkClose(red.GetSliceOffset(), result.l3_z_ras_mm, POSITION_TOLERANCE_MM, "red slice offset vs l3_z_ras_mm")
        for layoutName in ("Red", "Yellow", "Green"):
            sliceToRas = slicer.util.arrayFromVTKMatrix(sliceNodeByLayoutName(scene, layoutName).GetSliceToRAS())
            distanceMm = float(sliceToRas[:3, 2] @ (point - sliceToRas[:3, 3]))
            checkClose(distanceMm, 0.0, POSITION_TOLERANCE_MM, f"distance of the {layoutName} slice plane from the fiducial")
        for compositeNode in mrml.slice_composite_nodes(scene):
            check(compositeNode.GetBackgroundVolumeID() == volumeNode.GetID(),
                  f"{compositeNode.GetID()} shows {compositeNode.GetBackgroundVolumeID()} as background, not the volume")
        return point

    # ------------------------------------------------------------------ scenarios

    def test_detection_marks_l3_in_the_slice_views(self):
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        result, fiducialNode = self.detectAndShow(volumeNode)
        point = self.checkL3Shown(scene, result, volumeNode, fiducialNode)
        # In-plane, the point is the engine's point in the L3 vertebra.
        checkClose(point, np.asarray(result.l3_point_ras_mm), 1e-3, "fiducial vs the result's point in the vertebra")
        sliceIndex, _ = mrml.fiducial_slice_index(fiducialNode, volumeNode)
        check(sliceIndex == result.l3_slice, f"the fiducial lies in slice {sliceIndex}, the result says {result.l3_slice}")

    def test_detected_l3_is_near_the_known_l3(self):
        case = self.scenarioCase()
        if case.knownL3ZRasMm is None:
            return
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        result, fiducialNode = self.detectAndShow(volumeNode)
        point = controlPointWorld(fiducialNode, mrml.l3_control_point_index(fiducialNode))
        checkClose(point[2], case.knownL3ZRasMm, case.toleranceMm, "fiducial S vs the known L3 level")

    def test_volume_node_gives_the_same_result_as_the_file(self):
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        fromNode = self.detectL3(volumeNode)
        fromFile = self.detector().detect_path(self.scenarioCase().ctPath)
        check(fromNode.status == fromFile.status, f"status {fromNode.status} from the node, {fromFile.status} from the file")
        check(fromNode.l3_slice == fromFile.l3_slice, f"slice {fromNode.l3_slice} from the node, {fromFile.l3_slice} from the file")
        checkClose(fromNode.l3_z_ras_mm, fromFile.l3_z_ras_mm, RERUN_TOLERANCE_MM, "z from the node vs from the file")
        check(fromNode.slice_axis == fromFile.slice_axis, "the slice axis differs between node and file")
        fromNodeTrace = np.asarray(fromNode.trace.predicted_fraction)
        fromFileTrace = np.asarray(fromFile.trace.predicted_fraction)
        check(fromNodeTrace.shape == fromFileTrace.shape and np.allclose(fromNodeTrace, fromFileTrace, atol=TRACE_TOLERANCE),
              "the window traces differ: the node and the file did not give the engine the same projection")

    def test_rerun_updates_the_same_fiducial(self):
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        result, first = self.detectAndShow(volumeNode)
        # The user drags the point away; a rerun without naming the node brings the same point back.
        first.SetNthControlPointPositionWorld(0, 0.0, 0.0, 0.0)
        _, second = self.detectAndShow(volumeNode)
        _, third = self.detectAndShow(volumeNode, fiducialNode=second)
        check(second is first and third is first, "a rerun created another fiducial node instead of updating it")
        check(len(fiducialNodesNamedL3(scene)) == 1, f"{len(fiducialNodesNamedL3(scene))} fiducial nodes named L3")
        check(first.GetNumberOfControlPoints() == 1, f"{first.GetNumberOfControlPoints()} control points after three runs")
        self.checkL3Shown(scene, result, volumeNode, first)

    def test_parent_linear_transform_moves_the_level_in_world(self):
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        plain, plainFiducial = self.detectAndShow(volumeNode)
        plainPoint = controlPointWorld(plainFiducial)

        toWorld = vtk.vtkTransform()
        toWorld.Translate(*TRANSLATION_MM)
        toWorld.RotateZ(ROTATION_ABOUT_S_DEG)
        transformNode = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "L3Spotter test transform")
        transformNode.SetMatrixTransformToParent(toWorld.GetMatrix())
        volumeNode.SetAndObserveTransformNodeID(transformNode.GetID())

        moved, movedFiducial = self.detectAndShow(volumeNode)
        check(movedFiducial is plainFiducial, "the transformed rerun did not update the same fiducial")
        self.checkL3Shown(scene, moved, volumeNode, movedFiducial)
        # Same voxels, same anatomy: the same slice; the world level moves by the translation along S.
        check(moved.l3_slice == plain.l3_slice, f"slice {moved.l3_slice} under the transform, {plain.l3_slice} without")
        checkClose(moved.l3_z_ras_mm, plain.l3_z_ras_mm + TRANSLATION_MM[2], RERUN_TOLERANCE_MM,
                   "world z under the transform vs plain z + translation")
        # The fiducial is where the transform takes the untransformed fiducial.
        expectedPoint = np.array(toWorld.TransformPoint(*plainPoint))
        checkClose(controlPointWorld(movedFiducial), expectedPoint, RERUN_TOLERANCE_MM,
                   "fiducial under the transform vs the transformed plain fiducial")
        check(movedFiducial.GetParentTransformNode() is None, "the fiducial should stay in world coordinates")

    def test_non_linear_transform_is_refused_with_a_clear_error(self):
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        bend = vtk.vtkThinPlateSplineTransform()
        source, target = vtk.vtkPoints(), vtk.vtkPoints()
        for x, y, z in ((0, 0, 0), (100, 0, 0), (0, 100, 0), (0, 0, 100), (50, 50, 50)):
            source.InsertNextPoint(x, y, z)
            target.InsertNextPoint(x + (5.0 if z > 0 else 0.0), y, z)
        bend.SetSourceLandmarks(source)
        bend.SetTargetLandmarks(target)
        bend.SetBasisToR()
        transformNode = scene.AddNewNodeByClass("vtkMRMLTransformNode", "bend")
        transformNode.SetAndObserveTransformToParent(bend)
        volumeNode.SetAndObserveTransformNodeID(transformNode.GetID())
        result = self.detectL3(volumeNode)
        check(result.status == "error", f"a non-linear transform should give an error, got {result.status}")
        check("non-linear" in result.message and "harden" in result.message.lower(),
              f"the error should say the transform is non-linear and how to fix it: {result.message}")
        check(self.showL3(result, volumeNode) is None, "an error result placed a fiducial")
        check(len(fiducialNodesNamedL3(scene)) == 0, "an error result created a fiducial node")

    def test_lps_copy_gives_the_same_level(self):
        import SimpleITK as sitk

        ctPath = self.scenarioCase().ctPath
        lpsPath = self.scratchFolder() / "ct_lps.nii.gz"
        image = sitk.ReadImage(str(ctPath))
        # The same anatomy with the voxel axes reordered so that i runs to L, j to P, k to S (or, for a file
        # stored that way already, to R, A, S: the copy must differ from the original).
        storedAs = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())
        sitk.WriteImage(sitk.DICOMOrient(image, "LPS" if storedAs != "LPS" else "RAS"), str(lpsPath))
        scene = self.newScene()
        original = self.loadVolumeFromFile(scene, ctPath, "CT")
        lpsCopy = self.loadVolumeFromFile(scene, lpsPath, "CT LPS")
        originalResult, originalFiducial = self.detectAndShow(original)
        originalPoint = controlPointWorld(originalFiducial)
        lpsResult, lpsFiducial = self.detectAndShow(lpsCopy)
        self.checkL3Shown(scene, lpsResult, lpsCopy, lpsFiducial)
        checkClose(lpsResult.l3_z_ras_mm, originalResult.l3_z_ras_mm, RERUN_TOLERANCE_MM, "z of the LPS copy vs the original")
        checkClose(controlPointWorld(lpsFiducial), originalPoint, RERUN_TOLERANCE_MM, "fiducial of the LPS copy vs the original")
        check(lpsResult.slice_axis["ijk_axis"] == originalResult.slice_axis["ijk_axis"], "the LPS copy changed the slice axis")

    def test_markups_json_round_trip(self):
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        result, fiducialNode = self.detectAndShow(volumeNode)
        path = self.scratchFolder() / "L3.mrk.json"
        writer = scene.AddNode(slicer.vtkMRMLMarkupsJsonStorageNode())
        writer.SetFileName(str(path))
        check(writer.WriteData(fiducialNode), f"cannot write {path}")
        readBack = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "read back")
        reader = scene.AddNode(slicer.vtkMRMLMarkupsJsonStorageNode())
        reader.SetFileName(str(path))
        check(reader.ReadData(readBack), f"cannot read {path} back")
        check(readBack.GetNumberOfControlPoints() == 1, f"{readBack.GetNumberOfControlPoints()} points read back")
        check(readBack.GetNthControlPointLabel(0) == mrml.L3_POINT_LABEL, f"label {readBack.GetNthControlPointLabel(0)!r} read back")
        check(readBack.GetNthControlPointDescription(0) == result.summary(), "the point's description (the result) was lost")
        checkClose(controlPointWorld(readBack), controlPointWorld(fiducialNode), 1e-3, "position read back")

    def test_given_result_is_shown_where_it_says(self):
        # Independent of any model: a result built by hand, in the middle of the volume.
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        geometry = mrml.volume_world_geometry(volumeNode)
        middleSlice = geometry.n_slices // 2
        zRasMm = round(float(geometry.slice_to_z_ras_mm(middleSlice)), 2)
        result = DetectionResult(input="hand-made", status="found", l3_slice=middleSlice, l3_z_ras_mm=zRasMm, confidence=0.9)
        fiducialNode = self.showL3(result, volumeNode)
        self.checkL3Shown(scene, result, volumeNode, fiducialNode)
        sliceIndex, fiducialZ = mrml.fiducial_slice_index(fiducialNode, volumeNode)
        check(sliceIndex == middleSlice, f"the fiducial lies in slice {sliceIndex}, not {middleSlice}")
        checkClose(fiducialZ, zRasMm, POSITION_TOLERANCE_MM, "z of the fiducial")

    def test_no_fiducial_when_l3_is_not_in_view(self):
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        notInView = DetectionResult(input="hand-made", status="not_in_view", confidence=0.0, l3_position="above_scan",
                                    message="L3 lies above the scan")
        error = DetectionResult(input="hand-made", status="error", message="hand-made: something went wrong")
        for result in (notInView, error):
            check(self.showL3(result, volumeNode) is None, f"a {result.status} result returned a fiducial")
        check(len(fiducialNodesNamedL3(scene)) == 0, "a result without L3 created a fiducial node")
        check("not in the field of view" in notInView.summary(), f"the summary should say so: {notInView.summary()}")
        # An existing fiducial stays where it is.
        existing = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", mrml.L3_FIDUCIAL_NAME)
        existing.AddControlPointWorld(vtk.vtkVector3d(1.0, 2.0, 3.0), mrml.L3_POINT_LABEL)
        for result in (notInView, error):
            check(self.showL3(result, volumeNode, existing) is None, f"a {result.status} result returned a fiducial")
        checkClose(controlPointWorld(existing), (1.0, 2.0, 3.0), 0.0, "an existing fiducial after a result without L3")

    def test_dragged_fiducial_gives_the_corrected_slice_index(self):
        scene = self.newScene()
        volumeNode = self.loadCase(scene)
        result, fiducialNode = self.detectAndShow(volumeNode)
        geometry = mrml.volume_world_geometry(volumeNode)
        target = result.l3_slice + 2 if result.l3_slice + 2 < geometry.n_slices else result.l3_slice - 2
        centre = (np.asarray(geometry.shape_ijk, dtype=float) - 1.0) / 2.0
        centre[geometry.slice_axis] = target
        # A drag in the red view moves the point in-plane too; the slice is what counts.
        draggedPoint = volumeIjkToWorldPoint(volumeNode, centre) + np.array([7.0, -5.0, 0.0])
        fiducialNode.SetNthControlPointPositionWorld(0, *draggedPoint)
        sliceIndex, zRasMm = mrml.fiducial_slice_index(fiducialNode, volumeNode)
        check(sliceIndex == target, f"dragged to slice {target}, reported {sliceIndex}")
        checkClose(zRasMm, draggedPoint[2], 1e-6, "z of the dragged fiducial")
        # Dragged out of the volume: no slice.
        fiducialNode.SetNthControlPointPositionWorld(0, 0.0, 0.0, float(geometry.z_range_ras_mm[1]) + 100.0)
        sliceIndex, _ = mrml.fiducial_slice_index(fiducialNode, volumeNode)
        check(sliceIndex is None, f"a fiducial above the volume reported slice {sliceIndex}")
