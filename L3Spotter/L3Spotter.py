"""L3Spotter for 3D Slicer: find the axial slice through the third lumbar vertebra (L3) in a CT.

Slicer entry points only: the module description, the parameter node, a thin widget that binds the panel
to the parameters, a thin logic that delegates to the engine (``L3SpotterLib``) and its MRML adapter
(``L3SpotterLib.slicer_adapter.mrml``), and the self-test. The logic works without the panel, from the Python console:

    logic = slicer.util.getModuleLogic("L3Spotter")
    result = logic.detect(volumeNode)
    logic.showResult(result, volumeNode)

torch is imported only when a detection runs, so the module loads (and offers to install it) without it.
"""

import enum
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import qt
import vtk

import slicer
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode
from slicer.parameterNodeWrapper import Default, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from L3SpotterLib.slicer_adapter import mrml, python_dependencies

MODULE_DIR = Path(__file__).resolve().parent
HOMEPAGE_URL = "https://github.com/L3Spotter/SlicerL3Spotter"
README_URL = HOMEPAGE_URL + "#readme"
# The shipped model (L3SpotterLib.model_card.DEFAULT_MODEL_NAME; the test suite checks they agree).
SHIPPED_MODEL_CARD = MODULE_DIR / "Resources" / "Models" / "l3spotter_mobilenet_v2.json"

# What detection needs beyond the Python packages every Slicer has (numpy, vtk), with versions, is in
# L3SpotterLib.slicer_adapter.python_dependencies: torch through the PyTorch extension (it picks the build for the GPU),
# the others through pip.


#
# L3Spotter
#


