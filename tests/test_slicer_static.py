"""What can be checked about the Slicer module without the Slicer application: its Python compiles and
loads nothing that needs torch, every widget it uses is in the .ui, every file is packaged by CMake, the
extension metadata is complete and consistent, and the Extensions Index entry validates."""

from __future__ import annotations

import ast
import json
import py_compile
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO_ROOT / "L3Spotter"
MODULE_PY = MODULE_DIR / "L3Spotter.py"
SCENARIOS_PY = MODULE_DIR / "Testing" / "Python" / "L3SpotterScenarios.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "L3Spotter.ui"
ICON_FILE = MODULE_DIR / "Resources" / "Icons" / "L3Spotter.png"
INDEX_ENTRY = REPO_ROOT / "L3Spotter.json"

# The widget class each parameter of L3SpotterParameterNode is bound to (parameterNodeWrapper connectors).
EXPECTED_PARAMETER_WIDGETS = {
    "inputVolume": "qMRMLNodeComboBox",
    "outputFiducial": "qMRMLNodeComboBox",
    "modelCard": "ctkPathLineEdit",
    "device": "QComboBox",
    "windowStridePx": "QSpinBox",
    "trainingFolder": "ctkPathLineEdit",
}
# Modules L3Spotter.py may import when Slicer loads it: nothing that needs torch, scipy, Pillow or matplotlib.
MODULE_IMPORTS_ALLOWED_AT_LOAD = {
    "enum", "importlib.util", "json", "logging", "sys", "pathlib", "typing", "qt", "vtk", "slicer",
    "slicer.parameterNodeWrapper", "slicer.ScriptedLoadableModule", "slicer.util", "L3SpotterLib.slicer_adapter",
}


def module_source() -> str:
    return MODULE_PY.read_text(encoding="utf-8")


def module_tree() -> ast.Module:
    return ast.parse(module_source(), filename=str(MODULE_PY))


def top_level_class(name: str) -> ast.ClassDef:
    for node in module_tree().body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"L3Spotter.py defines no class {name}")


def parameter_names() -> list[str]:
    parameter_class = top_level_class("L3SpotterParameterNode")
    return [node.target.id for node in parameter_class.body if isinstance(node, ast.AnnAssign)]


def ui_root() -> ElementTree.Element:
    return ElementTree.parse(UI_FILE).getroot()


def ui_widgets() -> dict[str, ElementTree.Element]:
    return {widget.get("name"): widget for widget in ui_root().iter("widget")}


def widget_property(widget: ElementTree.Element, name: str):
    for prop in widget.findall("property"):
        if prop.get("name") == name:
            return prop
    return None


def cmake_list(cmake_text: str, variable: str) -> list[str]:
    match = re.search(rf"set\(\s*{variable}\s+(.*?)\)", cmake_text, re.S)
    assert match, f"no set({variable} ...)"
    return [item.replace("${MODULE_NAME}", "L3Spotter") for item in match.group(1).split()]


def cmake_set_value(cmake_text: str, variable: str) -> str:
    match = re.search(rf'set\(\s*{variable}\s+"([^"]*)"\s*\)', cmake_text)
    assert match, f"no set({variable} \"...\")"
    return match.group(1)


# ---------------------------------------------------------------- the module's Python


@pytest.mark.parametrize("path", [MODULE_PY, SCENARIOS_PY], ids=lambda p: p.name)
def test_the_module_files_compile(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / (path.stem + ".pyc")), doraise=True)


# Slicer 5.2-5.8 ship Python 3.9 (5.10 and later ship 3.12): every file the module loads must run on it.
OLDEST_SLICER_PYTHON = "3.9"


def module_python_files() -> list[Path]:
    return sorted(path for path in MODULE_DIR.rglob("*.py") if "__pycache__" not in path.parts)


