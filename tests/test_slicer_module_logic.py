"""L3Spotter.py's logic and self-test class, run outside the Slicer application.

``L3Spotter.py`` imports a few application-only pieces (``qt``, ``slicer.ScriptedLoadableModule``,
``slicer.parameterNodeWrapper``). Here small stand-ins replace exactly those, and everything else is real:
the MRML classes of ``slicer-core``, the engine and its MRML adapter. That runs the module's own
``L3SpotterLogic`` (detect, showResult, dependency handling) and its ``L3SpotterTest`` class (its scene,
volume loading and logic hooks, and ``runTest``) against a real scene. The widget stays untested here: it
needs Qt (see test_slicer_static.py for what is checked of it).
"""

from __future__ import annotations

import importlib
import json
import sys
import types
import unittest
from pathlib import Path

import pytest
import vtk

slicer = pytest.importorskip("slicer")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "L3Spotter" / "Testing" / "Python"))

from L3SpotterScenarios import L3SpotterScenarios, ScenarioCase, buildSceneWithSliceViews, releaseSceneWithSliceViews  # noqa: E402

from L3SpotterLib.slicer_adapter import mrml, python_dependencies  # noqa: E402


class _ScriptedLoadableModule:
    def __init__(self, parent):
        self.parent = parent


class _ScriptedLoadableModuleWidget:
    def __init__(self, parent=None):
        self.parent = parent


class _ScriptedLoadableModuleLogic:
    def __init__(self, parent=None):
        pass