class L3Spotter(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "L3Spotter"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["L3Spotter developers"]
        self.parent.helpText = f"""
<p>Finds the axial slice through the third lumbar vertebra (L3) in a CT scan in seconds: the slice where
body-composition studies measure muscle and fat (sarcopenia).</p>
<p><b>How:</b> a maximum intensity projection (MIP) of the CT, a convolutional network applied to windows
sliding down the MIP, and a correlation of the windows' answers with the ideal ramp. The result is a
markups fiducial named "L3" on the L3 level; all slice views jump to it. Drag the fiducial to correct it:
the panel shows the corrected slice.</p>
<p><b>The L3 slice</b> is the axial slice through the centre of the L3 vertebra (the centroid of its
label), L3 being the third lumbar vertebra counted down from the thoracolumbar junction. The slice index is
0-based, along the volume's own voxel axis that runs most nearly head to foot.</p>
<p><b>Confidence</b> (0 to 1) says how well the windows' answers match the ideal ramp: the correlation
times the ramp's slope, lowered as L3 comes within one vertebral level (50 mm) of the scan's edge. Below the
model's threshold, or within 50 mm of the edge (where the count cannot be checked beyond L3), the status is
"uncertain": check by eye. When no window sees L3 the answer is
"L3 is not in the field of view" (above or below the scan), and no fiducial is placed.</p>
<p><b>Teach it your scans:</b> save checked (and corrected) scans as training cases in a label folder,
then adapt the model on them, in the background; the adapted model is kept only if it does no worse than
its parent on the parent's validation phantoms, and the Model selector offers it.</p>
<p>See the <a href="{README_URL}">L3Spotter README</a> for installation, the command line and measured
accuracy.</p>
"""
        self.parent.acknowledgementText = """
<p>L3Spotter implements and extends the method of Belharbi S, Chatelain C, H&eacute;rault R, Adam S,
Thureau S, Chastan M, Modzelewski R. "Spotting L3 slice in CT scans using deep convolutional network and
transfer learning." <i>Computers in Biology and Medicine</i>, 2017;87:95-103. Please cite it when you use
L3Spotter in your work.</p>
"""


#
# L3SpotterParameterNode
#


class ComputeDevice(enum.Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"

    def label(self):
        return {"auto": "Auto (CUDA if available, else CPU)", "cpu": "CPU", "cuda": "CUDA (NVIDIA GPU)"}[self.value]


def shippedModelCardPath():
    return SHIPPED_MODEL_CARD


@parameterNodeWrapper
class L3SpotterParameterNode:
    """
    inputVolume - the CT to search.
    outputFiducial - the markups fiducial that marks L3; None: create (or update) the one named "L3".
    modelCard - the model card (.json) of the model to run; by default the shipped model.
    device - where the network runs.
    windowStridePx - rows of the MIP between neighbouring windows; 0: the model's default.
    trainingFolder - the label folder where checked scans are saved as training cases (empty: none yet).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    outputFiducial: vtkMRMLMarkupsFiducialNode
    modelCard: Annotated[Path, Default(generator=shippedModelCardPath)]
    device: ComputeDevice
    windowStridePx: Annotated[int, WithinRange(0, 64)] = 0
    trainingFolder: Path


#
# L3SpotterWidget
#


class L3SpotterWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Binds the panel to the parameter node and calls the logic; no computation here."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedFiducial = None
        self._lastResult = None
        self._lastResultVolumeID = None
        self._picturePng = None
        self._job = None  # the detection running in a worker thread, if any
        self._jobSnapshot = None  # what it runs on (the volume as it was when Detect was pressed)
        self._jobTimer = None
        self._busy = False  # a detection or an installation is running: the buttons that start one are off
        self._adaptJob = None  # training.adapt running in its own process, if any
        self._adaptOut = None  # the model card it will write
        self._adaptTimer = None
        self._trainingCaseCount = 0  # cases in the label folder, as last read by _updateTeachSection

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/L3Spotter.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        # The .ui connects the top widget's mrmlSceneChanged signal to every MRML widget.
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = L3SpotterLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.detectButton.connect("clicked(bool)", self.onDetectButton)
        self.ui.savePictureButton.connect("clicked(bool)", self.onSavePictureButton)
        self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependenciesButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.saveTrainingCaseButton.connect("clicked(bool)", self.onSaveTrainingCaseButton)
        self.ui.adaptModelButton.connect("clicked(bool)", self.onAdaptModelButton)
        self.ui.adaptCancelButton.connect("clicked(bool)", self.onAdaptCancelButton)
        self.ui.modelSelectorComboBox.connect("activated(int)", self.onModelSelected)
        self.ui.adaptProgressBar.hide()
        self.ui.adaptCancelButton.hide()
        self.ui.progressBar.hide()
        self.ui.statusLabel.hide()
        self.ui.cancelButton.hide()
        # The panel polls the worker from the GUI thread: Qt widgets must only be touched here.
        self._jobTimer = qt.QTimer()
        self._jobTimer.setInterval(100)
        self._jobTimer.connect("timeout()", self._pollJob)
        self._adaptTimer = qt.QTimer()
        self._adaptTimer.setInterval(250)
        self._adaptTimer.connect("timeout()", self._pollAdaptation)
        self._updateDependenciesLabel()

        self.initializeParameterNode()

    def cleanup(self):
        self.removeObservers()
        if self._job is not None:
            self._job.cancel()
        if self._jobTimer is not None:
            self._jobTimer.stop()
        if self._adaptJob is not None:
            self._adaptJob.cancel()  # a training process must not outlive the panel
        if self._adaptTimer is not None:
            self._adaptTimer.stop()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        # The panel is hidden: stop updating it from the parameter node until the user comes back.
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event):
        if self._job is not None:
            self._job.cancel()  # its volume is going; _pollJob reports it when the worker stops
        self.setParameterNode(None)
        self._observeFiducial(None)
        self._showResult(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        # Save the user a click: pick the first volume if none is selected yet.
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode

    def setParameterNode(self, inputParameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # Widgets with a "SlicerParameterName" property in the .ui are bound to those parameters.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None):
        parameters = self._parameterNode
        if parameters is None:
            return
        if parameters.inputVolume:
            self.ui.detectButton.toolTip = "Find the L3 slice in the selected CT volume"
        else:
            self.ui.detectButton.toolTip = "Select a CT volume first"
        self._updateButtons()
        self.ui.modelInfoLabel.text = self.logic.modelCardSummary(parameters.modelCard)
        self._updateTeachSection()
        self._observeFiducial(parameters.outputFiducial)
        self._updateFiducialLabel()

    def _observeFiducial(self, fiducialNode):
        """Follow the fiducial, so that dragging it updates the slice shown in the panel."""
        if fiducialNode is self._observedFiducial:
            return
        if self._observedFiducial is not None:
            for event in (slicer.vtkMRMLMarkupsNode.PointModifiedEvent, slicer.vtkMRMLMarkupsNode.PointRemovedEvent):
                self.removeObserver(self._observedFiducial, event, self._onFiducialModified)
        self._observedFiducial = fiducialNode
        if fiducialNode is not None:
            for event in (slicer.vtkMRMLMarkupsNode.PointModifiedEvent, slicer.vtkMRMLMarkupsNode.PointRemovedEvent):
                self.addObserver(fiducialNode, event, self._onFiducialModified)

    def _onFiducialModified(self, caller=None, event=None):
        self._updateFiducialLabel()

    def _updateFiducialLabel(self):
        parameters = self._parameterNode
        volumeNode = parameters.inputVolume if parameters else None
        fiducialNode = parameters.outputFiducial if parameters else None
        if volumeNode is None or fiducialNode is None:
            self.ui.fiducialLabel.text = ""
            return
        try:
            sliceIndex, zRasMm = self.logic.fiducialSliceIndex(volumeNode, fiducialNode)
        except Exception as error:  # e.g. the volume went under a non-linear transform
            self.ui.fiducialLabel.text = f"cannot locate the fiducial in the volume: {error}"
            return
        if zRasMm is None:
            self.ui.fiducialLabel.text = "the fiducial node has no point labelled L3"
        elif sliceIndex is None:
            self.ui.fiducialLabel.text = f"outside the volume (z = {zRasMm:.1f} mm)"
        elif self._isLastResultFor(volumeNode) and self._lastResult.l3_slice is not None and sliceIndex != self._lastResult.l3_slice:
            shiftMm = zRasMm - self._lastResult.l3_z_ras_mm
            self.ui.fiducialLabel.text = (
                f"corrected by hand: slice {sliceIndex} (z = {zRasMm:.1f} mm, {shiftMm:+.1f} mm from the detection)"
            )
        else:
            self.ui.fiducialLabel.text = f"slice {sliceIndex} (z = {zRasMm:.1f} mm)"

    def _isLastResultFor(self, volumeNode):
        return self._lastResult is not None and self._lastResultVolumeID == volumeNode.GetID()

    def _updateDependenciesLabel(self):
        problems = self.logic.dependencyProblems()
        self.ui.dependenciesLabel.text = "all installed" if not problems else "to install: " + ", ".join(p.describe() for p in problems)
        self._updateButtons()

    def _updateButtons(self):
        """Detect and Install only while nothing runs (no second run can start inside the first); Cancel
        only while a detection runs."""
        hasVolume = bool(self._parameterNode and self._parameterNode.inputVolume)
        self.ui.detectButton.enabled = hasVolume and not self._busy
        self.ui.installDependenciesButton.enabled = bool(self.logic.dependencyProblems()) and not self._busy
        running = self._job is not None
        self.ui.cancelButton.visible = running
        self.ui.cancelButton.enabled = running and not self._job.cancel_requested
        parameters = self._parameterNode
        folder = self._trainingFolder()
        self.ui.saveTrainingCaseButton.enabled = bool(folder and parameters.inputVolume and parameters.outputFiducial)
        self.ui.adaptModelButton.enabled = bool(folder) and self._adaptJob is None and (
            self._trainingCaseCount >= self.logic.minimumTrainingCases())

    def _setBusy(self, busy, message=""):
        self._busy = busy
        self.ui.progressBar.maximum = 0  # a busy indicator until the network reports its share of windows
        self.ui.progressBar.visible = busy
        self.ui.statusLabel.visible = busy
        self.ui.statusLabel.text = message
        self._updateButtons()

    def _showResult(self, result, volumeNode=None):
        self._lastResult = result
        self._lastResultVolumeID = volumeNode.GetID() if volumeNode is not None else None
        self._picturePng = None
        self.ui.resultLabel.text = "No detection yet." if result is None else result.summary()
        self.ui.pictureLabel.clear()
        self.ui.pictureLabel.text = "The MIP with the L3 line and the window trace appears here after a detection."
        self.ui.savePictureButton.enabled = False

    def _showPicture(self, result):
        try:
            self._picturePng = self.logic.resultPicturePng(result)
        except Exception as error:  # the picture is an aid: its failure must not hide the result
            logging.exception("L3Spotter: cannot draw the MIP picture")
            self.ui.pictureLabel.text = f"No picture: {error}"
            return
        pixmap = qt.QPixmap()
        pixmap.loadFromData(qt.QByteArray(self._picturePng), "PNG")
        width = max(240, self.ui.resultCollapsibleButton.width - 30)
        self.ui.pictureLabel.setPixmap(pixmap.scaledToWidth(width, qt.Qt.SmoothTransformation))
        self.ui.savePictureButton.enabled = True

    def _installDependencies(self, forAdaptation=False):
        """Install what is missing (pip and the PyTorch installer run in their own processes), with the
        buttons off meanwhile so that no second installation or detection can start."""
        installed = False
        self._setBusy(True, "Installing Python packages")
        try:
            with slicer.util.tryWithErrorDisplay("Failed to install the Python packages L3Spotter needs."):
                installed = self.logic.installDependencies(askConfirmation=True, forAdaptation=forAdaptation)
        finally:
            self._setBusy(False)
            self._updateDependenciesLabel()
        return installed

    def onInstallDependenciesButton(self):
        if not self._busy:
            self._installDependencies()

    def onDetectButton(self):
        if self._busy:
            return
        if not self._installDependencies():
            self.ui.resultLabel.text = "Not run: L3Spotter needs the Python packages listed under Advanced."
            return
        parameters = self._parameterNode
        self._showResult(None)
        self._job, self._jobSnapshot = self.logic.startDetection(
            parameters.inputVolume,
            model=parameters.modelCard,
            device=parameters.device.value,
            windowStridePx=parameters.windowStridePx,
        )
        self._setBusy(True, "Starting")
        self._jobTimer.start()

    def onCancelButton(self):
        if self._job is not None:
            self._job.cancel()
            self.ui.statusLabel.text = "Cancelling (at the next batch of windows)"
            self._updateButtons()

    def _pollJob(self):
        """Called by the timer in the GUI thread: show the worker's progress, and its result when done."""
        job = self._job
        if job is None:
            self._jobTimer.stop()
            return
        if not job.done:
            if not job.cancel_requested:
                self.ui.statusLabel.text = job.stage
            if job.fraction is not None:
                self.ui.progressBar.maximum = 100
                self.ui.progressBar.value = int(round(100 * job.fraction))
            return
        self._jobTimer.stop()
        snapshot, self._job, self._jobSnapshot = self._jobSnapshot, None, None
        self._setBusy(False)
        self._finishDetection(job, snapshot)

    def _finishDetection(self, job, snapshot):
        volumeNode = self.logic.volumeNodeOf(snapshot)
        if snapshot is not None and volumeNode is None:
            self.ui.resultLabel.text = "Not shown: the volume was closed or deleted while L3 was being detected."
            return
        if job.cancelled:
            self.ui.resultLabel.text = "Cancelled: nothing was placed."
            return
        with slicer.util.tryWithErrorDisplay("L3 detection failed."):
            if job.failure is not None:
                raise job.failure
            result = job.result
            self._showResult(result, volumeNode)
            if result.status == "error":
                raise RuntimeError(result.message)
            parameters = self._parameterNode
            fiducialNode = self.logic.showResult(result, volumeNode, parameters.outputFiducial if parameters else None)
            if fiducialNode is None:
                self.ui.resultLabel.text = result.summary() + "; no fiducial placed"
            elif parameters is not None and parameters.outputFiducial is not fiducialNode:
                parameters.outputFiducial = fiducialNode
            self._updateFiducialLabel()
            self._showPicture(result)

    # Teach it your scans: save checked scans, adapt the model on them, choose the model.

    def _trainingFolder(self):
        parameters = self._parameterNode
        return self.logic.trainingFolderOrNone(parameters.trainingFolder if parameters else None)

    def _updateTeachSection(self):
        folder = self._trainingFolder()
        self._trainingCaseCount = 0 if folder is None else self.logic.trainingCaseCount(folder)
        if folder is None:
            self.ui.trainingCaseCountLabel.text = "Choose a label folder."
        else:
            count = self._trainingCaseCount
            enough = self.logic.minimumTrainingCases()
            self.ui.trainingCaseCountLabel.text = (
                f"{count} case{'s' if count != 1 else ''} in {folder.name}"
                + ("" if count >= enough else f" (adapting needs at least {enough})")
            )
        self._fillModelSelector(folder)
        self._updateButtons()

    def _fillModelSelector(self, folder):
        """The shipped model, then the site's adapted models (newest last), with the current one selected."""
        combo = self.ui.modelSelectorComboBox
        current = self.logic.modelCardPath(self._parameterNode.modelCard if self._parameterNode else None)
        choices = self.logic.modelChoices(folder)
        if [combo.itemData(i) for i in range(combo.count)] != [str(path) for _, path in choices]:
            wasBlocked = combo.blockSignals(True)
            combo.clear()
            for label, path in choices:
                combo.addItem(label, str(path))
            combo.blockSignals(wasBlocked)
        paths = [Path(path) for _, path in choices]
        index = paths.index(current) if current in paths else -1
        if index < 0:  # a card chosen under Advanced: show it too
            combo.addItem(f"{current.stem} (Advanced)", str(current))
            index = combo.count - 1
        combo.currentIndex = index

    def onModelSelected(self, index):
        path = self.ui.modelSelectorComboBox.itemData(index)
        if path and self._parameterNode is not None:
            self._parameterNode.modelCard = Path(path)

    def onSaveTrainingCaseButton(self):
        parameters = self._parameterNode
        folder = self._trainingFolder()
        if parameters is None or folder is None or not parameters.inputVolume or not parameters.outputFiducial:
            return
        volumeNode = parameters.inputVolume
        result = self._lastResult if self._isLastResultFor(volumeNode) else None
        with slicer.util.tryWithErrorDisplay("Failed to save the training case."):
            caseFolder = self.logic.saveTrainingCase(volumeNode, parameters.outputFiducial, folder, result=result)
            self.ui.adaptStatusLabel.text = f"Saved {caseFolder.name}."
        self._updateTeachSection()

    def onAdaptModelButton(self):
        folder = self._trainingFolder()
        if folder is None or self._adaptJob is not None:
            return
        parameters = self._parameterNode
        if not self._installDependencies(forAdaptation=True):
            self.ui.adaptStatusLabel.text = "Not started: adapting needs the Python packages listed under Advanced."
            return
        with slicer.util.tryWithErrorDisplay("Failed to start adapting the model."):
            self._adaptJob, self._adaptOut = self.logic.startAdaptation(folder, parentModel=parameters.modelCard)
            self.ui.adaptProgressBar.value = 0
            self.ui.adaptProgressBar.show()
            self.ui.adaptCancelButton.show()
            self.ui.adaptCancelButton.enabled = True
            self.ui.adaptStatusLabel.text = "Starting"
            self._adaptTimer.start()
        self._updateButtons()

    def onAdaptCancelButton(self):
        if self._adaptJob is not None:
            self._adaptJob.cancel()
            self.ui.adaptCancelButton.enabled = False
            self.ui.adaptStatusLabel.text = "Cancelling"

    def _pollAdaptation(self):
        job = self._adaptJob
        if job is None:
            self._adaptTimer.stop()
            return
        if not job.done:
            if not job.cancel_requested:
                self.ui.adaptStatusLabel.text = job.stage
            if job.fraction is not None:
                self.ui.adaptProgressBar.value = int(round(100 * job.fraction))
            return
        self._adaptTimer.stop()
        out, self._adaptJob, self._adaptOut = self._adaptOut, None, None
        self.ui.adaptProgressBar.hide()
        self.ui.adaptCancelButton.hide()
        self.ui.adaptStatusLabel.text = job.message()
        self._updateTeachSection()
        if job.succeeded and slicer.util.confirmYesNoDisplay(
            f"{job.message()}\n\n{self.logic.modelCardSummary(out)}\n\nUse the adapted model from now on?", "L3Spotter: model adapted"
        ):
            self._parameterNode.modelCard = out

    def onSavePictureButton(self):
        if not self._picturePng:
            return
        volumeName = self._parameterNode.inputVolume.GetName() if self._parameterNode.inputVolume else "volume"
        path = qt.QFileDialog.getSaveFileName(
            slicer.util.mainWindow(), "Save the MIP picture", f"{volumeName}_L3.png", "PNG images (*.png)"
        )
        if path:
            with slicer.util.tryWithErrorDisplay(f"Failed to save {path}."):
                Path(path).write_bytes(self._picturePng)


#
# L3SpotterLogic
#


class L3SpotterLogic(ScriptedLoadableModuleLogic):
    """Detection and display, callable from the Python console; delegates to ``L3SpotterLib``."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return L3SpotterParameterNode(super().getParameterNode())

    @staticmethod
    def dependencyProblems(forAdaptation=False):
        """The Python packages detection needs (and ``forAdaptation``: adapting the model too) that are
        missing or too old here (``DependencyProblem``s)."""
        requirements = dict(python_dependencies.TORCH_REQUIREMENTS, **python_dependencies.PIP_REQUIREMENTS)
        if forAdaptation:
            requirements.update(python_dependencies.ADAPTATION_REQUIREMENTS)
        return python_dependencies.dependency_problems(requirements)

    @classmethod
    def missingPackages(cls):
        """Import names of the Python packages detection needs that are missing or too old here."""
        return [problem.import_name for problem in cls.dependencyProblems()]

    def installDependencies(self, askConfirmation=True, forAdaptation=False):
        """Install what :meth:`dependencyProblems` lists, after asking. Returns True when all are there.

        torch comes from the PyTorch extension's installer (the right build for this computer's GPU); the
        other packages come from pip. A torch that is too old is not replaced here (other extensions use
        it): the error says what to update. torchvision is not needed. Nothing is installed without
        ``askConfirmation`` answered yes, unless the caller passes ``askConfirmation=False``.
        """
        problems = {problem.import_name: problem for problem in self.dependencyProblems(forAdaptation)}
        pipProblems = [problem for name, problem in problems.items() if name not in python_dependencies.TORCH_REQUIREMENTS]
        if pipProblems:
            requirements = [problem.requirement for problem in pipProblems]
            if not self._confirm(askConfirmation, "L3Spotter needs these Python packages: " + ", ".join(requirements) + ".\n\nInstall them now with pip?"):
                return False
            slicer.util.pip_install(requirements)
        if "torch" in problems and not self._installTorch(problems["torch"], askConfirmation):
            return False
        importlib.invalidate_caches()
        return not self.dependencyProblems(forAdaptation)

    @staticmethod
    def _confirm(askConfirmation, question):
        return not askConfirmation or slicer.util.confirmOkCancelDisplay(question, "L3Spotter: install Python packages")

    @staticmethod
    def _installTorch(problem, askConfirmation):
        if problem.installed_version is not None:
            raise RuntimeError(
                f"PyTorch {problem.installed_version} is installed, but L3Spotter needs {problem.requirement}. Update it in "
                "the PyTorch Utils module (other extensions share it), restart Slicer, and press Detect L3 again."
            )
        try:
            import PyTorchUtils
        except ImportError:
            raise RuntimeError(
                "L3Spotter needs PyTorch. Install the PyTorch extension from the Extensions Manager, restart "
                "Slicer, and press Detect L3 again."
            ) from None
        torchLogic = PyTorchUtils.PyTorchUtilsLogic()
        # installTorch asks for confirmation itself when askConfirmation is True.
        versionRequirement = problem.requirement[len("torch"):]
        return torchLogic.installTorch(askConfirmation=askConfirmation, torchVersionRequirement=versionRequirement) is not None

    def detect(self, volumeNode, model=None, device="auto", windowStridePx=None, progressCallback=None, fractionCallback=None):
        """Find L3 in a scalar volume node; returns a ``DetectionResult`` and never raises: missing packages,
        a bad input or model, and any failure while detecting (CUDA out of memory, for one) give a result
        with status "error" and a message naming the problem.

        ``model``: a model card path or model name; None or the shipped card: the shipped model.
        ``device``: "auto", "cpu" or "cuda". ``windowStridePx``: None or 0 for the model's default.
        The model reads the MIP view(s) its card names. ``progressCallback(message)``: stage messages.
        ``fractionCallback(fraction)``: the share (0-1) of the windows through the CNN.
        """
        missing = self.missingPackages()
        if missing:
            from L3SpotterLib.result import error_result

            name = volumeNode.GetName() if volumeNode is not None else "no volume"
            return error_result(name, (
                f"{name}: missing Python packages: " + ", ".join(missing) + ". Press Detect L3 in the L3Spotter panel, "
                "or call slicer.util.getModuleLogic('L3Spotter').installDependencies(), to install them."
            ))
        return mrml.detect_volume_node(
            volumeNode,
            model=self._modelArgument(model),
            device=device,
            stride_px=windowStridePx or None,
            progress=progressCallback,
            window_progress=fractionCallback,
        )

    def startDetection(self, volumeNode, model=None, device="auto", windowStridePx=None):
        """Start :meth:`detect` in a worker thread; returns ``(job, snapshot)`` at once.

        The volume is copied first, here in the GUI thread (MRML nodes belong to it); the worker then
        imports torch, loads the model and runs the network on the copy. Poll ``job.done``, ``job.stage``
        and ``job.fraction``; ``job.cancel()`` stops it at the next stage or batch of windows. When it is
        done, :meth:`volumeNodeOf` says whether the volume is still in the scene to show the result on.
        A problem found before the work starts (missing packages, an unusable node) gives a job that is
        already done, with an error result.
        """
        from L3SpotterLib.slicer_adapter.detection_job import DetectionJob
        from L3SpotterLib.errors import L3SpotterError
        from L3SpotterLib.result import error_result

        name = volumeNode.GetName() if volumeNode is not None else "no volume"
        missing = self.missingPackages()
        if missing:
            return DetectionJob.finished_with(self.detect(volumeNode)), None
        try:
            snapshot = mrml.snapshot_volume_node(volumeNode, copy=True)
        except L3SpotterError as error:
            return DetectionJob.finished_with(error_result(name, f"{name}: {error}")), None
        modelArgument = self._modelArgument(model)

        def work(progress, windowProgress):
            return mrml.detect_snapshot(snapshot, model=modelArgument, device=device, stride_px=windowStridePx or None,
                                        progress=progress, window_progress=windowProgress)

        return DetectionJob(work).start(), snapshot

    @staticmethod
    def volumeNodeOf(snapshot):
        """The volume node a detection ran on, if it is still in the scene; None after the scene was
        closed or the node deleted meanwhile (or when the job never had a volume)."""
        if snapshot is None or not mrml.snapshot_node_is_in(slicer.mrmlScene, snapshot):
            return None
        return slicer.mrmlScene.GetNodeByID(snapshot.node_id)

    def showResult(self, result, volumeNode, fiducialNode=None):
        """Place (or move) the "L3" fiducial, show the volume in all slice views and jump them to L3.

        Returns the fiducial node; None when the result has no L3 level (not in view, error): then nothing
        is placed or moved, and ``result.summary()`` says why.
        """
        return mrml.show_result(result, volumeNode, fiducialNode)

    def fiducialSliceIndex(self, volumeNode, fiducialNode):
        """``(slice index, z in mm)`` of the fiducial's L3 point in the volume; the index is None outside it."""
        return mrml.fiducial_slice_index(fiducialNode, volumeNode)

    def resultPicturePng(self, result):
        """PNG bytes: the MIP with the detected L3 line beside the per-window trace."""
        from L3SpotterLib.app.report_png import render_result_png

        return render_result_png(result)

    # Teach it your scans (the panel's section of that name; usable from the console too).

    @staticmethod
    def trainingFolderOrNone(folder):
        """The label folder as a Path, or None when none is chosen (the path widget stores "." for empty)."""
        if folder is None or str(folder) in ("", "."):
            return None
        return Path(folder)

    def saveTrainingCase(self, volumeNode, fiducialNode, labelFolder, result=None, user=None):
        """Save the scan and the level its "L3" fiducial marks now (after any correction) as a training
        case in ``labelFolder``, in the layout ``training`` reads; returns the case folder.

        The scan is referenced where it is a file already (unmodified, untransformed NIfTI, NRRD or
        MetaImage), else written as NIfTI. ``result``: the detection the fiducial came from, recorded
        with the kept level, so the case says whether it was corrected and by how much.
        """
        from L3SpotterLib.app.training_cases import ScanSource, save_training_case

        sliceIndex, zRasMm = mrml.fiducial_slice_index(fiducialNode, volumeNode)
        if zRasMm is None:
            raise ValueError(f"{fiducialNode.GetName()}: no control point labelled L3 to save")
        if sliceIndex is None:
            raise ValueError(f"the L3 point (z = {zRasMm:.1f} mm) lies outside {volumeNode.GetName()}")
        name = volumeNode.GetName() or volumeNode.GetID()
        sourceFile = mrml.volume_source_file(volumeNode)
        if sourceFile:
            source = ScanSource(name, ct_path=sourceFile)
        else:
            snapshot = mrml.snapshot_volume_node(volumeNode, copy=False)
            source = ScanSource(name, voxels=snapshot.voxels, ijk_to_ras=snapshot.ijk_to_world)
        detection = None
        if result is not None:
            detection = {"status": result.status, "l3_z_ras_mm": result.l3_z_ras_mm, "confidence": result.confidence,
                         "model": (result.model or {}).get("name")}
        return save_training_case(labelFolder, source, zRasMm, detection=detection, user=user)

    @staticmethod
    def trainingCaseCount(labelFolder):
        from L3SpotterLib.app.training_cases import count_training_cases

        return count_training_cases(labelFolder)

    @staticmethod
    def minimumTrainingCases():
        return 3  # training.adapt's MIN_SITE_CASES (the test suite checks they agree)

    @staticmethod
    def siteModelsFolder(labelFolder):
        """Where models adapted on ``labelFolder`` go: beside it, named after it."""
        labelFolder = Path(labelFolder)
        return labelFolder.parent / (labelFolder.name + "_models")

    def modelChoices(self, labelFolder=None):
        """``(label, card path)`` for the model selector: the shipped model, then the models adapted on
        ``labelFolder``, oldest first."""
        choices = [("Shipped: " + SHIPPED_MODEL_CARD.stem, SHIPPED_MODEL_CARD)]
        if labelFolder is not None:
            folder = self.siteModelsFolder(labelFolder)
            cards = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime) if folder.is_dir() else []
            choices += [("Site: " + card.stem, card) for card in cards]
        return choices

    @staticmethod
    def modelCardPath(model):
        """The card path a model argument stands for (the shipped card for None or empty)."""
        return Path(L3SpotterLogic._modelArgument(model) or SHIPPED_MODEL_CARD)

    def startAdaptation(self, labelFolder, parentModel=None, outCard=None, extraArguments=(), python=None):
        """Start ``python -m training.adapt`` on ``labelFolder`` in its own process; returns ``(job, out
        card path)`` at once. Poll ``job.done``, ``job.stage``, ``job.fraction``; ``job.cancel()`` stops
        it. The new card goes to ``outCard``, by default a dated name in :meth:`siteModelsFolder`.
        """
        import datetime
        import shutil

        from L3SpotterLib.slicer_adapter.adaptation_job import AdaptationJob, training_package_root

        trainingRoot = training_package_root(MODULE_DIR)
        if trainingRoot is None:
            raise RuntimeError(f"the training package is not installed beside {MODULE_DIR}; adapting needs L3Spotter's training/ folder "
                               "(see the README, Teach it your scans)")
        modelsFolder = self.siteModelsFolder(labelFolder)
        modelsFolder.mkdir(parents=True, exist_ok=True)
        if outCard is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
            outCard = modelsFolder / f"{Path(labelFolder).name}_{stamp}.json"
        arguments = ["--data", str(labelFolder), "--from", str(self.modelCardPath(parentModel)), "--out", str(outCard),
                     "--cache-dir", str(modelsFolder / "projection_cache"), *extraArguments]
        # In Slicer, PythonSlicer runs Python with Slicer's packages; outside it (tests), this interpreter.
        python = python or shutil.which("PythonSlicer") or sys.executable
        job = AdaptationJob(arguments, python=python, python_path=[str(MODULE_DIR), str(trainingRoot)], cwd=str(modelsFolder))
        return job.start(), Path(outCard)

    @staticmethod
    def modelCardSummary(cardPath):
        """One line about a model card (read as JSON: no torch needed)."""
        cardPath = L3SpotterLogic.modelCardPath(cardPath)
        try:
            card = json.loads(cardPath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            return f"cannot read the model card {cardPath}: {error}"
        views = ", ".join(card.get("views", [])) or "?"
        return (
            f"{card.get('name', cardPath.stem)}: {card.get('backbone', '?')} on the {views} MIP, "
            f"{card.get('window_height_px', '?')}-row windows of {card.get('row_mm', '?')} mm, "
            f"default stride {card.get('default_stride_px', '?')} px"
        )

    @staticmethod
    def _modelArgument(model):
        """The model to load: None for the shipped model, else the card's path.

        An empty path (which the path widget stores as ".") means the shipped model. So does a missing card
        with the shipped card's name: a scene saved with another Slicer installation stores that
        installation's path to the shipped model.
        """
        if model is None or str(model) in ("", "."):
            return None
        path = Path(model)
        if path.name == SHIPPED_MODEL_CARD.name and not path.exists():
            return None
        return str(model)


#
# L3SpotterTest
#


def _scenarioMixin():
    """The scenarios shared with the pytest suite live in Testing/Python, installed beside this file."""
    scenariosDir = str(MODULE_DIR / "Testing" / "Python")
    if scenariosDir not in sys.path:
        sys.path.append(scenariosDir)
    from L3SpotterScenarios import L3SpotterScenarios

    return L3SpotterScenarios


class L3SpotterTest(ScriptedLoadableModuleTest, _scenarioMixin()):
    """The shared scenarios, on a synthetic phantom with the shipped model, in this Slicer's scene.

    "Reload and Test" calls runTest; ctest runs each test_* method on its own.
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        for name in self.scenarioNames():
            self.setUp()
            self.delayDisplay(f"L3Spotter: {name}")
            getattr(self, name)()
        self.delayDisplay("L3Spotter: all scenarios passed")

    # The scenarios' hooks, the Slicer way.

    def newScene(self):
        slicer.mrmlScene.Clear()
        return slicer.mrmlScene

    def loadVolumeFromFile(self, scene, path, name):
        volumeNode = slicer.modules.volumes.logic().AddArchetypeVolume(str(path), name)
        self.assertIsNotNone(volumeNode, f"cannot load {path}")
        return volumeNode

    def detector(self):
        self._requireInstalledPackages()
        return super().detector()

    def detectL3(self, volumeNode):
        self._requireInstalledPackages()
        return L3SpotterLogic().detect(volumeNode)

    def showL3(self, result, volumeNode, fiducialNode=None):
        return L3SpotterLogic().showResult(result, volumeNode, fiducialNode)

    def _requireInstalledPackages(self):
        # Tests never install anything: a missing package fails the test with what to do.
        missing = L3SpotterLogic.missingPackages()
        if missing:
            logging.error("L3Spotter self-test: missing Python packages %s", missing)
            self.fail("Missing Python packages: " + ", ".join(missing) + ". Press Detect L3 once in the L3Spotter "
                      "panel to install them, then run the test again.")