def defers_annotations(path: Path) -> bool:
    """Whether the file has ``from __future__ import annotations`` (then annotations are never evaluated)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return any(
        isinstance(node, ast.ImportFrom) and node.module == "__future__" and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )


def vermin_violations(paths: list[Path], *options: str) -> subprocess.CompletedProcess:
    # vermin has no __main__ module: call its console entry point.
    command = [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())", f"-t={OLDEST_SLICER_PYTHON}-", "--violations", "--no-tips", *options, *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_every_module_file_runs_on_the_oldest_python_of_the_supported_slicers():
    """vermin finds syntax and library features newer than Python 3.9 in every file under L3Spotter/."""
    files = module_python_files()
    assert {MODULE_PY, SCENARIOS_PY, MODULE_DIR / "L3SpotterLib" / "detector.py"} <= set(files)
    run = vermin_violations(files)
    assert run.returncode == 0, run.stdout + run.stderr


def test_annotations_evaluated_at_load_time_run_on_python_3_9():
    """Without ``from __future__ import annotations`` Python 3.9 evaluates class and function annotations
    when the module loads, so ``float | None`` there is a TypeError. vermin's union-type check ignores that
    import (it flags deferred annotations too), so it runs on the files that evaluate theirs."""
    evaluating = [path for path in module_python_files() if not defers_annotations(path)]
    assert MODULE_PY in evaluating  # the parameter node wrapper evaluates its annotations: no future import there
    run = vermin_violations(evaluating, "--eval-annotations", "--feature", "union-types")
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_python_check_finds_what_python_3_9_cannot_load(tmp_path):
    """The two checks above fail on code that Python 3.9 cannot load."""
    union_in_dataclass = tmp_path / "union_in_dataclass.py"
    union_in_dataclass.write_text("from dataclasses import dataclass\n\n@dataclass\nclass Case:\n    z_mm: float | None\n")
    pattern_matching = tmp_path / "pattern_matching.py"
    pattern_matching.write_text("def f(x):\n    match x:\n        case 1:\n            return 2\n")
    assert not defers_annotations(union_in_dataclass)
    assert vermin_violations([union_in_dataclass], "--eval-annotations", "--feature", "union-types").returncode == 1
    assert vermin_violations([pattern_matching]).returncode == 1


def test_the_module_loads_nothing_that_needs_torch():
    imported = set()
    for node in module_tree().body:
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported <= MODULE_IMPORTS_ALLOWED_AT_LOAD, imported - MODULE_IMPORTS_ALLOWED_AT_LOAD


def test_the_mrml_adapter_and_the_scenarios_import_without_torch():
    """What Slicer imports when it loads the module must work before PyTorch is installed."""
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['scipy'] = None; sys.modules['matplotlib'] = None; sys.modules['PIL'] = None\n"
        "import L3SpotterLib.slicer_adapter.mrml, L3SpotterScenarios\n"
        "assert 'L3SpotterLib.detector' not in sys.modules\n"
    )
    paths = [str(MODULE_DIR), str(MODULE_DIR / "Testing" / "Python")]
    completed = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path[:0] = {paths!r}\n" + code],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]


def test_the_module_has_the_slicer_entry_points():
    for name in ("L3Spotter", "L3SpotterWidget", "L3SpotterLogic", "L3SpotterTest"):
        top_level_class(name)
    decorators = [ast.unparse(d) for d in top_level_class("L3SpotterParameterNode").decorator_list]
    assert decorators == ["parameterNodeWrapper"]
    assert parameter_names() == list(EXPECTED_PARAMETER_WIDGETS)
    test_bases = [ast.unparse(base) for base in top_level_class("L3SpotterTest").bases]
    assert test_bases[0] == "ScriptedLoadableModuleTest"
    logic_methods = {node.name for node in top_level_class("L3SpotterLogic").body if isinstance(node, ast.FunctionDef)}
    assert {"detect", "showResult", "fiducialSliceIndex", "installDependencies", "missingPackages"} <= logic_methods


def test_the_module_description_says_what_a_user_needs():
    source = module_source()
    assert 'self.parent.categories = ["Quantification"]' in source
    assert 'self.parent.title = "L3Spotter"' in source
    help_text = re.search(r'helpText = f"""(.*?)"""', source, re.S).group(1)
    for phrase in ("third lumbar vertebra", "centre of the L3 vertebra", "Confidence", "not in the field of view", "{README_URL}"):
        assert phrase in help_text, phrase
    assert re.search(r'^README_URL = HOMEPAGE_URL \+ "#readme"$', source, re.M)
    acknowledgement = re.search(r'acknowledgementText = """(.*?)"""', source, re.S).group(1)
    for phrase in ("Belharbi", "Spotting L3 slice in CT scans using deep convolutional network and", "Computers in Biology and Medicine", "2017"):
        assert phrase in " ".join(acknowledgement.split()), phrase


def test_the_module_installs_nothing_without_asking():
    """pip_install and installTorch appear only in installDependencies and its helpers (_install*,
    _confirm), behind a confirmation (test_slicer_module_logic checks that they ask)."""
    logic = top_level_class("L3SpotterLogic")
    methods = {node.name: node for node in logic.body if isinstance(node, ast.FunctionDef)}
    install_group = [node for name, node in methods.items() if name in ("installDependencies", "_confirm") or name.startswith("_install")]
    group_source = "\n".join(ast.unparse(node) for node in install_group)
    assert "confirmOkCancelDisplay" in ast.unparse(methods["_confirm"])
    assert "askConfirmation=askConfirmation" in group_source
    assert [d.value for d in methods["installDependencies"].args.defaults] == [True, False]  # askConfirmation, forAdaptation
    outside = module_source()
    for node in install_group:
        outside = outside.replace(ast.get_source_segment(module_source(), node), "")
    assert "pip_install(" not in outside and "installTorch(" not in outside and "confirmOkCancelDisplay" not in outside
    test_class_source = ast.unparse(top_level_class("L3SpotterTest"))
    assert "installDependencies" not in test_class_source


def method_source(class_name: str, method_name: str) -> str:
    node = next(n for n in top_level_class(class_name).body if isinstance(n, ast.FunctionDef) and n.name == method_name)
    return ast.unparse(node)


def test_the_panel_detects_off_the_gui_thread_with_cancel_and_no_reentry():
    """The panel starts a worker (logic.startDetection) and polls it with a timer; it never pumps the
    event loop itself (processEvents made it re-entrant), offers Cancel, keeps Detect and Install off while
    anything runs, and cancels when the scene closes (test_slicer_module_logic runs the worker itself)."""
    assert "processEvents" not in module_source()
    detect = method_source("L3SpotterWidget", "onDetectButton")
    assert "self.logic.startDetection(" in detect and "self.logic.detect(" not in detect
    assert "if self._busy:" in detect
    assert "if not self._busy:" in method_source("L3SpotterWidget", "onInstallDependenciesButton")
    setup = method_source("L3SpotterWidget", "setup")
    assert "self.ui.cancelButton.connect('clicked(bool)', self.onCancelButton)" in setup
    assert "self._jobTimer.connect('timeout()', self._pollJob)" in setup
    assert "self._job.cancel()" in method_source("L3SpotterWidget", "onCancelButton")
    assert "self._job.cancel()" in method_source("L3SpotterWidget", "onSceneStartClose")
    buttons = method_source("L3SpotterWidget", "_updateButtons")
    assert "not self._busy" in buttons and "self.ui.installDependenciesButton.enabled" in buttons
    assert "volumeNodeOf(snapshot)" in method_source("L3SpotterWidget", "_finishDetection")


def test_the_panel_adapts_in_a_process_it_polls_and_can_cancel():
    """Teach it your scans: Save and Adapt call the logic (test_slicer_module_logic drives that logic with a
    real training.adapt run), the adaptation is polled by a timer, Cancel and closing the panel stop its
    process, Adapt is off while one runs, and the finished model is offered, not imposed."""
    setup = method_source("L3SpotterWidget", "setup")
    for button, handler in (("saveTrainingCaseButton", "onSaveTrainingCaseButton"), ("adaptModelButton", "onAdaptModelButton"),
                            ("adaptCancelButton", "onAdaptCancelButton")):
        assert f"self.ui.{button}.connect('clicked(bool)', self.{handler})" in setup
    assert "self.ui.modelSelectorComboBox.connect('activated(int)', self.onModelSelected)" in setup
    assert "self._adaptTimer.connect('timeout()', self._pollAdaptation)" in setup
    assert "self.logic.saveTrainingCase(" in method_source("L3SpotterWidget", "onSaveTrainingCaseButton")
    adapt = method_source("L3SpotterWidget", "onAdaptModelButton")
    assert "self.logic.startAdaptation(" in adapt and "self._adaptTimer.start()" in adapt and "self._adaptJob is not None" in adapt
    assert "self._installDependencies(forAdaptation=True)" in adapt
    assert "self._adaptJob.cancel()" in method_source("L3SpotterWidget", "onAdaptCancelButton")
    assert "self._adaptJob.cancel()" in method_source("L3SpotterWidget", "cleanup")
    poll = method_source("L3SpotterWidget", "_pollAdaptation")
    assert "confirmYesNoDisplay" in poll and "self._parameterNode.modelCard = out" in poll
    assert "self._adaptJob is None" in method_source("L3SpotterWidget", "_updateButtons")
    assert "self.logic.modelChoices(folder)" in method_source("L3SpotterWidget", "_fillModelSelector")


def test_the_shipped_model_path_is_the_engines_default():
    from L3SpotterLib.model_card import DEFAULT_MODEL_NAME, MODELS_DIR

    match = re.search(r'^SHIPPED_MODEL_CARD = MODULE_DIR / "Resources" / "Models" / "([^"]+)"$', module_source(), re.M)
    assert match and match.group(1) == f"{DEFAULT_MODEL_NAME}.json"
    assert MODELS_DIR == MODULE_DIR / "Resources" / "Models"


# ---------------------------------------------------------------- the .ui file


def test_every_widget_the_module_uses_is_in_the_ui():
    used = set(re.findall(r"self\.ui\.(\w+)", module_source()))
    missing = used - set(ui_widgets())
    assert not missing, f"L3Spotter.py uses widgets that L3Spotter.ui lacks: {sorted(missing)}"
    assert {"detectButton", "resultLabel", "fiducialLabel", "pictureLabel", "progressBar"} <= used


def test_the_ui_is_a_slicer_module_panel():
    root = ui_root()
    assert root.tag == "ui" and root.findtext("class") == "L3Spotter"
    top = root.find("widget")
    assert (top.get("class"), top.get("name")) == ("qMRMLWidget", "L3Spotter")
    widgets = ui_widgets()
    expected_classes = {
        "detectButton": "QPushButton", "progressBar": "QProgressBar", "statusLabel": "QLabel",
        "resultLabel": "QLabel", "fiducialLabel": "QLabel", "pictureLabel": "QLabel",
        "savePictureButton": "QPushButton", "advancedCollapsibleButton": "ctkCollapsibleButton",
        "resultCollapsibleButton": "ctkCollapsibleButton", "modelInfoLabel": "QLabel",
        "dependenciesLabel": "QLabel", "installDependenciesButton": "QPushButton",
    }
    for name, class_name in expected_classes.items():
        assert widgets[name].get("class") == class_name, name
    # "Detect L3" starts disabled (no volume yet); "Advanced" starts collapsed.
    assert widget_property(widgets["detectButton"], "enabled").findtext("bool") == "false"
    assert widget_property(widgets["detectButton"], "text").findtext("string") == "Detect L3"
    assert widget_property(widgets["advancedCollapsibleButton"], "collapsed").findtext("bool") == "true"
    # Every parameter-bound widget sits inside the Advanced section, except the input and output.
    advanced = {w.get("name") for w in widgets["advancedCollapsibleButton"].iter("widget")}
    assert {"modelCardPathLineEdit", "deviceComboBox", "windowStrideSpinBox"} <= advanced


def test_the_ui_binds_every_parameter_to_the_right_widget():
    bindings = {}
    for name, widget in ui_widgets().items():
        prop = widget_property(widget, "SlicerParameterName")
        if prop is not None:
            assert prop.get("stdset") == "0", f"{name}: SlicerParameterName must be a dynamic property"
            bindings[prop.findtext("string")] = widget
    assert set(bindings) == set(parameter_names())
    for parameter, class_name in EXPECTED_PARAMETER_WIDGETS.items():
        assert bindings[parameter].get("class") == class_name, parameter
    node_types = {
        parameter: [s.text for s in widget_property(bindings[parameter], "nodeTypes").iter("string")]
        for parameter in ("inputVolume", "outputFiducial")
    }
    assert node_types == {"inputVolume": ["vtkMRMLScalarVolumeNode"], "outputFiducial": ["vtkMRMLMarkupsFiducialNode"]}
    # "Create new" by default: the fiducial selector allows none.
    assert widget_property(bindings["outputFiducial"], "noneEnabled").findtext("bool") == "true"
    # Combo boxes bound to enums are filled by the parameter node wrapper: no items in the .ui.
    assert bindings["device"].find("item") is None


def test_the_ui_declares_its_custom_widgets_and_gives_the_scene_to_mrml_widgets():
    root = ui_root()
    declared = {cw.findtext("class") for cw in root.iter("customwidget")}
    used = {w.get("class") for w in root.iter("widget")}
    custom = {name for name in used if not name.startswith("Q")}
    assert custom <= declared, custom - declared
    connected = {
        c.findtext("receiver")
        for c in root.iter("connection")
        if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)" and c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"
    }
    mrml_widgets = {w.get("name") for w in root.iter("widget") if w.get("class", "").startswith("qMRML") and w.get("name") != "L3Spotter"}
    assert mrml_widgets and mrml_widgets <= connected


# ---------------------------------------------------------------- CMake packaging


def module_cmake() -> str:
    return (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")


def shipped_model_files() -> set[str]:
    """The shipped model's files: its card, its weights and its vertebra count's weights."""
    from L3SpotterLib.model_card import model_files, resolve_card_path

    return {str(path.relative_to(MODULE_DIR)) for path in model_files(resolve_card_path(None))}


def test_every_python_file_of_the_module_is_packaged():
    listed = cmake_list(module_cmake(), "MODULE_PYTHON_SCRIPTS")
    on_disk = sorted(
        str(path.relative_to(MODULE_DIR)) for path in MODULE_DIR.rglob("*.py") if "__pycache__" not in path.parts
    )
    missing = sorted(set(on_disk) - set(listed))
    assert not missing, f"add to MODULE_PYTHON_SCRIPTS in L3Spotter/CMakeLists.txt: {missing}"
    assert len(listed) == len(set(listed)), "a script is listed twice"
    assert not [name for name in listed if not (MODULE_DIR / name).is_file()], "a listed script does not exist"
    assert any(name.startswith("L3SpotterLib/") for name in listed)


def test_the_training_package_is_installed_beside_the_engine():
    """The panel's Adapt model runs ``python -m training.adapt``: every file of training/ is compiled into
    the module's folder, where ``training_package_root`` looks first."""
    text = module_cmake()
    listed = cmake_list(text, "TRAINING_PYTHON_SCRIPTS")
    on_disk = sorted(f"training/{path.name}" for path in (REPO_ROOT / "training").glob("*.py"))
    assert listed == on_disk
    block = re.search(r"ctkMacroCompilePythonScript\((.*?)\)", text, re.S).group(1).split()
    assert block == ["TARGET_NAME", "${MODULE_NAME}Training", "SOURCE_DIR", "${CMAKE_CURRENT_SOURCE_DIR}/..", "SCRIPTS",
                     '"${TRAINING_PYTHON_SCRIPTS}"', "DESTINATION_DIR", "${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}",
                     "INSTALL_DIR", "${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}", "NO_INSTALL_SUBDIR"]
    from L3SpotterLib.slicer_adapter.adaptation_job import training_package_root

    assert training_package_root(MODULE_DIR) == REPO_ROOT  # a source checkout: the repository root