class _ScriptedLoadableModuleTest(unittest.TestCase):
    """As Slicer's: constructs its mixins without arguments and offers delayDisplay."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        super(unittest.TestCase, self).__init__()

    def delayDisplay(self, message, requestedDelay=None, msec=None):
        pass


def _identity_decorator(cls=None):
    return cls if cls is not None else (lambda c: c)


class _Annotation:
    def __init__(self, *args, **kwargs):
        pass


@pytest.fixture()
def scene(monkeypatch):
    """A scene with slice views standing in for slicer.mrmlScene, with the volumes logic on it."""
    scene, keep_alive = buildSceneWithSliceViews()
    volumes_logic = slicer.vtkSlicerVolumesLogic()
    volumes_logic.SetMRMLScene(scene)
    modules = types.SimpleNamespace(volumes=types.SimpleNamespace(logic=lambda: volumes_logic))
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    monkeypatch.setattr(slicer, "modules", modules, raising=False)
    yield scene
    volumes_logic.SetMRMLScene(None)
    releaseSceneWithSliceViews(scene, keep_alive)


@pytest.fixture()
def module(monkeypatch, scene):
    """L3Spotter.py imported with stand-ins for the application-only modules."""
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    scripted.ScriptedLoadableModule = _ScriptedLoadableModule
    scripted.ScriptedLoadableModuleWidget = _ScriptedLoadableModuleWidget
    scripted.ScriptedLoadableModuleLogic = _ScriptedLoadableModuleLogic
    scripted.ScriptedLoadableModuleTest = _ScriptedLoadableModuleTest
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper = _identity_decorator
    wrapper.Default = _Annotation
    wrapper.WithinRange = _Annotation
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", scripted)
    monkeypatch.setitem(sys.modules, "slicer.parameterNodeWrapper", wrapper)
    monkeypatch.setitem(sys.modules, "qt", types.ModuleType("qt"))
    monkeypatch.syspath_prepend(str(REPO_ROOT / "L3Spotter"))
    sys.modules.pop("L3Spotter", None)
    yield importlib.import_module("L3Spotter")
    sys.modules.pop("L3Spotter", None)  # it holds the stand-ins


def load_totalseg(totalseg_case):
    return slicer.modules.volumes.logic().AddArchetypeVolume(str(totalseg_case / "ct.nii.gz"), "CT")


def test_the_logic_detects_and_shows_through_the_adapter(module, scene, totalseg_case, oracle_detector, monkeypatch):
    monkeypatch.setattr(mrml, "detector_for", lambda model=None, device="auto": oracle_detector)
    volume_node = load_totalseg(totalseg_case)
    logic = module.L3SpotterLogic()
    stages = []
    result = logic.detect(volume_node, progressCallback=stages.append)
    assert result.status == "found", result.summary()
    assert stages == ["Reading the volume", "Loading the model", "Detecting L3"]
    fiducial_node = logic.showResult(result, volume_node)
    assert fiducial_node.GetName() == "L3"
    assert logic.fiducialSliceIndex(volume_node, fiducial_node) == (result.l3_slice, pytest.approx(result.l3_z_ras_mm))
    assert logic.showResult(result, volume_node) is fiducial_node
    png = logic.resultPicturePng(result)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_logic_passes_the_panel_options_on(module, scene, totalseg_case, random_cnn4_model):
    volume_node = load_totalseg(totalseg_case)
    logic = module.L3SpotterLogic()
    result = logic.detect(volume_node, model=random_cnn4_model, device="cpu", windowStridePx=8)
    assert result.status == "not_in_view", result.summary()  # the untrained network sees no ramp
    assert result.trace.stride_px == 8
    assert logic.detect(volume_node, model=random_cnn4_model, device="cpu", windowStridePx=0).trace.stride_px == 4


def test_the_shipped_model_is_the_default_however_the_path_is_stored(module):
    logic_class = module.L3SpotterLogic
    assert logic_class._modelArgument(None) is None
    assert logic_class._modelArgument(Path(".")) is None
    assert logic_class._modelArgument(module.SHIPPED_MODEL_CARD) in (None, str(module.SHIPPED_MODEL_CARD))
    # A scene saved by another installation stores its own path to the shipped card.
    assert logic_class._modelArgument(Path("/elsewhere/Models") / module.SHIPPED_MODEL_CARD.name) is None
    assert logic_class._modelArgument("/my/model.json") == "/my/model.json"


def test_the_model_line_reads_the_card_without_torch(module, random_cnn4_model):
    summary = module.L3SpotterLogic.modelCardSummary(random_cnn4_model)
    assert summary.startswith("random-cnn4: cnn4 on the frontal MIP, 160-row windows of 2.0 mm, default stride 4 px")
    assert "cannot read the model card" in module.L3SpotterLogic.modelCardSummary(Path("/no/such/card.json"))


def test_detect_says_what_is_missing_instead_of_installing(module, scene, totalseg_case, monkeypatch):
    monkeypatch.setattr(module.L3SpotterLogic, "missingPackages", staticmethod(lambda: ["torch"]))
    result = module.L3SpotterLogic().detect(load_totalseg(totalseg_case))
    assert result.status == "error"
    assert result.message.startswith("CT: missing Python packages: torch. ") and "installDependencies" in result.message


def test_detect_never_raises_even_when_the_gpu_runs_out_of_memory(module, scene, totalseg_case, random_cnn4_model, monkeypatch):
    """CUDA out of memory is a RuntimeError, not an L3SpotterError: it must still become an error result."""
    import torch

    from L3SpotterLib.detector import L3Detector

    class OutOfMemoryNetwork(torch.nn.Module):
        def forward(self, windows):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    detector = L3Detector(random_cnn4_model, device="cpu")
    detector.network = OutOfMemoryNetwork()
    monkeypatch.setattr(mrml, "detector_for", lambda model=None, device="auto": detector)
    result = module.L3SpotterLogic().detect(load_totalseg(totalseg_case))
    assert result.status == "error"
    assert result.message == "CT: unexpected OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"


# The packages of a Slicer with everything detection needs, at versions that satisfy it.
SATISFIED = {
    "torch": "2.3.1+cu121", "scipy": "1.13.0", "SimpleITK": "2.3.1",
    "PIL": "10.4.0", "Pillow": "10.4.0", "nibabel": "5.2.1", "packaging": "24.0",
}


@pytest.fixture()
def python_packages(monkeypatch):
    """A stand-in for what is installed: import or distribution name -> version, None for not installed."""
    installed = dict(SATISFIED)
    monkeypatch.setattr(python_dependencies, "is_importable", lambda name: installed.get(name) is not None)
    monkeypatch.setattr(python_dependencies, "installed_version", lambda name: installed.get(name))
    return installed


def answering(yes, questions):
    def confirm(text, title=None, **kwargs):
        questions.append(text)
        return yes
    return confirm


def test_this_environment_has_every_package_at_a_version_that_suffices(module):
    assert module.L3SpotterLogic.dependencyProblems() == []


def test_an_old_torch_counts_as_missing_and_torchvision_is_not_needed(module, python_packages):
    assert module.L3SpotterLogic.missingPackages() == []
    assert "torchvision" not in python_packages  # detection builds its backbone from torch alone
    python_packages["torch"] = "1.13.1"  # left by another extension
    problems = module.L3SpotterLogic.dependencyProblems()
    assert [problem.describe() for problem in problems] == ["torch 1.13.1 (needs torch>=2.2)"]
    assert module.L3SpotterLogic.missingPackages() == ["torch"]


def test_an_old_torch_is_named_and_left_for_the_pytorch_extension_to_update(module, python_packages, monkeypatch):
    python_packages["torch"] = "1.13.1"
    installed = []
    monkeypatch.setattr(slicer.util, "pip_install", installed.append)
    with pytest.raises(RuntimeError, match=r"PyTorch 1\.13\.1 is installed, but L3Spotter needs torch>=2\.2\. Update it in the PyTorch Utils module"):
        module.L3SpotterLogic().installDependencies()
    assert installed == []


def test_packages_are_installed_only_after_a_yes(module, python_packages, monkeypatch):
    python_packages["scipy"] = None
    python_packages["Pillow"] = "9.5.0"  # too old: pip upgrades it to meet the requirement
    installed, questions = [], []
    monkeypatch.setattr(slicer.util, "pip_install", installed.append)

    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", answering(False, questions))
    assert module.L3SpotterLogic().installDependencies() is False
    assert installed == [] and "scipy>=1.11, Pillow>=10.1" in questions[-1]

    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", answering(True, questions))
    module.L3SpotterLogic().installDependencies()
    assert installed == [["scipy>=1.11", "Pillow>=10.1"]]


def test_without_packaging_the_check_asks_for_it_first(module, python_packages):
    python_packages["packaging"] = None
    python_packages["nibabel"] = None
    assert module.L3SpotterLogic.missingPackages() == ["packaging", "nibabel"]


def test_torch_comes_from_the_pytorch_extension_which_asks_first(module, python_packages, monkeypatch):
    python_packages["torch"] = None
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # the PyTorch extension is not installed
    with pytest.raises(RuntimeError, match="PyTorch extension"):
        module.L3SpotterLogic().installDependencies()

    calls = []

    class FakeTorchLogic:
        def torchInstalled(self):
            return False

        def installTorch(self, askConfirmation=False, forceComputationBackend=None, torchVersionRequirement=None):
            calls.append((askConfirmation, torchVersionRequirement))
            return None  # the user said no

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=FakeTorchLogic))
    assert module.L3SpotterLogic().installDependencies() is False
    assert calls == [(True, ">=2.2")]


SCENARIOS = sorted(name for name in dir(L3SpotterScenarios) if name.startswith("test_"))


@pytest.fixture()
def self_test(module, scene, totalseg_case, known_l3_z_ras_mm, oracle_detector, monkeypatch):
    """L3SpotterTest as Slicer runs it, on the real TotalSegmentator scan, with a RampOracle in place of the CNN.

    The oracle answers as a perfect model would for the scan's known L3 (``case.json``), so the scenarios
    check the fiducial, the slice jump, the transforms and the file orientations against a known level with
    no trained model. Inside Slicer the same class runs on a phantom with the shipped model.
    """
    monkeypatch.setattr(mrml, "detector_for", lambda model=None, device="auto": oracle_detector)

    class SelfTestOnTheRealScan(module.L3SpotterTest):
        def scenarioCase(self):
            # The oracle is exact, so the pipeline must land within one row of the model's grid.
            return ScenarioCase(totalseg_case / "ct.nii.gz", known_l3_z_ras_mm, oracle_detector.card.row_mm)

    return SelfTestOnTheRealScan()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_scenario_passes_in_the_self_test(self_test, scene, scenario):
    self_test.setUp()
    getattr(self_test, scenario)()
    # The scenario worked in slicer.mrmlScene.
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") >= 1


def test_run_test_runs_every_scenario_in_the_application_scene(self_test, monkeypatch):
    """"Reload and Test" calls runTest: every scenario, each announced, in a cleared scene (two here, for speed)."""
    assert self_test.scenarioNames() == SCENARIOS and len(SCENARIOS) >= 10
    ran, messages = [], []
    monkeypatch.setattr(type(self_test), "scenarioNames", lambda self: SCENARIOS[:2])
    for name in SCENARIOS[:2]:
        monkeypatch.setattr(type(self_test), name, lambda self, name=name: ran.append(name))
    self_test.delayDisplay = lambda message, *args, **kwargs: messages.append(message)
    self_test.runTest()
    assert ran == SCENARIOS[:2]
    assert messages == [f"L3Spotter: {name}" for name in SCENARIOS[:2]] + ["L3Spotter: all scenarios passed"]


def test_the_self_test_refuses_to_run_without_its_packages(module, monkeypatch):
    monkeypatch.setattr(module.L3SpotterLogic, "missingPackages", staticmethod(lambda: ["torch"]))
    test = module.L3SpotterTest()
    with pytest.raises(AssertionError, match="Missing Python packages: torch"):
        test.detectL3(None)


# ---------------------------------------------------------------- detection off the GUI thread


def gated(network):
    """``network`` behind a gate: each call waits until the test opens it, and records its thread."""
    import threading

    import torch

    class Gated(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = network
            self.gate = threading.Event()
            self.entered = threading.Event()
            self.threads = set()

        def forward(self, windows):
            self.threads.add(threading.get_ident())
            self.entered.set()
            assert self.gate.wait(60), "the test never opened the gate"
            return self.inner(windows)

    return Gated()


@pytest.fixture()
def gated_detector(oracle_detector, monkeypatch):
    network = gated(oracle_detector.network)
    original = oracle_detector.network
    oracle_detector.network = network
    monkeypatch.setattr(mrml, "detector_for", lambda model=None, device="auto": oracle_detector)
    yield network
    network.gate.set()
    oracle_detector.network = original


def test_detection_runs_in_a_worker_thread_and_returns_at_once(module, scene, totalseg_case, gated_detector):
    import threading
    import time

    volume_node = load_totalseg(totalseg_case)
    logic = module.L3SpotterLogic()
    started = time.perf_counter()
    job, snapshot = logic.startDetection(volume_node)
    assert time.perf_counter() - started < 5.0  # the network has not answered yet: the caller is free
    assert gated_detector.entered.wait(60)
    assert not job.done and job.stage == "Detecting L3"
    assert threading.get_ident() not in gated_detector.threads
    gated_detector.gate.set()
    assert job.wait(120)
    assert job.result.status == "found" and not job.cancelled and job.failure is None
    assert job.fraction == 1.0
    assert logic.volumeNodeOf(snapshot) is volume_node
    assert job.result.l3_slice == logic.detect(volume_node).l3_slice


def test_a_cancelled_detection_stops_and_gives_no_result(module, scene, totalseg_case, gated_detector):
    volume_node = load_totalseg(totalseg_case)
    job, _ = module.L3SpotterLogic().startDetection(volume_node)
    assert gated_detector.entered.wait(60)
    job.cancel()
    gated_detector.gate.set()
    assert job.wait(120)
    assert job.cancelled and job.result is None and job.failure is None


def test_a_scene_closed_during_detection_is_noticed_and_nothing_is_placed(module, scene, totalseg_case, gated_detector):
    """The worker runs on a copy of the voxels, so closing the scene cannot pull them from under it; when
    it ends, the panel finds that the volume is gone instead of showing a result on it."""
    volume_node = load_totalseg(totalseg_case)
    logic = module.L3SpotterLogic()
    job, snapshot = logic.startDetection(volume_node)
    assert gated_detector.entered.wait(60)
    scene.Clear(0)  # File -> Close Scene
    gated_detector.gate.set()
    assert job.wait(120)
    assert job.result.status == "found"  # computed on the copy, without error
    assert logic.volumeNodeOf(snapshot) is None
    assert scene.GetNumberOfNodesByClass("vtkMRMLMarkupsFiducialNode") == 0


def test_a_problem_before_the_work_starts_gives_a_finished_job(module, scene, python_packages):
    python_packages["torch"] = None
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    job, snapshot = module.L3SpotterLogic().startDetection(empty)
    assert job.done and snapshot is None
    assert job.result.status == "error" and job.result.message.startswith("empty: missing Python packages: torch.")
    python_packages["torch"] = SATISFIED["torch"]
    job, snapshot = module.L3SpotterLogic().startDetection(empty)
    assert job.done and job.result.message == "empty: the volume node holds no image data"


# ---------------------------------------------------------------- teach it your scans: save, adapt, choose


def add_phantom_volume(seed: int):
    """A phantom as a volume node that is not a file (as after a DICOM import): its L3 z and the node."""
    from L3SpotterLib.phantom import generate_phantom

    phantom = generate_phantom(seed, voxel_mm=2.0, l3_in_view=True)
    node = slicer.util.addVolumeFromArray(phantom.ct, ijkToRAS=phantom.ijk_to_ras, name=f"phantom {seed}")
    return node, phantom.l3_truth()[0]


def test_the_panel_loop_saves_corrected_cases_adapts_a_model_and_offers_it(module, scene, totalseg_case, known_l3_z_ras_mm, tmp_path):
    """Detect, correct the fiducial by hand, save three cases (a file, a scan in memory, a transformed
    scan), adapt the shipped model on them in a real training.adapt process, then pick and run the
    adapted model: the loop behind the panel's Teach it your scans buttons."""
    from training.adapt import MIN_SITE_CASES

    logic = module.L3SpotterLogic()
    labels = tmp_path / "site_labels"
    assert logic.trainingCaseCount(labels) == 0 and logic.minimumTrainingCases() == MIN_SITE_CASES

    ct = load_totalseg(totalseg_case)
    result = logic.detect(ct, device="cpu")
    assert result.status == "uncertain", result.summary()
    fiducial = logic.showResult(result, ct)
    fiducial.SetNthControlPointPositionWorld(mrml.l3_control_point_index(fiducial), 0.0, 0.0, known_l3_z_ras_mm)  # the correction
    case = logic.saveTrainingCase(ct, fiducial, labels, result=result, user="dr_test")
    record = json.loads((case / "case.json").read_text())
    assert record["ct_path"] == str((totalseg_case / "ct.nii.gz").resolve()) and not (case / "ct.nii.gz").exists()
    [saved] = record["history"]
    assert saved["saved_by"] == "dr_test" and saved["detection"]["status"] == "uncertain"
    assert saved["corrected_by_mm"] == pytest.approx(known_l3_z_ras_mm - result.l3_z_ras_mm, abs=0.01)

    phantom_node, phantom_l3_z = add_phantom_volume(771500)
    phantom_fiducial = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "phantom L3")
    mrml.place_l3_point(phantom_fiducial, [0.0, 0.0, phantom_l3_z])
    assert (logic.saveTrainingCase(phantom_node, phantom_fiducial, labels) / "ct.nii.gz").is_file()  # not a file: written

    shift = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "up 10 mm")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(2, 3, 10.0)
    shift.SetMatrixTransformToParent(matrix)
    moved = load_totalseg(totalseg_case)
    moved.SetAndObserveTransformNodeID(shift.GetID())
    moved_fiducial = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "moved L3")
    mrml.place_l3_point(moved_fiducial, [0.0, 0.0, known_l3_z_ras_mm + 10.0])
    moved_case = logic.saveTrainingCase(moved, moved_fiducial, labels)
    assert moved_case != case and (moved_case / "ct.nii.gz").is_file()  # transformed: saved in world coordinates
    assert logic.trainingCaseCount(labels) == 3

    job, out = logic.startAdaptation(labels, extraArguments=["--steps", "2", "--lr", "1e-6", "--phantoms", "2", "--val-phantoms", "2", "--workers", "1"])
    assert job.wait(900), "training.adapt did not finish in 15 minutes"
    assert job.succeeded, job.message()
    assert (job.stage, job.fraction) == (f"Wrote {out}", 1.0)
    assert out.parent == tmp_path / "site_labels_models"
    card = json.loads(out.read_text())
    assert sorted(c["case_id"] for c in card["training_data"]["site_cases"]) == sorted(p.name for p in labels.iterdir())
    assert [path for _, path in logic.modelChoices(labels)] == [module.SHIPPED_MODEL_CARD, out]

    adapted = logic.detect(ct, model=out, device="cpu")
    assert adapted.model["name"] == out.stem
    # Two steps at a learning rate of 1e-6 barely move the weights: the same answer as the parent's.
    assert adapted.status == result.status and adapted.l3_z_ras_mm == pytest.approx(result.l3_z_ras_mm, abs=2.0)


