"""The output folder keeps every result it was given: several batches, one run at a time, no stale answer
for a replaced input, and a clear error (with its own exit code) when the folder cannot be used."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import SimpleITK as sitk

from L3SpotterLib.app.cli import EXIT_CASE_FAILED, EXIT_OK, EXIT_OUTPUT_BUSY, EXIT_OUTPUT_UNUSABLE, main
from L3SpotterLib.app.input_fingerprint import input_fingerprint


def csv_rows(out):
    with open(out / "results.csv", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture()
def two_scans_named_alike(tmp_path, totalseg_case):
    """Two inputs with the same file name in different folders (as ../shared/data/*/ct.nii.gz)."""
    first = tmp_path / "patient_a" / "ct.nii.gz"
    second = tmp_path / "patient_b" / "ct.nii.gz"
    for path in (first, second):
        path.parent.mkdir()
        shutil.copyfile(totalseg_case / "ct.nii.gz", path)
    return first, second


def detect(inputs, out, model, *options):
    return main(["detect", *map(str, inputs), "--out", str(out), "--model", str(model), "--no-png", *options])


def test_two_batches_into_one_folder_keep_both_cases(two_scans_named_alike, random_cnn4_model, tmp_path, capsys):
    first, second = two_scans_named_alike
    out = tmp_path / "out"
    assert detect([first], out, random_cnn4_model) == EXIT_OK
    assert detect([second], out, random_cnn4_model) == EXIT_OK

    results = sorted(out.glob("*.json"))
    assert len(results) == 2
    assert sorted(json.loads(path.read_text())["input"] for path in results) == [str(first), str(second)]
    rows = csv_rows(out)
    assert sorted(row["input"] for row in rows) == [str(first), str(second)]
    for row in rows:  # each row names its own JSON, which holds that very input
        assert json.loads((out / row["json"]).read_text())["input"] == row["input"]

    # The case id is stable: the first input again is the same case, already done.
    capsys.readouterr()
    assert detect([first], out, random_cnn4_model) == EXIT_OK
    assert "skipped 1 case" in capsys.readouterr().err
    assert len(list(out.glob("*.json"))) == 2 and len(csv_rows(out)) == 2


def test_a_second_run_on_a_held_folder_gets_an_error_naming_the_holder(totalseg_case, random_cnn4_model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    ready, release = tmp_path / "ready", tmp_path / "release"
    holder_code = (
        "import sys, time, pathlib\n"
        "from L3SpotterLib.app.output_folder import OutputFolderLock\n"
        "with OutputFolderLock(sys.argv[1]):\n"
        "    pathlib.Path(sys.argv[2]).touch()\n"
        "    deadline = time.time() + 120\n"
        "    while not pathlib.Path(sys.argv[3]).exists() and time.time() < deadline:\n"
        "        time.sleep(0.05)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", holder_code, str(out), str(ready), str(release), "holder-of-the-folder"])
    try:
        deadline = time.time() + 60
        while not ready.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the holding process did not start"
        capsys.readouterr()
        assert detect([totalseg_case / "ct.nii.gz"], out, random_cnn4_model) == EXIT_OUTPUT_BUSY
        error = capsys.readouterr().err
        assert "the output folder is in use by another l3spotter run" in error
        assert f"process {holder.pid} on " in error and "holder-of-the-folder" in error
        assert not list(out.glob("*.json")) and not (out / "results.csv").exists()
    finally:
        release.touch()
        holder.wait(timeout=60)
    assert detect([totalseg_case / "ct.nii.gz"], out, random_cnn4_model) == EXIT_OK
    assert len(csv_rows(out)) == 1


def test_a_replaced_input_is_detected_again(totalseg_case, random_cnn4_model, tmp_path, capsys):
    scan = tmp_path / "scans" / "ct.nii.gz"
    scan.parent.mkdir()
    shutil.copyfile(totalseg_case / "ct.nii.gz", scan)
    out = tmp_path / "out"
    assert detect([scan], out, random_cnn4_model) == EXIT_OK
    json_path = next(out.glob("*.json"))
    assert json.loads(json_path.read_text())["input_fingerprint"] == input_fingerprint(scan)

    # Another scan at the same path: the upper 60 slices only.
    sitk.WriteImage(sitk.ReadImage(str(totalseg_case / "ct.nii.gz"))[:, :, 52:], str(scan))
    capsys.readouterr()
    assert detect([scan], out, random_cnn4_model) == EXIT_OK
    assert "skipped" not in capsys.readouterr().err
    redone = json.loads(json_path.read_text())
    assert redone["n_slices"] == 60
    assert redone["input_fingerprint"] == input_fingerprint(scan)

    # Unchanged since: reused.
    assert detect([scan], out, random_cnn4_model) == EXIT_OK
    assert "skipped 1 case" in capsys.readouterr().err


def test_an_output_folder_that_is_a_file_is_refused_before_the_model_loads(totalseg_case, tmp_path, capsys):
    not_a_folder = tmp_path / "results.txt"
    not_a_folder.write_text("mine\n")
    # A missing model would give the usage exit code: the folder is checked first.
    code = detect([totalseg_case / "ct.nii.gz"], not_a_folder, tmp_path / "no_such_model.json")
    assert code == EXIT_OUTPUT_UNUSABLE
    assert f"{not_a_folder}: the output folder is an existing file, not a folder" in capsys.readouterr().err
    assert not_a_folder.read_text() == "mine\n"


def test_an_output_folder_that_cannot_be_created_is_refused(totalseg_case, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    code = detect([totalseg_case / "ct.nii.gz"], a_file / "out", tmp_path / "no_such_model.json")
    assert code == EXIT_OUTPUT_UNUSABLE
    assert f"{a_file / 'out'}: the output folder cannot be created (Not a directory)" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused(totalseg_case, tmp_path, capsys):
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        code = detect([totalseg_case / "ct.nii.gz"], read_only, tmp_path / "no_such_model.json")
    finally:
        read_only.chmod(0o755)
    assert code == EXIT_OUTPUT_UNUSABLE
    assert f"{read_only}: the output folder is not writable (Permission denied)" in capsys.readouterr().err


def test_a_failed_case_keeps_its_exit_code(tmp_path, random_cnn4_model):
    assert detect([tmp_path / "missing.nii.gz"], tmp_path / "out", random_cnn4_model) == EXIT_CASE_FAILED


def test_a_result_under_an_older_case_id_is_not_listed_twice(totalseg_case, random_cnn4_model, tmp_path):
    """A folder written before case ids carried a hash: its result for the same input is replaced in
    results.csv by this run's, not listed beside it."""
    out = tmp_path / "out"
    scan = totalseg_case / "ct.nii.gz"
    assert detect([scan], out, random_cnn4_model) == EXIT_OK
    (current,) = out.glob("*.json")
    current.rename(out / "totalseg_example_ct__ct.json")  # the id the previous version gave it
    assert detect([scan], out, random_cnn4_model) == EXIT_OK
    assert [row["input"] for row in csv_rows(out)] == [str(scan)]