def test_every_resource_is_packaged():
    listed = cmake_list(module_cmake(), "MODULE_PYTHON_RESOURCES")
    on_disk = sorted(
        str(path.relative_to(MODULE_DIR)) for path in (MODULE_DIR / "Resources").rglob("*") if path.is_file()
    )
    missing = sorted(set(on_disk) - set(listed))
    assert not missing, f"add to MODULE_PYTHON_RESOURCES in L3Spotter/CMakeLists.txt: {missing}"
    absent = [name for name in listed if not (MODULE_DIR / name).is_file() and name not in shipped_model_files()]
    assert not absent, f"listed but missing: {absent}"
    assert shipped_model_files() <= set(listed), "the shipped model (card and weights) must be packaged"


def test_the_shipped_model_is_present():
    """CMake packages the shipped model's card and weights: configuring fails without them."""
    missing = sorted(name for name in shipped_model_files() if not (MODULE_DIR / name).is_file())
    assert missing == [], f"the shipped model is missing ({', '.join(missing)}): CMake configure fails without it"
    card = json.loads((MODULE_DIR / "Resources" / "Models" / "l3spotter_mobilenet_v2.json").read_text())
    assert card["weights_file"] == "l3spotter_mobilenet_v2.pt"


def test_the_module_cmake_builds_a_tested_scripted_module():
    text = module_cmake()
    assert re.search(r"set\(MODULE_NAME L3Spotter\)", text)
    build = re.search(r"slicerMacroBuildScriptedModule\((.*?)\)", text, re.S).group(1).split()
    assert build == ["NAME", "${MODULE_NAME}", "SCRIPTS", "${MODULE_PYTHON_SCRIPTS}", "RESOURCES",
                     "${MODULE_PYTHON_RESOURCES}", "WITH_GENERIC_TESTS"]
    testing = re.search(r"if\(BUILD_TESTING\)(.*?)endif\(\)", text, re.S).group(1)
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in testing
    assert "add_subdirectory(Testing)" in testing
    assert "add_subdirectory(Python)" in (MODULE_DIR / "Testing" / "CMakeLists.txt").read_text()
    assert (MODULE_DIR / "Testing" / "Python" / "CMakeLists.txt").is_file()