def test_cancelling_an_adaptation_stops_its_process_and_writes_no_model(module, scene, tmp_path):
    from L3SpotterLib.phantom.writing import write_phantom_cases

    labels = tmp_path / "labels"
    logic = module.L3SpotterLogic()
    for index, folder in enumerate(write_phantom_cases(tmp_path / "phantoms", 3, 771600, voxel_mm=2.0, progress=False, l3_in_view=True)):
        ct_node = slicer.modules.volumes.logic().AddArchetypeVolume(str(folder / "ct.nii.gz"), f"phantom{index}")
        fiducial = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", f"L3 {index}")
        mrml.place_l3_point(fiducial, [0.0, 0.0, json.loads((folder / "case.json").read_text())["l3_z_ras_mm"]])
        logic.saveTrainingCase(ct_node, fiducial, labels)
    job, out = logic.startAdaptation(labels, extraArguments=["--steps", "5000", "--phantoms", "2", "--val-phantoms", "2", "--workers", "1"])
    for _ in range(1200):
        if job.stage == "Training" or job.done:
            break
        job.wait(0.25)
    assert job.stage == "Training", job.message()
    job.cancel()
    assert job.wait(60)
    assert job.cancelled and not job.succeeded and job.message() == "Cancelled: no model was written."
    assert not out.exists() and not out.with_suffix(".pt").exists()
