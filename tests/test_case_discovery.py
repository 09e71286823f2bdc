"""Paths given by a user become cases: folders searched through links, each input one case with a stable id."""

from __future__ import annotations

import os
import shutil

from L3SpotterLib.app.case_discovery import case_id_for, discover_cases


def test_linked_patient_folders_in_a_cohort_are_searched(tmp_path, totalseg_case):
    """A cohort folder of links to patient folders elsewhere, one of them twice, and a link loop."""
    storage = tmp_path / "storage"
    for patient in ("p1", "p2", "p3"):
        (storage / patient).mkdir(parents=True)
        shutil.copyfile(totalseg_case / "ct.nii.gz", storage / patient / "ct.nii.gz")
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copytree(storage / "p1", cohort / "p1")  # a real folder beside the links
    os.symlink(storage / "p2", cohort / "p2")
    os.symlink(storage / "p3", cohort / "p3")
    os.symlink(storage / "p3", cohort / "p3_again")  # the same patient through a second link
    os.symlink(cohort, storage / "p3" / "back_to_cohort")  # a loop

    cases = discover_cases([cohort])
    assert [case.input for case in cases] == [
        str(cohort / "p1" / "ct.nii.gz"),
        str(cohort / "p2" / "ct.nii.gz"),
        str(cohort / "p3" / "ct.nii.gz"),
    ]
    assert all(case.problem == "" for case in cases)


def test_case_ids_are_stable_and_unique_per_input(tmp_path):
    first = tmp_path / "a" / "ct.nii.gz"
    second = tmp_path / "b" / "ct.nii.gz"
    assert case_id_for(str(first)) == case_id_for(str(first))
    assert case_id_for(str(first)) != case_id_for(str(second))
    assert case_id_for(str(first)).startswith("a__ct-") and case_id_for(str(second)).startswith("b__ct-")
    # The same input given twice is one case.
    assert [case.input for case in discover_cases([first, first])] == [str(first)]