# ---------------------------------------------------------------- extension metadata


def top_cmake() -> str:
    return (REPO_ROOT / "CMakeLists.txt").read_text(encoding="utf-8")


def raw_github_file(url: str, homepage: str) -> Path:
    """The repository file a raw.githubusercontent.com URL of this repository points to."""
    owner_repo = urlsplit(homepage).path.strip("/")
    prefix = f"https://raw.githubusercontent.com/{owner_repo}/main/"
    assert url.startswith(prefix), f"{url} is not a file of {homepage} on main"
    return REPO_ROOT / url[len(prefix):]


def test_the_extension_cmake_has_complete_metadata():
    text = top_cmake()
    assert re.search(r"^project\(L3Spotter\)$", text, re.M)
    homepage = cmake_set_value(text, "EXTENSION_HOMEPAGE")
    assert homepage.startswith("https://github.com/")
    assert cmake_set_value(text, "EXTENSION_CATEGORY") == "Quantification"
    assert cmake_set_value(text, "EXTENSION_CONTRIBUTORS")
    assert len(cmake_set_value(text, "EXTENSION_DESCRIPTION")) > 60
    assert cmake_set_value(text, "EXTENSION_DEPENDS") == "PyTorch"
    assert f'HOMEPAGE_URL = "{homepage}"' in module_source(), "L3Spotter.py links to another homepage"
    assert raw_github_file(cmake_set_value(text, "EXTENSION_ICONURL"), homepage) == ICON_FILE
    screenshots = cmake_set_value(text, "EXTENSION_SCREENSHOTURLS").split()
    assert screenshots
    for url in screenshots:
        assert raw_github_file(url, homepage).is_file(), url
    order = ["find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})", "add_subdirectory(L3Spotter)",
             "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions)


def png_size(path: Path) -> tuple[int, int, int]:
    """(width, height, colour type) from the PNG header."""
    data = path.read_bytes()[:33]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height, _, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, colour_type


def test_the_icon_is_a_128_pixel_png():
    assert png_size(ICON_FILE)[:2] == (128, 128)


def test_the_screenshot_is_a_real_sized_png():
    url = cmake_set_value(top_cmake(), "EXTENSION_SCREENSHOTURLS").split()[0]
    width, height, _ = png_size(raw_github_file(url, cmake_set_value(top_cmake(), "EXTENSION_HOMEPAGE")))
    assert width >= 600 and height >= 250


def test_the_licence_is_apache_2_as_in_pyproject():
    text = (REPO_ROOT / "LICENSE.txt").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert 'license = { text = "Apache-2.0" }' in (REPO_ROOT / "pyproject.toml").read_text()


# ---------------------------------------------------------------- Extensions Index entry

# The requirements of the Extensions Index's entry schema, slicer-extension-catalog-entry-schema-v1.0.2
# (Slicer/Slicer, Schemas/), restated: required keys, no other keys, and each key's type.
CATALOG_ENTRY_SCHEMA_ID = "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json#"
CATALOG_ENTRY_REQUIRED = ("$schema", "category", "scm_url")
CATALOG_ENTRY_PROPERTIES = {
    "$schema": {"type": str},
    "category": {"type": str},
    "scm_url": {"type": str},
    "scm_revision": {"type": str},
    "scm_type": {"type": str, "enum": ("git", "local")},
    "build_dependencies": {"type": list, "items": str},
    "dicom_support_rule": {"type": str},
    "build_subdirectory": {"type": str},
    "enabled": {"type": bool},
    "tier": {"type": int, "minimum": 1, "maximum": 5},
}


def catalog_entry_problems(entry) -> list[str]:
    if not isinstance(entry, dict):
        return ["the entry must be a JSON object"]
    problems = [f"missing required key {key!r}" for key in CATALOG_ENTRY_REQUIRED if key not in entry]
    for key, value in entry.items():
        rule = CATALOG_ENTRY_PROPERTIES.get(key)
        if rule is None:
            problems.append(f"key {key!r} is not allowed")
            continue
        kind = rule["type"]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"{key!r} must be a {kind.__name__}")
            continue
        if "enum" in rule and value not in rule["enum"]:
            problems.append(f"{key!r} must be one of {rule['enum']}")
        if "items" in rule and not all(isinstance(item, rule["items"]) for item in value):
            problems.append(f"every item of {key!r} must be a {rule['items'].__name__}")
        if "minimum" in rule and not rule["minimum"] <= value <= rule["maximum"]:
            problems.append(f"{key!r} must lie in {rule['minimum']}..{rule['maximum']}")
    return problems


@pytest.mark.parametrize(
    "entry",
    [
        {"category": "Quantification", "scm_url": "https://x"},
        {"$schema": "s", "category": "Quantification", "scm_url": "https://x", "scmurl": "https://x"},
        {"$schema": "s", "category": "Quantification", "scm_url": "https://x", "tier": 7},
        {"$schema": "s", "category": "Quantification", "scm_url": "https://x", "tier": True},
        {"$schema": "s", "category": "Quantification", "scm_url": "https://x", "build_dependencies": "PyTorch"},
        {"$schema": "s", "category": "Quantification", "scm_url": "https://x", "scm_type": "svn"},
    ],
)
def test_the_schema_check_rejects_invalid_entries(entry):
    assert catalog_entry_problems(entry)


def test_the_extensions_index_entry_validates_and_matches_cmake():
    entry = json.loads(INDEX_ENTRY.read_text(encoding="utf-8"))
    assert catalog_entry_problems(entry) == []
    assert entry["$schema"] == CATALOG_ENTRY_SCHEMA_ID
    text = top_cmake()
    # The index's own checks: the file is named after the CMake project, a known category, an https git
    # URL of a repository whose name contains "Slicer", and the build dependencies.
    assert INDEX_ENTRY.stem == re.search(r"^project\((\w+)\)$", text, re.M).group(1)
    assert entry["category"] == cmake_set_value(text, "EXTENSION_CATEGORY") == "Quantification"
    assert entry["scm_url"] == cmake_set_value(text, "EXTENSION_HOMEPAGE")
    assert urlsplit(entry["scm_url"]).scheme == "https"
    assert "slicer" in urlsplit(entry["scm_url"]).path.rstrip("/").split("/")[-1].lower()
    assert entry["build_dependencies"] == cmake_set_value(text, "EXTENSION_DEPENDS").split()


# ---------------------------------------------------------------- documentation


def test_the_slicer_documentation_covers_install_use_console_and_tests():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for phrase in (
        "Application Settings", "Modules", "cmake", "Detect L3", "Advanced",
        'logic = slicer.util.getModuleLogic("L3Spotter")', "result = logic.detect(volumeNode)",
        "logic.showResult(result, volumeNode)", "Reload and Test", "ctest",
    ):
        assert phrase in text, phrase


def test_the_readme_layout_names_every_module_and_folder():
    """The Layout is how a newcomer finds the file to change: a module it does not name is one nobody finds."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    layout = text[text.index("## Layout"):text.index("## Design notes")]
    folders = ("L3Spotter/L3SpotterLib", "L3Spotter/L3SpotterLib/app", "L3Spotter/L3SpotterLib/slicer_adapter",
               "L3Spotter/L3SpotterLib/phantom", "training", "benchmarks")
    unnamed = [
        f"{folder}/{path.name}"
        for folder in folders
        for path in sorted((REPO_ROOT / folder).iterdir())
        if path.suffix in (".py", ".sh") and path.stem != "__init__" and not re.search(rf"\b{re.escape(path.stem)}\b", layout)
    ]
    assert not unnamed, unnamed
    for folder in ("L3Spotter/", "L3Spotter/L3SpotterLib/", "app/", "slicer_adapter/", "phantom/", "L3Spotter/Resources/", "L3Spotter/Testing/",
                   "training/", "benchmarks/", "docs/", "tests/", ".ci/"):
        assert folder in layout, folder


def test_the_engine_core_never_imports_the_layers_above_it():
    """Data and imports flow one way: app, slicer_adapter and phantom build on the core, never the reverse."""
    core = sorted((MODULE_DIR / "L3SpotterLib").glob("*.py"))
    upward = []
    for path in core:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [alias.name for alias in node.names]
                dotted = ("." * node.level) + (node.module or "")
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
                dotted = names[0]
            else:
                continue
            if any(re.search(r"(^|\.)(app|slicer_adapter|phantom)(\.|$)", name) for name in names) or dotted.startswith("slicer"):
                upward.append(f"{path.name}:{node.lineno}")
    assert len(core) > 20 and not upward, upward
